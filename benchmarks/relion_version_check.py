"""The demo on another RELION, and whether the plain path equals vanilla RELION there.

    RELION_HOME=/opt/relion-5.0 .venv/bin/python benchmarks/relion_version_check.py DEMO_OUT

``DEMO_OUT`` is a finished ``relion_dem demo --out DEMO_OUT`` made with the same RELION_HOME.
A vanilla ``relion_refine_mpi`` (no external reconstruction) runs on the demo's particles with
the demo's recipe and random seed; its first iteration's half-map is compared with iteration 1
of the runtime's unregularized path (enhancer ``none``) as shipped (``--skip_gridding`` on
RELION >= 4, no prior below ``--minres_map``), with the prior at every shell (``minres_map`` 0,
as relion_external_reconstruct alone does), and with gridding as well.
Writes ``benchmarks/results/relion<major>-demo.{md,json}``.
"""
import glob
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import numpy as np  # noqa: E402

from relion_dem.core.analysis.fsc import fsc  # noqa: E402
from relion_dem.core.io import mrc  # noqa: E402
from relion_dem.core.io.layout import RelionRun  # noqa: E402
from relion_dem.core.io.relion import find_program, mpi_environment, version, version_text  # noqa: E402
from relion_dem.core.simulation import recipes  # noqa: E402


def compare(a, b):
    """Largest difference relative to the map's range, and the lowest FSC over the shells."""
    return dict(max_rel_diff=float(np.abs(a - b).max() / (np.ptp(b) or 1.0)),
                min_fsc=float(np.min(fsc(a, b)[1:])))


def first_iteration(dataset, name, **settings):
    """Iteration 1 of the ``none`` control with these runtime ``settings`` over the launch plan's
    (``skip_gridding``, ``minres_map``): launched as relion_dem refine does, stopped after it."""
    from relion_dem.core.runtime import config as config_mod, launch
    run = RelionRun(os.path.join(dataset, 'Refine', name))
    for old in glob.glob(run.root + '_*'):       # made by an earlier runtime, maybe
        os.remove(old)
    argv, env, cfg_path = launch.prepare(recipes.refine_args(dataset, os.path.join('Refine', name)),
                                         {'enhancer': 'none'}, 3, cwd=dataset)
    cfg = config_mod.load(cfg_path)
    cfg.update(settings)
    config_mod.write(cfg_path, cfg)
    with open(os.path.join(dataset, 'Refine', name + '.log'), 'w') as log:
        proc = subprocess.Popen(argv, cwd=dataset, env=env, stdout=log, stderr=subprocess.STDOUT)
        while proc.poll() is None and not os.path.exists(run.iteration_path(1, '_sampling.star')):
            time.sleep(2)
        proc.terminate()
        proc.wait()
    return mrc.read(run.iteration_path(1, '_half1_class001.mrc'))[0]


def main(argv=None):
    out = os.path.abspath((argv or sys.argv[1:])[0])
    dataset = os.path.join(out, 'data')
    v = version('relion_refine')
    this = version_text(v)
    rows = json.load(open(os.path.join(out, 'summary.json')))
    demo_by = {r.get('relion_version') for r in rows}
    if demo_by != {this}:
        raise SystemExit('relion_version_check: %s: the demo ran on RELION %s, this is RELION %s: run '
                         '`relion_dem demo --out %s` with this RELION_HOME first'
                         % (os.path.join(out, 'summary.json'), ', '.join(sorted(str(x) for x in demo_by)),
                            this, out))
    vanilla = RelionRun(os.path.join(dataset, 'Refine', 'vanilla'))
    made_by = os.path.join(dataset, 'Refine', 'vanilla_relion_version.txt')
    if os.path.exists(vanilla.half_map(1)):
        # a vanilla run is reused only when the same RELION made it (recorded beside it)
        recorded = open(made_by).read().strip() if os.path.exists(made_by) else None
        if recorded != this:
            raise SystemExit('relion_version_check: %s was made by RELION %s, this is RELION %s: remove '
                             '%s to remake it' % (vanilla.root, recorded or '(not recorded)', this,
                                                  os.path.join(dataset, 'Refine', 'vanilla*')))
    if not os.path.exists(vanilla.half_map(1)):
        args = recipes.refine_args(dataset, os.path.join('Refine', 'vanilla'))
        t = time.time()
        with open(os.path.join(dataset, 'Refine', 'vanilla.log'), 'w') as log:
            subprocess.run(['mpirun', '-np', '3', find_program('relion_refine_mpi')] + args, cwd=dataset,
                           env=mpi_environment(), stdout=log, stderr=subprocess.STDOUT, check=True)
        vanilla_wall = round(time.time() - t, 1)
        with open(made_by, 'w') as f:
            f.write(this + '\n')
    else:
        vanilla_wall = None
    it1_vanilla = mrc.read(vanilla.iteration_path(1, '_half1_class001.mrc'))[0]
    checks = dict(none_control_vs_vanilla=compare(first_iteration(dataset, 'plain_now'), it1_vanilla),
                  none_control_prior_every_shell_vs_vanilla=compare(
                      first_iteration(dataset, 'prior_every_shell', minres_map=0), it1_vanilla),
                  none_control_gridding_vs_vanilla=compare(
                      first_iteration(dataset, 'gridding_prior_every_shell', minres_map=0, skip_gridding=False),
                      it1_vanilla))
    from relion_dem.core.analysis import runinfo
    result = dict(relion_version=this, relion_home=os.environ.get('RELION_HOME'),
                  demo=rows, vanilla_final_resolution_A=runinfo.final_resolution(vanilla.root),
                  vanilla_wall_s=vanilla_wall, iteration1_half1=checks)
    name = os.path.join(HERE, 'results', 'relion%d-demo' % v[0])
    with open(name + '.json', 'w') as f:
        json.dump(result, f, indent=1)
    from relion_dem.demo import table
    L = ['# The demo on RELION %s' % result['relion_version'], '',
         'Built CPU-only from the 3dem/relion source (tag %s) with `scripts/build-relion.sh`; the same '
         'simulated particles, recipe and seed as `./dev.sh demo` (RELION 3.1.3, README), run by '
         '`RELION_HOME=%s relion_dem demo` and `benchmarks/relion_version_check.py`. Single runs, 2 cores, '
         'shared with other work (wall times only indicative).' % (result['relion_version'], result['relion_home']),
         '', table(rows), '',
         'The demo\'s runs above were made on %s (its `summary.json`); the comparison below runs the '
         'runtime as it is now.' % time.strftime('%Y-%m-%d', time.localtime(
             os.path.getmtime(os.path.join(out, 'summary.json')))), '',
         '## Is the plain path vanilla RELION?', '',
         'Iteration 1, half 1 (same particles, same seed, same reference: the maps RELION reconstructs '
         'from identical sums):', '',
         '| map | vs vanilla relion_refine_mpi: max \\|diff\\| / range | lowest shell FSC |', '|---|---|---|']
    for key, label in (('none_control_vs_vanilla', 'relion_dem_extrec, enhancer none, as shipped '
                                                   '(`--skip_gridding`, the default on RELION >= 4; no prior '
                                                   'below `--minres_map`)'),
                       ('none_control_prior_every_shell_vs_vanilla', 'the same with the prior at every shell '
                                                                     '(as relion_external_reconstruct alone)'),
                       ('none_control_gridding_vs_vanilla', 'the same with gridding as well (the runtime '
                                                            'before RELION 4 support)')):
        c = checks[key]
        L.append('| %s | %.2e | %.5f |' % (label, c['max_rel_diff'], c['min_fsc']))
    L += ['', 'Vanilla RELION\'s final gold-standard resolution: %.2f Å.' % result['vanilla_final_resolution_A']]
    with open(name + '.md', 'w') as f:
        f.write('\n'.join(L) + '\n')
    print('\n'.join(L))
    return 0


if __name__ == '__main__':
    sys.exit(main())
