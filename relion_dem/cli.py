"""``relion_dem``: the command line for plain-RELION users (no Scipion needed).

    relion_dem refine [regularization options] -- <relion_refine arguments>
    relion_dem simulate MODEL OUTDIR [--snr X ...]
    relion_dem demo [--out DIR]
    relion_dem log RUN_ROOT
"""
import argparse
import json
import os
import sys

from relion_dem.core import options
from relion_dem.core.runtime import config as config_mod


def _add_regularization(p):
    g = p.add_argument_group('regularization')
    options.add_enhancer_arguments(g)
    g.add_argument('--gate', default=config_mod.DEFAULTS['gate'], choices=config_mod.GATES,
                   help='when to regularize: local_searches (once local angular searches have begun), '
                        'stalled (also once RELION\'s global searches stall), from_iteration, always, never '
                        '(default: %(default)s)')
    g.add_argument('--gate-iteration', type=int, default=1,
                   help='first iteration regularized with --gate from_iteration')
    g.add_argument('--gate-stall-iterations', type=int, default=config_mod.DEFAULTS['gate_stall_iterations'],
                   help='--gate stalled: RELION\'s count of iterations without resolution gain that opens '
                        'it in global searches (default: %(default)s)')
    g.add_argument('--local-healpix-order', type=int,
                   help='healpix order where local searches start (default: relion_refine\'s '
                        '--auto_local_healpix_order)')
    g.add_argument('--regularize-final', action='store_true',
                   help='also regularize the final, joined reconstruction (off: kept plain)')
    options.add_guard_arguments(g)
    g.add_argument('--timeout', type=float, default=config_mod.DEFAULTS['timeout_s'],
                   help='seconds before a hanging enhancer is killed (default: %(default)s)')
    g.add_argument('--device-lock', help='lock file serializing halves that share one GPU')
    g.add_argument('--keep-maps', action='store_true', help='keep plain and enhanced maps of each call')


def _settings(a):
    return dict(options.enhancer_settings(a), gate=a.gate, gate_iteration=a.gate_iteration,
                gate_stall_iterations=a.gate_stall_iterations,
                local_healpix_order=a.local_healpix_order, regularize_final=a.regularize_final,
                timeout_s=a.timeout, device_lock=a.device_lock, keep_maps=a.keep_maps,
                **options.guard_settings(a))


def cmd_refine(a):
    from relion_dem.core.runtime import launch as refine
    if a.enhancer is None:
        from relion_dem.core.enhancers import default_enhancer
        a.enhancer, why = default_enhancer()
        if why:
            print('relion_dem: %s' % why)
    try:
        argv, env, cfg = refine.prepare(a.relion_args, _settings(a), a.np)
    except (refine.RefineError, options.OptionError) as e:
        sys.stderr.write('relion_dem refine: ERROR: %s\n' % e)
        return 2
    print('relion_dem: configuration %s' % cfg)
    print('relion_dem: running %s' % ' '.join(argv))
    sys.stdout.flush()
    if a.dry_run:
        return 0
    import subprocess
    return subprocess.run(argv, env=env).returncode


def cmd_simulate(a):
    from relion_dem.core.simulation import simulate
    from relion_dem.core.simulation.density import ModelError
    try:
        info = simulate.simulate(a.model, a.outdir, box=a.box, voxel_size=a.voxel_size,
                                 n_particles=a.n, snr=a.snr, seed=a.seed, cone_deg=a.cone,
                                 lowpass_A=a.lowpass, pure_noise=a.pure_noise)
    except (ModelError, OSError) as e:
        sys.stderr.write('relion_dem simulate: ERROR: %s\n' % e)
        return 2
    print(json.dumps(info, indent=1))
    return 0


def cmd_log(a):
    from relion_dem.core.analysis import figures, runinfo
    from relion_dem.core.io.layout import RelionRun
    from relion_dem.core.runtime import runlog
    try:
        why = RelionRun(a.root).problem()
        if why:
            raise ValueError(why)
        log = a.log or RelionRun(a.root).log
        if a.log and not os.path.isfile(a.log):
            raise ValueError('--log %s: %s' % (a.log, 'not a file' if os.path.exists(a.log) else 'does not exist'))
        try:
            records = runlog.read(log)
        except UnicodeDecodeError:
            records = None
        if not records and os.path.isfile(log) and os.path.getsize(log):
            raise ValueError('%s: not a relion_dem run log (no JSON record on any line)' % log)
        records = records or []
        table = figures.run_log_table(records, reason=True)
        info = runinfo.summary(a.root, a.log)
    except (ValueError, OSError) as e:       # StarError is a ValueError and names its file
        sys.stderr.write('relion_dem log: ERROR: %s\n' % e)
        return 2
    if not os.path.exists(log):
        sys.stderr.write('relion_dem log: %s: no run log (%s): a run without relion_dem?\n' % (a.root, log))
    print('\n'.join(table))
    print(json.dumps(info, indent=1))
    return 0


def cmd_demo(a):
    from relion_dem import demo
    return demo.main(a)


#: subcommands implemented in their own modules: name -> (module, help). Each module has
#: ``main(argv) -> exit status`` with its own argparse; ``relion_dem NAME --help`` shows it.
DELEGATED = {
    'compare': ('relion_dem.core.analysis.compare_command',
                'compare refinements: FSC, local resolution, angles, report'),
    'denoise': ('relion_dem.core.postprocess.denoise', 'denoise a refinement\'s half-maps once (post-processing), '
                                                      'with the guards and a provenance map'),
    'install-network': ('relion_dem.core.network.install', 'create the environment of the bundled network'),
    'doctor': ('relion_dem.core.doctor', 'check RELION, MPI, network and deepEMhancer set-up'),
    'bench': ('relion_dem_dev.bench', 'paper benchmark on simulated data (RELION vs SIDESPLITTER vs DEM)'),
}


def build_parser():
    p = argparse.ArgumentParser(prog='relion_dem', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest='command', required=True)

    r = sub.add_parser('refine', help='run relion_refine (MPI) with in-loop regularization',
                       description='Run a regularized RELION 3D auto-refine: writes '
                                   '<o>_relion_dem.json, sets RELION_EXTERNAL_RECONSTRUCT_EXECUTABLE, '
                                   'adds --external_reconstruct and launches mpirun -np N relion_refine_mpi. '
                                   'Example: relion_dem refine --enhancer classical -- --i particles.star '
                                   '--ref ref.mrc --o Refine/run --auto_refine --split_random_halves ...')
    r.add_argument('--np', type=int, default=3, help='MPI processes (>= 3; default %(default)s)')
    r.add_argument('--dry-run', action='store_true', help='write the configuration, print the command, do not run')
    _add_regularization(r)
    r.add_argument('relion_args', nargs=argparse.REMAINDER, help='-- then relion_refine arguments')
    r.set_defaults(func=cmd_refine)

    s = sub.add_parser('simulate', help='simulate particles from an atomic model (truth known)')
    s.add_argument('model', help='atomic model: pdb, pdb.gz, pdb.bz2 or cif')
    s.add_argument('outdir')
    s.add_argument('--box', type=int, default=48)
    s.add_argument('--voxel-size', type=float, default=3.0)
    s.add_argument('-n', type=int, default=1000, help='number of particles')
    s.add_argument('--snr', type=float, default=0.1)
    s.add_argument('--seed', type=int, default=1)
    s.add_argument('--cone', type=float, help='tilt-cone half angle (deg): anisotropic orientations')
    s.add_argument('--lowpass', type=float, help='make particles from the truth low-passed at this Å')
    s.add_argument('--pure-noise', action='store_true', help='particles of pure noise (control)')
    s.set_defaults(func=cmd_simulate)

    d = sub.add_parser('demo', help='simulate data and run plain RELION and regularized refinements side by side')
    d.add_argument('--out', default='demo_out', help='output folder (default %(default)s)')
    d.add_argument('--enhancer', help='enhancer of the regularized run (default: network if installed, '
                                      'else classical)')
    d.add_argument('--particles', type=int, default=600)
    d.add_argument('--snr', type=float, default=0.1,
                   help='SNR of the particles (default %(default)s: RELION alone stalls in global searches)')
    d.add_argument('--results', help='also write demo-<structure>.md/.json into this folder '
                                     '(./dev.sh demo: benchmarks/results, which README.rst quotes)')
    d.set_defaults(func=cmd_demo)

    lg = sub.add_parser('log', help='per-call table and summary of a run from its run log')
    lg.add_argument('root', help='run root, e.g. Refine/run')
    lg.add_argument('--log', help='run log (default <root>_relion_dem.jsonl)')
    lg.set_defaults(func=cmd_log)
    for name, (module, text) in DELEGATED.items():
        sub.add_parser(name, help=text, add_help=False)
    return p


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in DELEGATED:
        from importlib import import_module
        module = DELEGATED[argv[0]][0]
        try:
            mod = import_module(module)
        except ImportError as e:
            hint = (': the benchmark runs from a checkout of relion_dem (./dev.sh bench ...)'
                    if module.startswith('relion_dem_dev') else '')
            sys.stderr.write('relion_dem %s: not available in this installation (%s)%s\n' % (argv[0], e, hint))
            return 2
        return mod.main(argv[1:])
    a = build_parser().parse_args(argv)
    return a.func(a)


if __name__ == '__main__':
    sys.exit(main())
