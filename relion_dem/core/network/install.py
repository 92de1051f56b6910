"""Create the network environment: a virtualenv with TensorFlow (CPU), numpy, scipy, mrcfile.

    relion_dem install-network [--prefix DIR] [--gpu | --tensorflow tensorflow-cpu] [--force] [--check]

TensorFlow never loads in Scipion's or relion_dem's own Python (it pulls numpy 2,
which breaks Scipion's scipy): the network runs in this separate environment, the
enhancer backend calling :mod:`relion_dem.core.network.worker` with its python.

Location: ``--prefix``, else ``$RELION_DEM_NETENV``, else ``~/.relion_dem/netenv``.
Idempotent: an environment that already imports every package is left as it is.
Prints the environment's python path on its last line.
"""
import argparse
import os
import subprocess
import sys

#: pip requirements of the network environment (tensorflow name may be changed by --tensorflow);
#: gemmi (small) only for the training command and benchmarks (atomic models -> potential maps)
REQUIREMENTS = ['numpy', 'scipy', 'mrcfile', 'gemmi']
TENSORFLOW = 'tensorflow-cpu'
TENSORFLOW_GPU = 'tensorflow[and-cuda]'
#: modules whose import makes the environment usable by the enhancer backends
MODULES = ('numpy', 'scipy.ndimage', 'mrcfile', 'tensorflow')
#: modules a complete environment (training included) imports
ALL_MODULES = MODULES + ('gemmi',)


def default_prefix():
    return os.path.abspath(os.path.expanduser(
        os.environ.get('RELION_DEM_NETENV') or os.path.join('~', '.relion_dem', 'netenv')))


def env_python(prefix=None):
    """The python of the network environment at ``prefix`` (default location if None)."""
    prefix = prefix or default_prefix()
    if os.name == 'nt':  # pragma: no cover
        return os.path.join(prefix, 'Scripts', 'python.exe')
    return os.path.join(prefix, 'bin', 'python')


def default_python():
    """$RELION_DEM_NETWORK_PYTHON, else the default environment's python."""
    return os.environ.get('RELION_DEM_NETWORK_PYTHON') or env_python()


def check_env(python, modules=MODULES, timeout=300):
    """None if ``python`` imports every module, else the reason it cannot be used."""
    if not os.path.exists(python):
        return '%s does not exist' % python
    code = 'import %s' % ', '.join(modules)
    try:
        r = subprocess.run([python, '-c', code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=timeout, env=_quiet_env())
    except (OSError, subprocess.TimeoutExpired) as e:
        return '%s cannot run (%s)' % (python, e)
    if r.returncode:
        last = r.stdout.decode(errors='replace').strip().splitlines()[-1:] or ['?']
        return '%s cannot import the network packages (%s)' % (python, last[0])
    return None


_STATUS = {}


def env_status(python=None, modules=MODULES):
    """Cached :func:`check_env` of ``python`` (default: :func:`default_python`) for this process."""
    python = python or default_python()
    key = (python, tuple(modules))
    if key not in _STATUS:
        _STATUS[key] = check_env(python, modules)
    return _STATUS[key]


def _quiet_env():
    env = dict(os.environ)
    env.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    env.pop('PYTHONPATH', None)  # Scipion's site-packages must not leak in
    return env


def install(prefix, tensorflow=TENSORFLOW, force=False, base_python=None, log=None):
    """Create (or complete) the environment at ``prefix``; return its python path."""
    log = log or sys.stdout
    python = env_python(prefix)
    modules, requirements = ALL_MODULES, REQUIREMENTS
    if not force and check_env(python, modules) is None:
        log.write('relion_dem install-network: environment %s is complete\n' % prefix)
        return python
    base = base_python or _base_python()
    if force or not os.path.exists(python):
        log.write('relion_dem install-network: creating %s with %s\n' % (prefix, base))
        log.flush()
        os.makedirs(os.path.dirname(prefix) or '.', exist_ok=True)
        cmd = [base, '-m', 'venv'] + (['--clear'] if force else []) + [prefix]
        subprocess.run(cmd, check=True, env=_quiet_env())
    pip = [python, '-m', 'pip', 'install', '--disable-pip-version-check']
    log.write('relion_dem install-network: pip install %s\n' % ' '.join([tensorflow] + requirements))
    log.flush()
    subprocess.run(pip + ['--upgrade', 'pip'], check=False, env=_quiet_env())
    subprocess.run(pip + [tensorflow] + requirements, check=True, env=_quiet_env())
    why = check_env(python, modules)
    if why:
        raise RuntimeError('network environment incomplete after install: %s' % why)
    return python


def _base_python():
    """A python with the venv module, not one inside another virtualenv if avoidable."""
    base = getattr(sys, '_base_executable', None) or sys.executable
    return base if os.path.exists(base) else sys.executable


def main(argv=None):
    p = argparse.ArgumentParser(prog='relion_dem install-network', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--prefix', help='environment folder (default: $RELION_DEM_NETENV or '
                                    '~/.relion_dem/netenv; now %s)' % default_prefix())
    p.add_argument('--tensorflow', default=TENSORFLOW,
                   help='TensorFlow pip requirement (default: %(default)s; e.g. "tensorflow[and-cuda]" for GPUs)')
    p.add_argument('--gpu', action='store_true',
                   help='GPU TensorFlow (%s) instead of the CPU build; the network then runs on the GPU where '
                        'one is visible, on the CPU otherwise' % TENSORFLOW_GPU)
    p.add_argument('--python', help='python used to create the virtualenv (default: this one\'s base)')
    p.add_argument('--force', action='store_true', help='recreate the environment from scratch')
    p.add_argument('--check', action='store_true', help='only check the environment; exit 1 if unusable')
    a = p.parse_args(argv)
    prefix = os.path.abspath(os.path.expanduser(a.prefix)) if a.prefix else default_prefix()
    if a.gpu:
        a.tensorflow = TENSORFLOW_GPU
    if a.check:
        why = check_env(env_python(prefix), MODULES)
        if why:
            sys.stderr.write('relion_dem install-network: %s\n' % why)
            return 1
        print(env_python(prefix))
        return 0
    try:
        python = install(prefix, a.tensorflow, a.force, a.python)
    except (subprocess.CalledProcessError, RuntimeError, OSError) as e:
        sys.stderr.write('relion_dem install-network: ERROR: %s\n' % e)
        return 1
    print(python)
    return 0


if __name__ == '__main__':
    sys.exit(main())
