"""Running an enhancer program on one map: its own process group, a timeout that kills the
whole group, and a check of what it wrote. Used by the runtime (each regularized call) and
by ``relion_dem denoise``."""
import contextlib
import os
import signal
import subprocess

from relion_dem.core.io import mrc


class EnhancerFailure(RuntimeError):
    """The enhancer failed for this call: fall back to the plain reconstruction."""


def run_enhancer(argv, timeout, log_path):
    """Run the enhancer in its own process group; kill the whole group on timeout."""
    with open(log_path, 'ab') as log:
        try:
            proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        except OSError as e:
            raise EnhancerFailure('cannot start %s: %s' % (argv[0], e.strerror or e))
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            raise EnhancerFailure('timed out after %.0f s (process group killed)' % timeout)
        except BaseException:
            _kill_group(proc)
            raise
    if rc != 0:
        why = 'killed by signal %d' % -rc if rc < 0 else 'exited with status %d' % rc
        raise EnhancerFailure('%s %s (see %s)' % (os.path.basename(argv[0]), why, log_path))


def _kill_group(proc):
    for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def check_enhanced(path, plain, voxel_size):
    """The enhancer's output as an array; EnhancerFailure if missing, wrong box or voxel, non-finite."""
    if not os.path.exists(path):
        raise EnhancerFailure('wrote no output map')
    try:
        data, voxel = mrc.read(path)
    except mrc.MapError as e:
        raise EnhancerFailure(str(e).replace(path, 'output map'))
    if data.shape != plain.shape:
        raise EnhancerFailure('output box %s differs from the reconstruction %s' % (data.shape, plain.shape))
    if voxel > 0 and abs(voxel - voxel_size) > 0.01 * voxel_size:
        raise EnhancerFailure('output voxel size %.4g Å differs from the run\'s %.4g Å' % (voxel, voxel_size))
    if float(data.std()) == 0.0:
        raise EnhancerFailure('output map is constant')
    return data
