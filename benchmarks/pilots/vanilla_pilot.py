"""Vanilla RELION alone on a few simulated data sets: does it align at all?
(benchmarks/results/pilot-alignment.md)

    python benchmarks/pilots/vanilla_pilot.py STRUCTURE SNR:PARTICLES:CONE ...   (CONE 0: uniform)

The standard scale's simulation and recipe, seed 1; data and runs in
``benchmarks/work/pilots/<structure>-snr<SNR>-n<PARTICLES>-c<CONE>``.
"""
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from relion_dem_dev.bench import arms, data  # noqa: E402
from relion_dem_dev.bench.score import Scorer, score_refinement  # noqa: E402
from relion_dem_dev.bench.settings import settings_for  # noqa: E402


def main(argv):
    structure = data.resolve_structure(argv[0])
    for spec in argv[1:]:
        snr, n, cone = spec.split(':')
        s = settings_for('standard', float(snr), float(cone) or None, int(n))
        folder = os.path.join(ROOT, 'benchmarks', 'work', 'pilots', '%s-snr%s-n%s-c%s' % (argv[0], snr, n, cone))
        d = data.main_dataset(structure, folder, s, 1)
        root, meta = arms.Session(dict(s['refine'], seed=1), 'none').vanilla(d)
        m, _ = score_refinement(Scorer(d, structure), d, root, meta, locres=False, qscore=False)
        print(spec, json.dumps({k: m[k] for k in ('gold_res_A', 'truth_res_masked_A', 'ang_err_deg', 'wall_s')}))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
