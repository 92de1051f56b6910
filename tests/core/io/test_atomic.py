import os

import numpy as np
import pytest

from relion_dem.core.io import mrc
from relion_dem.core.io.atomic import atomic_output


def test_failure_inside_leaves_old_file_and_no_temporary(tmp_path):
    target = tmp_path / 'result.mrc'
    mrc.write(target, np.ones((4, 4, 4)), 2.0)
    before = target.read_bytes()
    with pytest.raises(RuntimeError):
        with atomic_output(target) as tmp:
            with open(tmp, 'wb') as f:
                f.write(b'half a map')
            raise RuntimeError('killed mid-write')
    assert target.exists(), 'the old file is gone'
    assert target.read_bytes() == before, 'the old file was written over'
    assert os.listdir(tmp_path) == ['result.mrc']


def test_new_file_has_normal_permissions(tmp_path):
    target = tmp_path / 'x.mrc'
    mrc.write(target, np.zeros((2, 2, 2)), 1.0)
    umask = os.umask(0)
    os.umask(umask)
    assert (os.stat(target).st_mode & 0o777) == (0o666 & ~umask)


def test_lost_file_check_sees_leftovers_and_broken_maps(tmp_path):
    from conftest import lost_files
    (tmp_path / '.run_it001.tmp.mrc').write_bytes(b'x')
    (tmp_path / 'result.mrc').write_bytes(b'half a map')
    mrc.write(tmp_path / 'fine.mrc', np.zeros((2, 2, 2)), 1.0)
    found = sorted(os.path.basename(p) for p, _ in lost_files(str(tmp_path)))
    assert found == ['.run_it001.tmp.mrc', 'result.mrc']


def test_temporary_names_its_owner_and_abandoned_ones_are_removed(tmp_path):
    """A temporary carries <host>_<pid>_: once its process is dead (SIGKILL mid-write),
    remove_abandoned takes it away; the live process's own temporary stays."""
    import subprocess
    import sys
    from relion_dem.core.io.atomic import owner_tag, remove_abandoned
    target = tmp_path / 'run_it004_half2.mrc'
    code = ('import os, signal\nfrom relion_dem.core.io.atomic import atomic_output\n'
            'with atomic_output(%r) as tmp:\n    open(tmp, "wb").write(b"half")\n'
            '    os.kill(os.getpid(), signal.SIGKILL)\n' % str(target))
    proc = subprocess.Popen([sys.executable, '-c', code])
    assert proc.wait() == -9
    left, = os.listdir(tmp_path)
    assert left.startswith('.run_it004_half2.') and '_%d_' % proc.pid in left
    with atomic_output(tmp_path / 'mine.mrc') as tmp:
        assert owner_tag() in os.path.basename(tmp)
        assert remove_abandoned(str(tmp_path)) == [str(tmp_path / left)]
        assert os.listdir(tmp_path) == [os.path.basename(tmp)]
