"""``relion_dem compare``: did regularization help? A Markdown + PNG report, no Scipion.

    relion_dem compare RUN [RUN ...] [--label NAME ...] [--model PDB [--centre-model]]
                       [--truth MAP] [--truth-particles STAR] [--mask MAP] [--sym SYM]
                       --out DIR

Each RUN is a run root (``Refine/run``) or a folder holding one (``Refine/``). For each
finished run it reads the unfiltered half maps ``<root>_half{1,2}_class001_unfil.mrc``,
the particles ``<root>_data.star``, the per-iteration STARs and the run log, and
computes (``relion_dem.core.analysis.comparison``):

* gold-standard FSC with one common mask, corrected by phase randomization, resolution
  at 0.143, and RELION's own number from ``relion_postprocess`` on the same maps;
* local resolution (``relion_postprocess --locres``): median and histogram in the mask;
* with ``--truth``: FSC of each full map against the truth, resolution at 0.5;
* angular and shift differences per particle, against the first run and, with
  ``--truth-particles`` (found beside ``--truth`` when simulated), against the truth;
* with ``--model``: map-model FSC (0.5), Q-score and FSC-Q per atom;
* the per-iteration view (resolution, healpix order, regularized iterations, enhancer s).

Writes ``DIR/report.md``, ``DIR/metrics.json`` and ``DIR/*.png``. Missing or corrupt
inputs stop it with a message naming the file and exit status 2.
"""
import argparse
import os
import sys

from relion_dem.core.simulation import density
from relion_dem.core.io import mrc, star
from relion_dem.core.io.relion import RelionError
from relion_dem.core.analysis import comparison, report


def build_parser():
    p = argparse.ArgumentParser(prog='relion_dem compare', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('runs', nargs='+', metavar='RUN', help='run root (Refine/run) or its folder')
    p.add_argument('--label', action='append', default=[], help='name of each run, in order (repeatable)')
    p.add_argument('--out', required=True, help='output folder of the report')
    p.add_argument('--mask', help='soft mask (values 0..1) for FSC and local resolution '
                                  '(default: made from the truth, or the first run)')
    p.add_argument('--truth', help='ground-truth map (simulated data)')
    p.add_argument('--truth-particles', help='ground-truth particle STAR (default: truth_particles.star '
                                             'beside --truth, if there)')
    p.add_argument('--model', help='atomic model (pdb, cif, gz): map-model FSC, Q-score, FSC-Q')
    p.add_argument('--centre-model', action='store_true',
                   help='centre the model as relion_dem simulate did (model used to simulate the data)')
    p.add_argument('--sym', help='point group for angular differences (default: each run\'s own)')
    p.add_argument('--no-locres', action='store_true', help='skip relion_postprocess --locres')
    p.add_argument('--no-relion-check', action='store_true',
                   help='skip relion_postprocess on the half maps (RELION\'s own FSC)')
    p.add_argument('--fscq-step', type=int, default=2, help='FSC-Q sliding-window step, voxels (default 2)')
    p.add_argument('--seed', type=int, default=0, help='seed of the phase randomization')
    return p


def main(argv=None):
    a = build_parser().parse_args(argv)
    try:
        runs = []
        for i, spec in enumerate(a.runs):
            runs.append(comparison.Run(spec, a.label[i] if i < len(a.label) else None))
        comparison.unique_labels(runs)
        truth_particles = a.truth_particles
        if truth_particles and not os.path.exists(truth_particles):
            raise comparison.ReportError('%s: truth particle STAR does not exist' % truth_particles)
        if not truth_particles and a.truth:
            cand = os.path.join(os.path.dirname(os.path.abspath(a.truth)), 'truth_particles.star')
            truth_particles = cand if os.path.exists(cand) else None
        for p, what in ((a.mask, 'mask'), (a.truth, 'truth map'), (a.model, 'atomic model')):
            if p and not os.path.exists(p):
                raise comparison.ReportError('%s: %s does not exist' % (p, what))
        os.makedirs(a.out, exist_ok=True)
        result, arrays = comparison.compute(runs, a.out, mask_path=a.mask, truth_path=a.truth,
                                            truth_particles=truth_particles, model=a.model,
                                            centre_model=a.centre_model, sym=a.sym, locres=not a.no_locres,
                                            relion_check=not a.no_relion_check, fscq_step=a.fscq_step,
                                            seed=a.seed)
        path, made = report.write(result, arrays, a.out)
    except (comparison.ReportError, mrc.MapError, star.StarError, density.ModelError, RelionError,
            ValueError, OSError) as e:
        sys.stderr.write('relion_dem compare: ERROR: %s\n' % e)
        return 2
    print('relion_dem compare: report %s (%d figures)' % (path, len(made)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
