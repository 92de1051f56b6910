"""The regularization's child process: the kernel's first choice when memory runs out, and every
way it can end reported to the parent (real forks, no mocks)."""
import os
import signal

import pytest

from relion_dem.core.runtime import isolation


def _oom_score_adj():
    with open('/proc/self/oom_score_adj') as f:
        return int(f.read())


@pytest.mark.skipif(not os.path.exists('/proc/self/oom_score_adj'), reason='no /proc/self/oom_score_adj here')
def test_child_goes_first_and_parent_is_left_alone(tmp_path):
    assert isolation.run_forked(lambda: dict(adj=_oom_score_adj()), str(tmp_path)) == dict(adj=1000)
    assert _oom_score_adj() < 1000


def test_child_killed_is_reported_as_killed(tmp_path):
    with pytest.raises(isolation.Killed, match='killed by signal 9'):
        isolation.run_forked(lambda: os.kill(os.getpid(), signal.SIGKILL), str(tmp_path))


def test_child_out_of_memory_is_reported_as_killed(tmp_path):
    def allocate():
        raise MemoryError()
    with pytest.raises(isolation.Killed, match='out of memory'):
        isolation.run_forked(allocate, str(tmp_path))


def test_child_bug_raises_with_its_traceback(tmp_path):
    def broken():
        return {}['missing']
    with pytest.raises(RuntimeError, match="KeyError: 'missing'"):
        isolation.run_forked(broken, str(tmp_path))
