"""How a regularized RELION auto-refine is launched: one plan for the command line and Scipion.

:func:`plan` turns relion_refine arguments and the regularization settings into what the
run needs: the checked configuration (written beside the run as ``<o>_relion_dem.json``),
the arguments to add (``--external_reconstruct`` unless a continued run already has it),
and the variables to set (``RELION_EXTERNAL_RECONSTRUCT_EXECUTABLE``, ``RELION_DEM_CONFIG``).
``relion_dem refine`` (:func:`prepare`) and the Scipion protocol both build their launch
from it, so a new run and a ``--continue`` run are launched the same way by either.
"""
import collections
import os
import shlex
import shutil
import subprocess
import sys

from relion_dem.core.runtime import config as config_mod
from relion_dem.core.io import layout, star
from relion_dem.core.enhancers import EnhancerError, create as create_enhancer
from relion_dem.core.io.relion import RelionError, find_program, mpi_environment, version, version_text

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


Plan = collections.namedtuple('Plan', 'config config_path extra_args env skip_gridding')
Plan.__doc__ = """A launch plan: the complete configuration and where it goes, the relion_refine
arguments to append, the environment variables to set, and whether the runtime asks
``relion_external_reconstruct`` to skip gridding (RELION >= 4, as its own reconstruction)."""


def needs_external_flag(args, optimiser=None, relion_version=None):
    """False when ``args`` already ask for external reconstruction, or continue a run whose
    optimiser STAR (``optimiser``: its ``optimiser_general`` block) has it on and RELION keeps it
    from there (3.1 to 4.0.1; they warn about the flag). From 4.0.2 (3dem/relion commit
    ed4c13cf) RELION resets it on ``--continue`` unless the flag is given again; a version
    without its patch level counts as 4.0.2 (the flag is harmless where it is kept)."""
    if '--external_reconstruct' in args:
        return False
    if option_value(args, '--continue') is None:
        return True
    if relion_version is not None:
        v = tuple(relion_version)[:3]
        if v + (99,) * (3 - len(v)) >= (4, 0, 2):
            return True
    return optimiser is None or optimiser.get('_rlnDoExternalReconstruct', int, 0) != 1


def plan(relion_args, settings, cwd=None, relion_version=None):
    """Check ``relion_args`` (a relion_refine argument list) and ``settings`` (configuration keys,
    see :data:`relion_dem.core.runtime.config.DEFAULTS`); return a :class:`Plan`.

    Relative paths are taken from ``cwd`` (default: the current folder), where relion_refine
    will run. ``relion_version`` (a tuple) defaults to the installed relion_refine's.
    RefineError says what is wrong; nothing is written.
    """
    base = os.path.abspath(cwd or os.getcwd())

    def here(path):
        return os.path.join(base, path)

    args = list(relion_args)
    out = option_value(args, '--o')
    if not out:
        raise RefineError('relion_refine arguments need --o OUTPUT_ROOT')
    if '--blush' in args:
        raise RefineError('--blush: RELION 5 then runs Blush in place of the external reconstruction, '
                          'so relion_dem would never be called; remove --blush (relion_dem regularizes '
                          'each half itself, with the same FSC guard as Blush)')
    continued = option_value(args, '--continue')
    general = None
    if continued and os.path.exists(here(continued)):
        if os.path.isdir(here(continued)):
            raise RefineError('--continue %s: a folder, not an optimiser STAR (<root>_itNNN_optimiser.star)'
                              % continued)
        try:
            root, iteration = layout.continued_root(continued)
            general = star.block(star.read(here(continued)), 'optimiser_general')
            auto = general.get('_rlnDoAutoRefine', int, 0) and general.get('_rlnDoSplitRandomHalves', int, 0)
        except (star.StarError, ValueError) as e:
            raise RefineError('--continue %s' % e)
        if not auto:
            raise RefineError('--continue %s: not a gold-standard auto-refine run' % continued)
        why = layout.RelionRun(here(root) if cwd else root).problem(iteration)   # names paths as given
        if why:
            raise RefineError('--continue %s: %s' % (continued, why))
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
    v = relion_version if relion_version is not None else version('relion_refine')
    if v is not None and v[:2] < MIN_RELION:
        raise RefineError('RELION %s found; --external_reconstruct needs RELION >= 3.1'
                          % version_text(v))
    settings = dict(settings)
    if settings.get('local_healpix_order') is None:
        local = option_value(args, '--auto_local_healpix_order')
        if local is None and general is not None:
            local = general.get('_rlnAutoLocalSearchesHealpixOrder', int, -1)
            local = None if local < 0 else local
        settings['local_healpix_order'] = int(local) if local is not None else 4
    run = layout.RelionRun(here(out))
    if not settings.get('log'):
        settings['log'] = run.log
    skip = bool(v is not None and v[:2] >= (4, 0) and '--dont_skip_gridding' not in args)
    settings['skip_gridding'] = skip
    minres = option_value(args, '--minres_map')
    if minres is not None:
        try:
            settings['minres_map'] = max(0, int(minres))     # RELION reads any negative shell as 0
        except ValueError:
            raise RefineError('--minres_map %s: not an integer (a Fourier shell)' % minres)
    try:
        cfg = config_mod.validate(settings, run.config)
        create_enhancer(cfg).check()
    except (config_mod.ConfigError, EnhancerError) as e:
        raise RefineError(str(e))
    env = {'RELION_EXTERNAL_RECONSTRUCT_EXECUTABLE': extrec_executable(),
           config_mod.ENV_VAR: run.config}
    extra = ['--external_reconstruct'] if needs_external_flag(args, general, v) else []
    return Plan(cfg, run.config, extra, env, skip)


def prepare(relion_args, settings, np_procs=3, cwd=None):
    """The command line's launch: :func:`plan`, the configuration written, and the mpirun
    command; returns (argv, env, configuration path)."""
    args = list(relion_args)
    if args and args[0] == '--':
        args = args[1:]
    if np_procs < 3:
        raise RefineError('auto-refine with two half sets needs at least 3 MPI processes (--np 3)')
    p = plan(args, settings, cwd)     # first: a wrong path is named even where RELION is missing
    try:
        program = find_program('relion_refine_mpi')
    except RelionError as e:
        raise RefineError(str(e))
    os.makedirs(os.path.dirname(p.config_path), exist_ok=True)
    config_mod.write(p.config_path, p.config)
    env = mpi_environment()
    env.update(p.env)
    mpirun = shlex.split(env.get('RELION_DEM_MPIRUN', 'mpirun'))
    return mpirun + ['-np', str(np_procs), program] + args + p.extra_args, env, p.config_path


def run(relion_args, settings, np_procs=3, log=None, cwd=None):
    """Prepare and run; return relion_refine's exit status."""
    argv, env, _ = prepare(relion_args, settings, np_procs, cwd)
    proc = subprocess.run(argv, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT if log else None)
    return proc.returncode
