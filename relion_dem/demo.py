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

import numpy as np

from relion_dem.core.analysis import compare_command, fsc, runinfo
from relion_dem.core.io import mrc
from relion_dem.core.io.relion import version, version_text
from relion_dem.core.io.layout import RelionRun
from relion_dem.core.simulation import recipes, simulate
from relion_dem.core.runtime import launch as refine
from relion_dem.core.enhancers import default_enhancer
from relion_dem.core.analysis import angles

DEMO_DATA = dict(box=40, voxel_size=3.0, snr=0.1, seed=7)


def pick_enhancer(requested=None, say=print):
    """The requested backend, else the default (:func:`relion_dem.core.enhancers.default_enhancer`)."""
    if requested:
        return requested
    name, why = default_enhancer()
    if why:
        say('relion_dem: %s' % why)
    return name


def truth_scores(dataset, root):
    """Map-vs-truth resolution (FSC 0.5), median angular error (°) and the fraction of particles
    within 10° of the truth."""
    info = simulate.load(dataset)
    truth, voxel = mrc.read(os.path.join(dataset, info['truth']))
    run = RelionRun(os.path.join(dataset, root))
    final, _ = mrc.read(run.final_map)
    res = fsc.resolution(fsc.fsc(final, truth), voxel, 0.5)
    d = angles.compare(os.path.join(dataset, info['truth_particles']), run.final_data)
    return res, d['angle_median_deg'], float(np.mean(np.asarray(d['angle_deg']) <= 10.0))


#: the regularized run's gate: ``stalled`` opens once RELION's global searches stall, which they
#: do on the demo's data; the default gate (local searches) would never open there
DEMO_GATE = 'stalled'


def run_pair(dataset, runs, np_procs=3, stream=None):
    """Run each (name, enhancer, settings) refinement in ``dataset``; return rows of numbers."""
    info = simulate.load(dataset)
    made_by = version_text(version('relion_refine'))      # recorded with every run
    rows = []
    for name, enhancer, settings in runs:
        root = os.path.join('Refine', name)
        log_path = os.path.join(dataset, 'Refine', name + '.log')
        os.makedirs(os.path.dirname(log_path), exist_ok=True)
        (stream or print)('running %-10s (enhancer %s), log: %s' % (name, enhancer, log_path))
        t = time.time()
        with open(log_path, 'w') as log:
            rc = refine.run(recipes.refine_args(dataset, root), dict(settings, enhancer=enhancer),
                            np_procs, log=log, cwd=dataset)
        wall = time.time() - t
        if rc != 0:
            raise RuntimeError('relion_refine failed (exit %d); see %s' % (rc, log_path))
        s = runinfo.summary(os.path.join(dataset, root))
        truth_res, ang, within = truth_scores(dataset, root)
        rows.append(dict(run=name, enhancer=enhancer, gold_res_A=round(s['final_resolution_A'], 2),
                         truth_res_A=round(truth_res, 2), truth_at_nyquist=fsc.at_nyquist(truth_res, info['voxel_size']),
                         ang_err_deg=round(ang, 2), within_10deg=round(within, 2),
                         iterations=s['iterations'], regularized_iterations=s['regularized_iterations'],
                         wall_s=round(wall, 1), enhancer_s=s['enhancer_s'], fallbacks=s['fallbacks'],
                         relion_version=made_by))
    return rows


HEAD = ('run', 'enhancer', 'gold-std res (Å)', 'map-vs-truth res (Å)', 'median ang err (°)', 'within 10°',
        'iterations', 'regularized its')


def table(rows):
    """The scores as a Markdown table (a map-vs-truth resolution at Nyquist written "≤ X (Nyquist)");
    wall times are left to :func:`timing`, since they differ between machines."""
    lines = ['| ' + ' | '.join(HEAD) + ' |', '|' + '---|' * len(HEAD)]
    for r in rows:
        truth = fsc.resolution_text(r['truth_res_A'], r['truth_at_nyquist'])
        cells = (r['run'], r['enhancer'], '%.2f' % r['gold_res_A'], truth, '%.2f' % r['ang_err_deg'],
                 '%.2f' % r['within_10deg'], r['iterations'], r['regularized_iterations'])
        lines.append('| ' + ' | '.join(str(c) for c in cells) + ' |')
    return '\n'.join(lines)


def timing(rows):
    """One line: each run's wall time and enhancer seconds."""
    return 'wall time: ' + ', '.join('%s %.0f s (enhancer %.0f s)' % (r['run'], r['wall_s'], r['enhancer_s'] or 0)
                                     for r in rows)


def denoise_plain_run(dataset, out, enhancer):
    """``relion_dem denoise`` on the plain run's half-maps (post-processing, for contrast); its lines."""
    from relion_dem.core.postprocess import denoise
    from relion_dem.core.runtime import config
    lines = []
    target = os.path.join(out, 'relion_denoised.mrc')
    run = RelionRun(os.path.join(dataset, 'Refine', 'relion'))
    half1, half2, voxel = denoise.resolve_inputs(root=run.root)
    denoise.denoise(half1, half2, target, config.validate(dict(enhancer=enhancer)), star_voxel=voxel, force=True,
                    log=lines.append)
    return [line.replace(os.path.dirname(out) + os.sep, '') for line in lines]


def write_results(path, dataset, rows, denoise_lines, enhancer):
    """The demo's results file (``benchmarks/results/demo-<structure>.md`` from ``./dev.sh demo``),
    and its JSON beside it: what README.rst quotes."""
    info = simulate.load(dataset)
    structure = os.path.basename(info['model']).split('.')[0]
    text = ['# Demo (`./dev.sh demo`), %s' % time.strftime('%Y-%m-%d'), '',
            '%s (held out from the network\'s training), %d particles, %d px at %g Å/px, SNR %g, seed %d; '
            'the same particles and RELION random seed in both runs; enhancer `%s`, gate `%s`; %d cores.'
            % (structure, info['n_particles'], info['box'], info['voxel_size'], info['snr'], info['seed'], enhancer,
               DEMO_GATE, os.cpu_count()), '',
            table(rows), '', timing(rows), '',
            '`relion_dem denoise` on the plain run\'s half-maps (post-processing, for contrast):', '',
            '```', *denoise_lines, '```', '']
    with open(path, 'w') as f:
        f.write('\n'.join(text))
    with open(os.path.splitext(path)[0] + '.json', 'w') as f:
        json.dump(dict(settings={k: info[k] for k in ('n_particles', 'box', 'voxel_size', 'snr', 'seed')},
                       structure=structure, enhancer=enhancer, gate=DEMO_GATE, runs=rows, denoise=denoise_lines),
                  f, indent=1)


def main(a):
    out = os.path.abspath(a.out)
    dataset = os.path.join(out, 'data')
    if not os.path.exists(os.path.join(dataset, 'dataset.json')):
        print('simulating %d particles from %s into %s' % (a.particles, recipes.default_structure(), dataset))
        simulate.simulate(recipes.default_structure(), dataset, n_particles=a.particles,
                          **dict(DEMO_DATA, snr=a.snr))
    enhancer = pick_enhancer(a.enhancer)
    rows = run_pair(dataset, [('relion', 'none', {}), ('dem', enhancer, dict(gate=DEMO_GATE))])
    text = table(rows)
    print('\n' + text + '\n')
    print(timing(rows))
    print('gold-std res: RELION\'s FSC 0.143 between half maps; map-vs-truth: FSC 0.5 against the '
          'simulated truth; dem: --gate %s; per-call details: relion_dem log %s'
          % (DEMO_GATE, os.path.join(dataset, 'Refine', 'dem')))
    denoise_lines = denoise_plain_run(dataset, out, enhancer)
    print('\n'.join(denoise_lines))
    with open(os.path.join(out, 'summary.md'), 'w') as f:
        f.write('# relion_dem demo\n\n' + text + '\n')
    with open(os.path.join(out, 'summary.json'), 'w') as f:
        json.dump(rows, f, indent=1)
    if getattr(a, 'results', None):
        structure = os.path.basename(recipes.default_structure()).split('.')[0]
        path = os.path.join(a.results, 'demo-%s.md' % structure)
        write_results(path, dataset, rows, denoise_lines, enhancer)
        print('results: %s' % path)
    info = simulate.load(dataset)
    folder = os.path.join(out, 'report')
    argv = [os.path.join(dataset, 'Refine', r['run']) for r in rows] + [
        '--out', folder, '--truth', os.path.join(dataset, info['truth']),
        '--model', info['model'], '--centre-model']
    print('comparing the two refinements (relion_dem compare %s)' % ' '.join(argv))
    with contextlib.redirect_stdout(io.StringIO()):
        status = compare_command.main(argv)
    if status == 0:
        print('report: %s' % os.path.join(folder, 'report.md'))
    return status
