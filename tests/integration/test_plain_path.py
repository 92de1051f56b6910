"""The unregularized path is RELION's own reconstruction: iteration 1 of a refinement through the
runtime with enhancer ``none`` equals iteration 1 of the session's vanilla ``relion_refine_mpi``
run (``Plain/run``: same particles, reference, arguments and random seed, so the same sums).

relion_external_reconstruct adds the prior (tau2) term at every Fourier shell, RELION's own
reconstruction only from ``--minres_map`` (5) on; the runtime removes the prior below it
(:func:`relion_dem.core.runtime.extrec.without_low_shell_prior`). Without that, this
iteration-1 map differs by 1e-3 to 1e-2 of its range, and on a 22 kDa C2 protein the whole
unregularized refinement ended 0.77 Å coarser than vanilla RELION (3 seeds)."""
import os
import re
import shutil
import signal
import subprocess
import time

import numpy as np
import pytest

from relion_dem.core.analysis.fsc import fsc
from relion_dem.core.io import mrc, relion
from relion_dem.core.io.layout import RelionRun
from relion_dem.core.runtime import launch
from conftest import needs_relion
from shared_refinements import REFINE_ARGS

pytestmark = needs_relion


def processes_of(dataset, root):
    """Ids of the processes of run ``root`` in ``dataset``: working in the run's folder (the
    runtime's calls), or in ``dataset`` with the root on their command line (ranks, mpirun)."""
    folder = os.path.join(dataset, os.path.dirname(root))
    found = []
    for pid in filter(str.isdigit, os.listdir('/proc')):
        try:
            cwd = os.readlink('/proc/%s/cwd' % pid)
            with open('/proc/%s/cmdline' % pid, 'rb') as f:
                cmdline = f.read().decode(errors='replace')
        except OSError:
            continue
        if cwd.startswith(folder + os.sep) or cwd == folder or (cwd == dataset and root in cmdline):
            found.append(int(pid))
    return found


def first_iteration(dataset, root, settings):
    """Half 1 of iteration 1 of a run launched as ``relion_dem refine`` does, stopped after it
    (``_it001_sampling.star`` is the iteration's last file)."""
    run = RelionRun(os.path.join(dataset, root))
    argv, env, _ = launch.prepare(REFINE_ARGS + ['--o', root], settings, 3, cwd=dataset)
    # a process group of its own; then whatever of the run is left (ranks Open MPI put in groups
    # of their own, runtime calls in flight) is killed
    with open(os.path.join(dataset, root + '.log'), 'w') as log:
        proc = subprocess.Popen(argv, cwd=dataset, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        deadline = time.time() + 900
        while proc.poll() is None and time.time() < deadline and \
                not os.path.exists(run.iteration_path(1, '_sampling.star')):
            time.sleep(0.5)
        done = os.path.exists(run.iteration_path(1, '_sampling.star'))
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        for _ in range(120):
            mine = [p for p in processes_of(dataset, root) if p != os.getpid()]
            if not mine:
                break
            for pid in mine:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.5)
    assert done, 'iteration 1 did not finish in 900 s: %s' % log.name
    return mrc.read(run.iteration_path(1, '_half1_class001.mrc'))[0]


def test_unregularized_iteration_equals_relions_own(refinements):
    folder = os.path.join(refinements, 'PlainPath')
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    try:
        ours = first_iteration(refinements, 'PlainPath/run', {'enhancer': 'none'})
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    # the vanilla run is this RELION's (its log's first line names the version)
    with open(os.path.join(refinements, 'Plain', 'log.txt')) as f:
        made_by = re.search(r'RELION version:\s*([\d.]+)', f.read())
    assert made_by and made_by.group(1) == '.'.join(map(str, relion.version())), (f.name, made_by)
    vanilla = RelionRun(os.path.join(refinements, 'Plain', 'run')).iteration_path(1, '_half1_class001.mrc')
    vanilla = mrc.read(vanilla)[0]
    rel = float(np.abs(ours - vanilla).max() / np.ptp(vanilla))
    shells = fsc(ours, vanilla)[1:]
    assert rel < 1e-4 and shells.min() > 0.99999, (rel, shells.min())
