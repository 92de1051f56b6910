"""Faults inside one real refinement: an enhancer that fails on every odd iteration, and
relion_refine killed mid-run (SIGKILL to the whole MPI job) then continued with --continue.
The refinement finishes and the run log says what happened at every call."""
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np

import pytest

from relion_dem.core.simulation import recipes
from relion_dem.core.runtime import launch as refine, runlog
from relion_dem.core.analysis import runinfo
from relion_dem.core.io.layout import RelionRun
from conftest import needs_relion

pytestmark = needs_relion
FAULTY = os.path.join(os.path.dirname(os.path.dirname(__file__)), 'faulty_enhancer.py')
SETTINGS = {'enhancer': 'command', 'gate': 'always',
            'enhancer_options': {'argv': [sys.executable, FAULTY, 'flaky', '{input}', '{output}',
                                          '{iteration}']}}


def running(pattern):
    """Whether a process whose command line matches ``pattern`` runs (pgrep: 0 found, 1 none)."""
    rc = subprocess.run(['pgrep', '-f', '--', pattern], capture_output=True, text=True)
    assert rc.returncode in (0, 1), 'pgrep -f -- %r: %s' % (pattern, rc.stderr)
    return rc.returncode == 0


@pytest.fixture(scope='module')
def killed_and_continued(refinements):
    dataset = refinements
    shutil.rmtree(os.path.join(dataset, 'Faults'), ignore_errors=True)
    os.makedirs(os.path.join(dataset, 'Faults'))
    root = 'Faults/run'
    argv, env, _ = refine.prepare(recipes.refine_args(dataset, root), SETTINGS, 3, cwd=dataset)
    log_path = os.path.join(dataset, root + '_relion_dem.jsonl')
    with open(os.path.join(dataset, 'Faults', 'log.txt'), 'w') as log:
        proc = subprocess.Popen(argv, env=env, cwd=dataset, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        deadline = time.time() + 1800
        while time.time() < deadline and proc.poll() is None:
            if len({r['iteration'] for r in runlog.read(log_path)}) >= 4:
                break
            time.sleep(0.5)
        assert proc.poll() is None, 'refinement ended before it could be killed'
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        # Open MPI may start the ranks in process groups of their own: kill them as a batch
        # system would, and wait until nothing of the run is left
        patterns = ('--o %s ' % root, root + '_it')   # the ranks, and runtime calls in flight
        for _ in range(120):
            for pattern in patterns:      # '--': a pattern starting with '--' is not an option
                subprocess.run(['pkill', '-KILL', '-f', '--', pattern])
            if not any(running(p) for p in patterns):
                break
            time.sleep(0.5)
        assert not any(running(p) for p in patterns), 'the killed run is still running'
    last = max(RelionRun(os.path.join(dataset, root)).iterations())
    before = len(runlog.read(log_path))
    new_root = root + '_ct%d' % last
    cont = ['--continue', '%s_it%03d_optimiser.star' % (root, last), '--o', new_root,
            '--pool', '10', '--j', '1']
    with open(os.path.join(dataset, 'Faults', 'continued.txt'), 'w') as log:
        rc = refine.run(cont, SETTINGS, 3, log=log, cwd=dataset)
    assert rc == 0, open(os.path.join(dataset, 'Faults', 'continued.txt')).read()[-3000:]
    # the continued run logs beside its own root, as every run does (and as the Scipion protocol's)
    continued = runlog.read(os.path.join(dataset, new_root + '_relion_dem.jsonl'))
    return dataset, new_root, last, runlog.read(log_path) + continued, before


@pytest.mark.fault
def test_flaky_enhancer_never_stops_the_refinement(killed_and_continued):
    dataset, new_root, _, records, _ = killed_and_continued
    halves = [r for r in records if r['half'] != 'final']
    odd = [r for r in halves if r['iteration'] % 2]
    even = [r for r in halves if not r['iteration'] % 2]
    assert odd and all(not r['regularized'] and 'exited with status 3' in r['fallback'] for r in odd)
    assert even and all(r['regularized'] and r['fallback'] is None for r in even)
    assert runinfo.summary(os.path.join(dataset, new_root))['converged']


@pytest.mark.fault
def test_killed_refinement_continues_with_config_and_log(killed_and_continued):
    _, _, last, records, before = killed_and_continued
    new = records[before:]                      # the continued run's own log
    assert new and min(r['iteration'] for r in new) == last + 1
    assert any(r['half'] == 'final' for r in new)
    assert all(r['local_order'] == 2 for r in new)
    for it in {r['iteration'] for r in new if r['half'] != 'final'}:
        assert sorted(r['half'] for r in new if r['iteration'] == it) == [1, 2]


def test_killed_and_continued_leaves_nothing_behind(killed_and_continued):
    """Killed with SIGKILL mid-run and continued: no work folder of the killed calls, no temporary
    or half-written map (the continued run's first call removes what the killed one left)."""
    from conftest import refinement_leftovers
    dataset = killed_and_continued[0]
    assert refinement_leftovers(os.path.join(dataset, 'Faults')) == []


def test_denoise_root_on_the_continued_run(killed_and_continued, tmp_path):
    """``relion_dem denoise --root`` on the continued run's final half-maps: the map, its
    provenance map and record are written (voxel size the run's), nothing left beside them."""
    from relion_dem import cli
    from relion_dem.core.io import mrc
    from conftest import refinement_leftovers
    dataset, new_root = killed_and_continued[:2]
    out = str(tmp_path / 'denoised.mrc')
    assert cli.main(['denoise', '--root', os.path.join(dataset, new_root), '--out', out,
                     '--enhancer', 'classical']) == 0
    data, voxel = mrc.read(out)
    _, run_voxel = mrc.read(os.path.join(dataset, new_root + '_half1_class001_unfil.mrc'))
    assert data.shape == (40, 40, 40) and voxel == pytest.approx(run_voxel) and np.isfinite(data).all()
    assert os.path.exists(str(tmp_path / 'denoised_provenance.mrc')) and os.path.exists(str(tmp_path / 'denoised.json'))
    assert refinement_leftovers(str(tmp_path)) == []
