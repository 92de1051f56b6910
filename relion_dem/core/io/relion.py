"""Finding and calling RELION's programs (argument lists only, never a shell string)."""
import os
import re
import shutil
import subprocess


class RelionError(RuntimeError):
    """A RELION program is missing or failed."""


def find_program(name):
    """Absolute path of a RELION program: ``$RELION_HOME/bin`` first, then ``PATH``."""
    home = os.environ.get('RELION_HOME')
    if home:
        cand = os.path.join(home, 'bin', name)
        if os.access(cand, os.X_OK):
            return cand
    found = shutil.which(name)
    if not found:
        raise RelionError('%s not found: install RELION >= 3.1 (Debian: apt-get install relion) '
                          'or set RELION_HOME to its installation folder' % name)
    return found


def version(program='relion_refine'):
    """RELION's version as a tuple, e.g. (3, 1, 3); None if it cannot be told."""
    try:
        out = subprocess.run([find_program(program), '--version'], capture_output=True,
                             text=True, timeout=60).stdout
    except (RelionError, OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r'RELION version:\s*(\d+)\.(\d+)(?:\.(\d+))?', out)
    return tuple(int(g or 0) for g in m.groups()) if m else None


def version_text(v):
    """A :func:`version` tuple as messages and results write it (``'5.0.1'``; None: ``'unknown'``)."""
    return '.'.join(map(str, v)) if v else 'unknown'


def mpi_environment(env=None):
    """A copy of ``env`` that lets Open MPI run as root and oversubscribe small machines."""
    env = dict(os.environ if env is None else env)
    if hasattr(os, 'geteuid') and os.geteuid() == 0:
        env.setdefault('OMPI_ALLOW_RUN_AS_ROOT', '1')
        env.setdefault('OMPI_ALLOW_RUN_AS_ROOT_CONFIRM', '1')
    env.setdefault('OMPI_MCA_rmaps_base_oversubscribe', '1')
    return env


def run(args, log=None, cwd=None, env=None, check=True, timeout=None):
    """Run a RELION program (``args[0]`` looked up with :func:`find_program`).

    Output goes to ``log`` (an open file) or is captured; a failure raises
    :class:`RelionError` with the command and the end of its output.
    """
    argv = [find_program(args[0])] + [str(a) for a in args[1:]]
    kw = dict(cwd=cwd, env=env, timeout=timeout)
    if log is not None:
        proc = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, **kw)
        tail = ''
    else:
        proc = subprocess.run(argv, capture_output=True, text=True, **kw)
        tail = (proc.stdout + proc.stderr)[-2000:]
    if check and proc.returncode != 0:
        raise RelionError('%s exited with status %d%s' % (' '.join(argv[:3]), proc.returncode,
                                                          ':\n' + tail if tail else ''))
    return proc
