"""``relion_dem doctor``: check the set-up and say what to fix, with the command that fixes it."""
import argparse
import functools
import os
import shutil
import subprocess
import sys

from relion_dem.core.io import relion


def _check_relion():
    try:
        path = relion.find_program('relion_refine_mpi')
    except relion.RelionError as e:
        return False, str(e), 'apt-get install relion   (or set RELION_HOME)'
    v = relion.version('relion_refine_mpi')
    if v is None:
        return False, '%s does not report a version' % path, 'reinstall RELION >= 3.1'
    if v[:2] < (3, 1):
        return False, 'RELION %s at %s: --external_reconstruct needs >= 3.1' % (relion.version_text(v), path), \
            'install RELION >= 3.1 and set RELION_HOME'
    for prog in ('relion_external_reconstruct', 'relion_postprocess', 'relion_project'):
        try:
            relion.find_program(prog)
        except relion.RelionError as e:
            return False, str(e), 'install a complete RELION >= 3.1'
    text = 'RELION %s (%s)' % (relion.version_text(v), os.path.dirname(path))
    if v[:2] >= (4, 0):
        text += '; relion_dem asks relion_external_reconstruct to skip gridding, as RELION\'s own reconstruction'
    if v[0] >= 5:
        blush = shutil.which('relion_python_blush', path=os.path.dirname(path))
        text += ('; Blush present (%s): never pass --blush to a regularized run, it would replace relion_dem'
                 % blush if blush else '; no Blush (relion_python_blush) found')
    return True, text, None


#: how each RELION (major, minor) and scipion-em-relion major (None: no Scipion) pair is tested
TESTED_PAIRS = {
    ((3, 1), 4): 'CI tests it on every change (Debian RELION 3.1.3, scipion-em-relion 4.0.x)',
    ((3, 1), None): 'CI tests it on every change (Debian RELION 3.1.3)',
    ((5, 0), None): 'CI tests it on every change (RELION 5.0.1 leg: runtime and refinements, no Scipion)',
    ((5, 0), 5): 'CI tests it on every change (RELION 5.0.1 leg: the Scipion form, the refine protocol and '
                 'the queue test with scipion-em-relion 5.0.x)',
    ((4, 0), None): 'run once by hand (RELION 4.0.2; benchmarks/results/relion4-demo.md), not in CI',
    ((4, 0), 5): 'run once by hand (RELION 4.0.2 with scipion-em-relion 5.0.2), not in CI',
    ((5, 0), 4): 'not a working pair: scipion-em-relion 4.x drives RELION 3.1 and 4.0; install '
                 'scipion-em-relion 5 for RELION 5 (the command line works without it)',
}


def scipion_em_relion_version():
    """The installed scipion-em-relion's version string, or None."""
    from importlib import metadata
    try:
        return metadata.version('scipion-em-relion')
    except metadata.PackageNotFoundError:
        return None


def _check_pair():
    v = relion.version('relion_refine')
    plugin = scipion_em_relion_version()
    if v is None:
        return None, 'no RELION found (see above)', None
    major = int(plugin.split('.')[0]) if plugin and plugin.split('.')[0].isdigit() else None
    how = TESTED_PAIRS.get((v[:2], major), 'no CI leg tests this pair')
    return None, 'RELION %s with %s: %s' % (relion.version_text(v), 'scipion-em-relion %s' % plugin if plugin
                                             else 'no scipion-em-relion (command line)', how), None


def _check_mpi():
    launcher = os.environ.get('RELION_DEM_MPIRUN', 'mpirun').split()[0]
    path = shutil.which(launcher)
    if not path:
        return False, '%s not found' % launcher, 'apt-get install openmpi-bin   (or set RELION_DEM_MPIRUN)'
    env = relion.mpi_environment()
    try:
        proc = subprocess.run([path, '-np', '3', 'true'], env=env, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, '%s -np 3 true failed: %s' % (launcher, e), 'check the MPI installation'
    if proc.returncode != 0:
        return False, '%s -np 3 true failed: %s' % (launcher, (proc.stderr or proc.stdout).strip()[-300:]), \
            'export OMPI_MCA_rmaps_base_oversubscribe=1 (few cores) or fix MPI'
    return True, '%s runs 3 processes' % path, None


def _check_extrec():
    from relion_dem.core.runtime.launch import extrec_executable, RefineError
    try:
        return True, 'relion_dem_extrec at %s' % extrec_executable(), None
    except RefineError as e:
        return False, str(e), 'pip install .'


def _check_backend(name):
    from relion_dem.core.enhancers import BACKENDS, EnhancerError, create, install_hint, not_loaded
    if name not in BACKENDS:
        return False, not_loaded(name), None
    try:
        backend = create({'enhancer': name})
        backend.check()
        return True, 'enhancer %s ready (%s)' % (name, backend.describe()), None
    except EnhancerError as e:
        return False, str(e), install_hint(name)


def _check_missing_module(module, missing):
    """A backend module that could not be loaded: FAIL, naming the missing python module."""
    return False, 'enhancer module %s not loaded: the python module %s is not installed' % (module, missing), \
        'pip install %s' % missing.split('.')[0]


def enhancer_checks():
    """[(name, check)] for every registered backend doctor can check, and every backend module
    not loaded for a missing python module."""
    from relion_dem.core.enhancers import BACKENDS, MISSING
    checks = [('%s enhancer' % name, functools.partial(_check_backend, name))
              for name in sorted(BACKENDS) if BACKENDS[name].doctor_check]
    checks += [('%s enhancer' % module, functools.partial(_check_missing_module, module, missing))
               for module, missing in sorted(MISSING.items())]
    return checks


def _check_gpu():
    smi = shutil.which('nvidia-smi')
    if not smi:
        return None, 'no NVIDIA GPU visible (nvidia-smi not found): the bundled network runs on CPU', None
    proc = subprocess.run([smi, '-L'], capture_output=True, text=True)
    gpus = [l for l in proc.stdout.splitlines() if l.startswith('GPU')]
    if proc.returncode != 0 or not gpus:
        return None, 'nvidia-smi lists no GPU: %s' % proc.stderr.strip()[-200:], None
    return True, '%d GPU(s): %s' % (len(gpus), '; '.join(gpus)), None


REQUIRED = ('RELION', 'MPI', 'runtime')


def checks():
    """[(name, check)]: RELION, MPI, the runtime, each enhancer backend, the GPU."""
    return [('RELION', _check_relion), ('tested versions', _check_pair), ('MPI', _check_mpi),
            ('runtime', _check_extrec)] \
        + enhancer_checks() + [('GPU', _check_gpu)]


def run_checks():
    """[(name, ok (True/False/None=informational), message, fix)]"""
    out = []
    for name, check in checks():
        try:
            ok, msg, fix = check()
        except Exception as e:  # a check must never crash the doctor
            ok, msg, fix = False, 'check failed: %s' % e, None
        out.append((name, ok, msg, fix))
    return out


def main(argv=None):
    """Print every check with its fix; 1 when a required one fails."""
    p = argparse.ArgumentParser(prog='relion_dem doctor', description=__doc__)
    p.parse_args(argv)
    results = run_checks()
    for name, ok, msg, fix in results:
        mark = {True: ' ok ', False: 'FAIL', None: 'info'}[ok]
        print('[%s] %-22s %s' % (mark, name, msg))
        if fix:
            print('       %-22s fix: %s' % ('', fix))
    bad = [name for name, ok, _, _ in results if ok is False and name in REQUIRED]
    if bad:
        print('\nrelion_dem cannot run: fix %s first.' % ', '.join(bad))
        return 1
    print('\nrelion_dem can run (enhancers marked FAIL fall back to the plain reconstruction).')
    return 0


if __name__ == '__main__':
    sys.exit(main())
