"""Faults inside real refinements: the refinement finishes and the run log says what happened."""
import os
import signal
import subprocess
import sys
import time

import pytest

from relion_dem.core import recipes, refine, runinfo, runlog
from conftest import needs_relion

pytestmark = needs_relion
FAULTY = os.path.join(os.path.dirname(os.path.dirname(__file__)), 'faulty_enhancer.py')


@pytest.mark.fault
def test_flaky_enhancer_never_stops_the_refinement(dataset):
    root = 'Refine/flaky'
    settings = {'enhancer': 'command', 'gate': 'always',
                'enhancer_options': {'argv': [sys.executable, FAULTY, 'flaky', '{input}', '{output}',
                                              '{iteration}']}}
    with open(os.path.join(dataset, 'flaky.log'), 'w') as log:
        rc = refine.run(recipes.refine_args(dataset, root), settings, 3, log=log, cwd=dataset)
    assert rc == 0
    records = runlog.read(os.path.join(dataset, root + '_relion_dem.jsonl'))
    halves = [r for r in records if r['half'] != 'final']
    odd = [r for r in halves if r['iteration'] % 2]
    even = [r for r in halves if not r['iteration'] % 2]
    assert odd and all(not r['regularized'] and 'exited with status 3' in r['fallback'] for r in odd)
    assert even and all(r['regularized'] and r['fallback'] is None for r in even)
    assert runinfo.summary(os.path.join(dataset, root))['converged']


@pytest.mark.fault
def test_killed_refinement_continues_with_config_and_log(dataset):
    root = 'Refine/killed'
    argv, env, cfg = refine.prepare(recipes.refine_args(dataset, root), {'enhancer': 'classical'},
                                    3, cwd=dataset)
    log_path = os.path.join(dataset, root + '_relion_dem.jsonl')
    with open(os.path.join(dataset, 'killed.log'), 'w') as log:
        proc = subprocess.Popen(argv, env=env, cwd=dataset, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        deadline = time.time() + 900
        while time.time() < deadline and proc.poll() is None:
            its = {r['iteration'] for r in runlog.read(log_path)}
            if len(its) >= 4:
                break
            time.sleep(1)
        assert proc.poll() is None, 'refinement ended before it could be killed'
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    done = runinfo.iterations(os.path.join(dataset, root))
    last = max(done)
    before = len(runlog.read(log_path))
    cont = ['--continue', '%s_it%03d_optimiser.star' % (root, last), '--o', root + '_ct%d' % last,
            '--pool', '10', '--j', '1']
    with open(os.path.join(dataset, 'continued.log'), 'w') as log:
        rc = refine.run(cont, {'enhancer': 'classical'}, 3, log=log, cwd=dataset)
    assert rc == 0
    records = runlog.read(log_path)          # the continued run appends to the same log
    new = records[before:]
    assert new and min(r['iteration'] for r in new) == last + 1
    assert any(r['half'] == 'final' for r in new)
    assert all(r['local_order'] == 2 for r in new)
    assert any(r['regularized'] for r in new)
    assert runinfo.summary(os.path.join(dataset, root + '_ct%d' % last))['converged']
