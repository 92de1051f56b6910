"""Atomic file output: write beside the target, fsync, then rename over it.

RELION (or a user) reading the target sees either the old file or the whole new
one, never a half-written file, even when the disk fills up or we are killed.

A process killed with SIGKILL cannot remove its temporary; the temporary's name carries
its owner (host and process id), so :func:`remove_abandoned`, called by the next runtime
call in that folder, removes what dead processes of this host left, and nothing else.
"""
import contextlib
import os
import re
import shutil
import socket
import tempfile


def owner_tag():
    """``<host>_<pid>_``: the part of a temporary's name that says which process owns it."""
    return '%s_%d_' % (socket.gethostname(), os.getpid())


@contextlib.contextmanager
def atomic_output(path):
    """Yield a temporary path in the target's folder; rename it to ``path`` on success.

    On any exception the temporary file is removed and ``path`` is untouched.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    base = os.path.basename(path)
    stem, ext = os.path.splitext(base)
    fd, tmp = tempfile.mkstemp(prefix='.%s.%s' % (stem, owner_tag()), suffix='.tmp' + ext, dir=folder)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield tmp
        with open(tmp, 'rb+') as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def remove_abandoned(folder):
    """Remove the hidden temporaries and work folders in ``folder`` whose owner (named by
    :func:`owner_tag`) is a dead process of this host. Live processes' files, other hosts'
    (a shared file system) and files without an owner tag are left alone. Returns the removed paths."""
    owned = re.compile(r'^\..*?[._]%s_(\d+)_' % re.escape(socket.gethostname()))
    removed = []
    for name in os.listdir(folder):
        m = owned.match(name)
        if not m or int(m.group(1)) == os.getpid() or _alive(int(m.group(1))):
            continue
        path = os.path.join(folder, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                os.unlink(path)
        removed.append(path)
    return removed


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True                      # alive, another user's
    return True
