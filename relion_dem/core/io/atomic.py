"""Atomic file output: write beside the target, fsync, then rename over it.

RELION (or a user) reading the target sees either the old file or the whole new
one, never a half-written file, even when the disk fills up or we are killed.
"""
import contextlib
import os
import tempfile


@contextlib.contextmanager
def atomic_output(path):
    """Yield a temporary path in the target's folder; rename it to ``path`` on success.

    On any exception the temporary file is removed and ``path`` is untouched.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    base = os.path.basename(path)
    stem, ext = os.path.splitext(base)
    fd, tmp = tempfile.mkstemp(prefix='.%s.' % stem, suffix='.tmp' + ext, dir=folder)
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
