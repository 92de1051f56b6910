"""Launch a regularized RELION auto-refine from the command line (no Scipion needed).

Writes the runtime configuration beside the run, points
``RELION_EXTERNAL_RECONSTRUCT_EXECUTABLE`` at ``relion_dem_extrec``, adds
``--external_reconstruct`` and runs ``mpirun -np N relion_refine_mpi ARGS``.
"""
import os
import re
import shlex
import shutil
import subprocess
import sys

from relion_dem.core.runtime import config as config_mod
from relion_dem.core.io import star
from relion_dem.core.enhancers import EnhancerError, create as create_enhancer
from relion_dem.core.io.relion import RelionError, find_program, mpi_environment, version

MIN_RELION = (3, 1)


class RefineError(ValueError):
    """The refinement cannot be launched as asked."""


def option_value(args, name):
    """Value following ``name`` in a relion_refine argument list (last one wins), or None."""
    value = None
    for i, a in enumerate(args):
        if a == name and i + 1 < len(args):
            value = args[i + 1]
    return value


def extrec_executable():
    """Absolute path of ``relion_dem_extrec``: next to this Python, else on PATH, else a launcher."""
    here = os.path.join(os.path.dirname(sys.executable), 'relion_dem_extrec')
    if os.access(here, os.X_OK):
        return here
    found = shutil.which('relion_dem_extrec')
    if found:
        return os.path.abspath(found)
    raise RefineError('relion_dem_extrec not found: install the package (pip install .) '
                      'into the Python that runs relion_dem')


def prepare(relion_args, settings, np_procs=3, cwd=None):
    """Check everything and write the configuration; return (argv, env, config path).

    ``settings`` are configuration keys (see relion_dem.core.runtime.config.DEFAULTS); relative
    paths in ``relion_args`` are taken from ``cwd`` (default: the current folder), where
    relion_refine will run.
    """
    base = os.path.abspath(cwd or os.getcwd())

    def here(path):
        return os.path.join(base, path)

    args = list(relion_args)
    if args and args[0] == '--':
        args = args[1:]
    out = option_value(args, '--o')
    if not out:
        raise RefineError('relion_refine arguments need --o OUTPUT_ROOT')
    continued = option_value(args, '--continue')
    if continued and os.path.exists(here(continued)):
        try:
            general = star.block(star.read(here(continued)), 'optimiser_general')
            auto = general.get('_rlnDoAutoRefine', int, 0) and general.get('_rlnDoSplitRandomHalves', int, 0)
        except (star.StarError, ValueError) as e:
            raise RefineError(str(e))
        if not auto:
            raise RefineError('--continue %s: not a gold-standard auto-refine run' % continued)
    elif not continued:
        if '--auto_refine' not in args:
            raise RefineError('relion_dem regularizes 3D auto-refine: add --auto_refine '
                              '(and --split_random_halves)')
        if '--split_random_halves' not in args:
            raise RefineError('gold-standard refinement needs --split_random_halves')
    for name in ('--i', '--ref', '--continue'):
        path = option_value(args, name)
        if path and not os.path.exists(here(path)):
            raise RefineError('%s %s: file does not exist' % (name, path))
    if np_procs < 3:
        raise RefineError('auto-refine with two half sets needs at least 3 MPI processes (--np 3)')
    try:
        program = find_program('relion_refine_mpi')
    except RelionError as e:
        raise RefineError(str(e))
    v = version('relion_refine_mpi')
    if v is not None and v[:2] < MIN_RELION:
        raise RefineError('RELION %s found (%s); --external_reconstruct needs RELION >= 3.1'
                          % ('.'.join(map(str, v)), program))
    settings = dict(settings)
    local = option_value(args, '--auto_local_healpix_order')
    if continued:
        m = re.match(r'^(.*)_it\d{3,}_optimiser\.star$', continued)
        if not m:
            raise RefineError('--continue %s: expected <root>_itNNN_optimiser.star' % continued)
        # a continued run appends to the log of the run it continues
        if not settings.get('log'):
            settings['log'] = here(m.group(1) + '_relion_dem.jsonl')
        if local is None:
            try:
                general = star.block(star.read(here(continued)), 'optimiser_general')
                local = general.get('_rlnAutoLocalSearchesHealpixOrder')
            except star.StarError as e:
                raise RefineError(str(e))
    if settings.get('local_healpix_order') is None:
        settings['local_healpix_order'] = int(local) if local else 4
    os.makedirs(os.path.dirname(here(out)), exist_ok=True)
    cfg_path = here(out + '_relion_dem.json')
    if not settings.get('log'):
        settings['log'] = here(out + '_relion_dem.jsonl')
    try:
        cfg = config_mod.validate(settings, cfg_path)
        create_enhancer(cfg).check()
    except (config_mod.ConfigError, EnhancerError) as e:
        raise RefineError(str(e))
    config_mod.write(cfg_path, cfg)
    if '--external_reconstruct' not in args:
        args.append('--external_reconstruct')
    env = mpi_environment()
    env['RELION_EXTERNAL_RECONSTRUCT_EXECUTABLE'] = extrec_executable()
    env[config_mod.ENV_VAR] = cfg_path
    mpirun = shlex.split(env.get('RELION_DEM_MPIRUN', 'mpirun'))
    argv = mpirun + ['-np', str(np_procs), program] + args
    return argv, env, cfg_path


def run(relion_args, settings, np_procs=3, log=None, cwd=None):
    """Prepare and run; return relion_refine's exit status."""
    argv, env, _ = prepare(relion_args, settings, np_procs, cwd)
    proc = subprocess.run(argv, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT if log else None)
    return proc.returncode
