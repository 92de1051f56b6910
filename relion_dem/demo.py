"""The demo: simulated particles, plain RELION vs regularized (DEM) refinement, side by side.

Particles are simulated from the small atomic model shipped in the package, then the same
gold-standard auto-refine runs twice on them: without regularization and with it. The table
shows what a user would look at, scored against the known truth; ``relion_dem compare``'s
report (FSC, local resolution, angles, Q-score, per-iteration view, with figures) follows.
"""
import contextlib
import io
import json
import os
import time

from relion_dem.core.analysis import fsc, report, runinfo
from relion_dem.core.io import mrc
from relion_dem.core.io.layout import RelionRun
from relion_dem.core.simulation import recipes, simulate
from relion_dem.core.runtime import launch as refine
from relion_dem.core.enhancers import default_enhancer
from relion_dem.core.analysis import angles

DEMO_DATA = dict(box=40, voxel_size=3.0, snr=0.3, seed=7)


def pick_enhancer(requested=None, say=print):
    """The requested backend, else the default (:func:`relion_dem.core.enhancers.default_enhancer`)."""
    if requested:
        return requested
    name, why = default_enhancer()
    if why:
        say('relion_dem: %s' % why)
    return name


def truth_scores(dataset, root):
    """Map-vs-truth resolution (FSC 0.5) and median angular error (deg) against the simulation."""
    info = simulate.load(dataset)
    truth, voxel = mrc.read(os.path.join(dataset, info['truth']))
    run = RelionRun(os.path.join(dataset, root))
    final, _ = mrc.read(run.final_map)
    res = fsc.resolution(fsc.fsc(final, truth), voxel, 0.5)
    d = angles.compare(os.path.join(dataset, info['truth_particles']), run.final_data)
    return res, d['angle_median_deg']


def run_pair(dataset, runs, np_procs=3, stream=None):
    """Run each (name, enhancer) refinement in ``dataset``; return rows of numbers."""
    rows = []
    for name, enhancer in runs:
        root = os.path.join('Refine', name)
        log_path = os.path.join(dataset, 'Refine', name + '.log')
        os.makedirs(os.path.dirname(log_path), exist_ok=True)
        (stream or print)('running %-10s (enhancer %s), log: %s' % (name, enhancer, log_path))
        t = time.time()
        with open(log_path, 'w') as log:
            rc = refine.run(recipes.refine_args(dataset, root), {'enhancer': enhancer},
                            np_procs, log=log, cwd=dataset)
        wall = time.time() - t
        if rc != 0:
            raise RuntimeError('relion_refine failed (exit %d); see %s' % (rc, log_path))
        s = runinfo.summary(os.path.join(dataset, root))
        truth_res, ang = truth_scores(dataset, root)
        rows.append(dict(run=name, enhancer=enhancer, gold_res_A=round(s['final_resolution_A'], 2),
                         truth_res_A=round(truth_res, 2), ang_err_deg=round(ang, 2),
                         iterations=s['iterations'], regularized_iterations=s['regularized_iterations'],
                         wall_s=round(wall, 1), enhancer_s=s['enhancer_s'], fallbacks=s['fallbacks']))
    return rows


def table(rows):
    head = ('run', 'enhancer', 'gold-std res (Å)', 'map-vs-truth res (Å)', 'median ang err (°)',
            'iterations', 'regularized its', 'wall (s)', 'enhancer (s)')
    keys = ('run', 'enhancer', 'gold_res_A', 'truth_res_A', 'ang_err_deg', 'iterations',
            'regularized_iterations', 'wall_s', 'enhancer_s')
    lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for r in rows:
        lines.append('| ' + ' | '.join(str(r[k]) for k in keys) + ' |')
    return '\n'.join(lines)


def main(a):
    out = os.path.abspath(a.out)
    dataset = os.path.join(out, 'data')
    if not os.path.exists(os.path.join(dataset, 'dataset.json')):
        print('simulating %d particles from %s into %s' % (a.particles, recipes.default_structure(), dataset))
        simulate.simulate(recipes.default_structure(), dataset, n_particles=a.particles,
                          **dict(DEMO_DATA, snr=a.snr))
    enhancer = pick_enhancer(a.enhancer)
    rows = run_pair(dataset, [('relion', 'none'), ('dem', enhancer)])
    text = table(rows)
    print('\n' + text + '\n')
    print('gold-std res: RELION\'s FSC 0.143 between half maps; map-vs-truth: FSC 0.5 against the '
          'simulated truth; per-call details: relion_dem log %s' % os.path.join(dataset, 'Refine', 'dem'))
    with open(os.path.join(out, 'summary.md'), 'w') as f:
        f.write('# relion_dem demo\n\n' + text + '\n')
    with open(os.path.join(out, 'summary.json'), 'w') as f:
        json.dump(rows, f, indent=1)
    info = simulate.load(dataset)
    folder = os.path.join(out, 'report')
    argv = [os.path.join(dataset, 'Refine', r['run']) for r in rows] + [
        '--out', folder, '--truth', os.path.join(dataset, info['truth']),
        '--model', info['model'], '--centre-model']
    print('comparing the two refinements (relion_dem compare %s)' % ' '.join(argv))
    with contextlib.redirect_stdout(io.StringIO()):
        status = report.main(argv)
    if status == 0:
        print('report: %s' % os.path.join(folder, 'report.md'))
    return status
