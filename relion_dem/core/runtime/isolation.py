"""Run the memory-hungry part of a call in a forked child that the kernel kills first, so that
when a node runs out of memory the call loses its regularization, not RELION its result.

The regularization of a half (enhancer, guards) holds several copies of the map in Fourier
space: in a first measurement at 384³ each call's process held 1.7-3.6 GB when the kernel killed
it, more than the network server (``benchmarks/results/realsize.md``, *Past the node's
memory*, repeated since with this module: the calls survive). When memory runs short the
kernel's OOM killer takes the process with the highest badness (its size, plus
``oom_score_adj``). Had that been ``relion_dem_extrec`` itself, RELION would find no result and
the refinement would stop. In a child with ``oom_score_adj`` 1000 a kill ends only the child; the
parent, which holds RELION's plain map, reports the failure and hands RELION that map. A
``MemoryError`` in the child (an address-space limit) is the same failure.
"""
import json
import os
import signal
import sys
import traceback

from relion_dem.core.network.worker import oom_first

#: the child's exit status when it ran out of memory, and when anything else went wrong
OUT_OF_MEMORY, BROKEN = 3, 2


class Killed(Exception):
    """The child ended without an answer: killed by a signal, or out of memory."""


def run_forked(function, folder):
    """``function()`` (no arguments; returns a JSON-serializable dict) in a forked child of
    ``oom_score_adj`` 1000; its answer travels through a file in ``folder``. Raises
    :class:`Killed` when the child was killed or ran out of memory, and RuntimeError with the
    child's traceback when it raised anything else."""
    answer = os.path.join(folder, 'child-answer.json')
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:                            # the child: never returns
        status = BROKEN
        try:
            oom_first()
            with open(answer, 'w') as f:
                json.dump(dict(answer=function()), f)
            status = 0
        except MemoryError:
            status = OUT_OF_MEMORY
        except BaseException:
            with open(answer, 'w') as f:
                json.dump(dict(error=traceback.format_exc()), f)
        finally:
            os._exit(status)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        raise Killed('killed by signal %d (%s%s)' % (
            sig, signal.Signals(sig).name, ': the kernel\'s OOM killer when memory runs out' if sig == signal.SIGKILL
            else ''))
    code = os.WEXITSTATUS(status)
    if code == OUT_OF_MEMORY:
        raise Killed('out of memory')
    try:
        with open(answer) as f:
            got = json.load(f)
    except (OSError, ValueError):
        raise Killed('ended with status %d and no answer' % code)
    if 'error' in got:
        raise RuntimeError('the regularization failed:\n%s' % got['error'])
    return got['answer']
