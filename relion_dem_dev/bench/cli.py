"""The paper's benchmark on simulated data: plain RELION vs RELION + SIDESPLITTER vs
regularized refinement (DEM, in the loop) vs the network as post-processing only vs the oracle
(a reconstruction at the true angles), with the paper's artifact controls.

    python -m relion_dem_dev.bench --scale ci|standard|paper --structure PATH [--cone DEG] [--snr X]
    relion_dem bench ...

All refinements run on the same simulated particles with one recipe
(:func:`relion_dem.core.simulation.recipes.refine_args`: same seed, so the same half sets, same sampling).
Every number is measured against the simulation's truth the same way for every run:

- ``gold_res_A``: FSC 0.143 (interpolated) of the run's two final half maps, unmasked;
- ``truth_res_A``: FSC 0.5 of the run's final map against the truth map, unmasked;
- ``ang_err_deg``, ``shift_err_A``: medians over particles vs the true angles and shifts
  (``relion_dem.core.analysis.angles``, C1);
- ``locres_median_A``: median of ``relion_postprocess --locres`` inside the particle sphere;
- ``qscore``: mean Q-score of the final map against the true (centred) atomic model;
- ``iterations``, ``regularized_iterations``, ``enhancer_s`` from the run log; ``wall_s``.

Controls: particles from the truth low-passed at three cutoffs (the regularized run must not
claim a finer resolution); a noise sweep down to an SNR where the gate never opens; pure-noise
particles (the regularized map's correlation with the truth beyond the initial reference's
resolution stays at chance).

Writes ``benchmarks/results/<scale>-<structure>.json`` and ``.md`` (+ PNG plots). The
``paper`` scale only writes the settings that mirror the paper (it is not run here).
"""
import argparse
import json
import os
import sys

from .data import resolve_structure, structure_id
from .report import check_shape, paper_markdown, targets, write_results
from .run import run_bench
from .settings import DEFAULT_STRUCTURES, REPO, SCALES


def main(argv=None):
    p = argparse.ArgumentParser(prog='relion_dem bench', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--scale', choices=sorted(SCALES), default='ci')
    p.add_argument('--structure', help='atomic model file or an id in shared/data/structures '
                                       '(default per scale: %s)' % DEFAULT_STRUCTURES)
    p.add_argument('--cone', type=float, help='tilt-cone half angle (°): anisotropic orientations')
    p.add_argument('--sym', help='cyclic symmetry Cn: the truth is the exact Cn assembly of the model\'s first '
                                 'chain and every arm refines with --sym Cn (default C1)')
    p.add_argument('--snr', type=float, help='SNR of the particles (default per scale)')
    p.add_argument('--particles', type=int, help='number of particles (default per scale)')
    p.add_argument('--enhancer', help='regularizer (default: network when installed, else classical)')
    p.add_argument('--out', default=os.path.join(REPO, 'benchmarks', 'results'), help='results folder')
    p.add_argument('--work', help='working folder (default benchmarks/work/<scale>-<structure>); '
                                  'finished runs found there are reused')
    p.add_argument('--no-controls', action='store_true', help='skip the controls')
    p.add_argument('--no-extra-classical', action='store_true',
                   help='do not add a classical-filter run when the network is the regularizer')
    p.add_argument('--np', type=int, default=3, help='MPI ranks of relion_refine_mpi (default 3)')
    p.add_argument('--sidesplitter', help='folder with sidesplitter and sidesplitter_wrapper.sh '
                                          '(default .tools/sidesplitter, built if missing)')
    p.add_argument('--seed', type=int, default=1, help='simulation and RELION seed (of the first repeat)')
    p.add_argument('--seeds', type=int, default=1,
                   help='repeats of the main arms with seeds SEED, SEED+1, ...: means, sd and paired '
                        'comparisons (standard scale: 3)')
    p.add_argument('--run-paper', action='store_true', help='really run the paper scale (days on 2 cores)')
    p.add_argument('--report-only', metavar='JSON', help='rewrite the .md and plots of a result JSON')
    a = p.parse_args(argv)
    if a.report_only:
        with open(a.report_only) as f:
            res = json.load(f)
        prefix = write_results(res, os.path.dirname(os.path.abspath(a.report_only)))
        print('rewrote %s.md' % prefix)
        return 0
    if a.scale == 'paper' and not a.run_paper:
        os.makedirs(a.out, exist_ok=True)
        path = os.path.join(a.out, 'paper-settings.md')
        with open(path, 'w') as f:
            f.write(paper_markdown())
        print('paper scale: settings written to %s (add --run-paper to run it)' % path)
        return 0
    from relion_dem.core.simulation.density import ModelError, read_model
    try:
        structure = resolve_structure(a.structure or DEFAULT_STRUCTURES[a.scale])
        read_model(structure)
    except (ModelError, SystemExit, ValueError, OSError) as e:
        sys.stderr.write('relion_dem bench: ERROR: %s\n' % e)
        return 2
    sid = structure_id(structure)
    work = os.path.abspath(a.work or os.path.join(REPO, 'benchmarks', 'work', '%s-%s%s%s' % (
        a.scale, sid, '-cone%g' % a.cone if a.cone else '', '-' + a.sym.upper() if a.sym else '')))
    res = run_bench(a.scale, structure, work, cone=a.cone, snr=a.snr, particles=a.particles,
                    enhancer=a.enhancer, controls=not a.no_controls, extra_classical=not a.no_extra_classical,
                    np_procs=a.np, sidesplitter=a.sidesplitter, seed=a.seed, seeds=a.seeds, sym=a.sym)
    prefix = write_results(res, a.out)
    bad = check_shape(res)
    print('results: %s.json, %s.md%s' % (prefix, prefix, '' if not bad else '\nSHAPE PROBLEMS: %s' % bad))
    for name, ok, detail in targets(res):
        print('%-4s %s: %s' % ({True: 'MET', False: 'MISS', None: 'n/a'}[ok], name, detail))
    return 0 if not bad else 1

