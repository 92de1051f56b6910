"""The persistent network worker: one model load for many calls, and the runtime's failure semantics."""
import os
import signal
import subprocess
import time

import numpy as np
import pytest

from relion_dem.core.io import mrc
from relion_dem.core.runtime import extrec as runtime
from relion_dem.core.network import install, service, worker
from relion_dem_dev.training import simdata

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))
MODEL_PDB = os.path.join(ROOT, 'relion_dem', 'data', '19hc.pdb.gz')
NETENV_WHY = install.env_status()
needs_netenv = pytest.mark.skipif(NETENV_WHY is not None, reason='network environment absent (%s); create it '
                                  'with `relion_dem install-network`' % NETENV_WHY)
needs_model = pytest.mark.skipif(not os.path.exists(worker.DEFAULT_MODEL), reason='shipped weights missing')


def client_argv(directory, inp, out, idle=60, extra=()):
    return [install.default_python(), '-E', '-s', service.__file__, '--dir', str(directory), '--idle', str(idle),
            '--', '--input', str(inp), '--output', str(out), '--voxel-size', '2.0', '--threads', '2'] + list(extra)


def call(directory, inp, out, **kw):
    return subprocess.run(client_argv(directory, inp, out, **kw), capture_output=True, text=True, timeout=600)


def alive(pid):
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:  # a zombie (already dead, not reaped by its parent) counts as dead
        with open('/proc/%d/stat' % pid) as f:
            return f.read().split(')')[-1].split()[0] != 'Z'
    except OSError:
        return False


def server_pid(out_text):
    """'network worker (server PID, call N): ...' -> (PID, N)."""
    head = out_text.split('(server ', 1)[1]
    pid, rest = head.split(', call ', 1)
    return int(pid), int(rest.split(')', 1)[0])


def running_server(maps, server_dir, tmp_path):
    """Start a server with one call; its pid."""
    r = call(server_dir, maps / 'half1.mrc', tmp_path / 'warm.mrc')
    assert r.returncode == 0, r.stderr
    return server_pid(r.stdout)[0]


@pytest.fixture(scope='module')
def maps(tmp_path_factory):
    d = tmp_path_factory.mktemp('service')
    truth = simdata.rotated_truth(MODEL_PDB, 48, 2.0)
    p = simdata.fixed_params(2.0, 7.0, 80.0, slope=-0.5)
    for i in (1, 2):
        x, _, _ = simdata.simulate_pair(truth, 2.0, np.random.default_rng(i), p)
        mrc.write(str(d / ('half%d.mrc' % i)), x, 2.0)
    big = np.random.default_rng(3).normal(size=(128, 128, 128)).astype(np.float32)
    mrc.write(str(d / 'big.mrc'), big, 2.0)
    return d


@pytest.fixture
def server_dir(tmp_path):
    d = tmp_path / 'servers'
    yield d
    if d.exists():
        service.stop_servers(str(d))


@pytest.mark.parametrize('mode', [0o777, 0o755])
def test_private_directory_is_checked(tmp_path, mode):
    d = tmp_path / 'shared'
    d.mkdir()
    os.chmod(d, mode)
    if mode & 0o022:
        with pytest.raises(service.ServerUnavailable, match='not private'):
            service.server_dir(str(d))
    else:
        assert service.server_dir(str(d)) == str(d)


def test_key_follows_model_version_and_threads(tmp_path):
    m = tmp_path / 'm.keras'
    m.write_bytes(b'one')
    k1 = service.server_key(str(m), 0, '/p/python')
    assert k1 == service.server_key(str(m), 0, '/p/python')
    assert k1 != service.server_key(str(m), 2, '/p/python')
    assert k1 != service.server_key(str(m), 0, '/q/python')
    m.write_bytes(b'retrained')
    assert k1 != service.server_key(str(m), 0, '/p/python')


def test_key_follows_the_code(tmp_path, monkeypatch):
    """An upgraded relion_dem starts its own server instead of calling one that runs the old code."""
    m = tmp_path / 'm.keras'
    m.write_bytes(b'one')
    before = service.server_key(str(m), 0, '/p/python')
    monkeypatch.setattr(service, 'code_version', lambda: 'upgraded')
    assert service.server_key(str(m), 0, '/p/python') != before


def test_relative_paths_reach_the_server_absolute(tmp_path, monkeypatch):
    """The server runs in the folder of whichever call started it, so paths travel absolute."""
    monkeypatch.chdir(tmp_path)
    args = service.absolute_paths(['--input', 'in.mrc', '--output=sub/out.mrc', '--model', '/m.keras',
                                   '--voxel-size', '2.0'])
    assert args == ['--input', str(tmp_path / 'in.mrc'), '--output=' + str(tmp_path / 'sub' / 'out.mrc'),
                    '--model', '/m.keras', '--voxel-size', '2.0']


def test_no_worker_arguments():
    assert service.main(['--idle', '1']) == 2


@needs_netenv
@needs_model
def test_one_server_serves_both_halves_and_later_calls(maps, server_dir):
    """The model loads once; concurrent halves share the server; results equal the one-shot worker's."""
    procs = [subprocess.Popen(client_argv(server_dir, maps / ('half%d.mrc' % i), server_dir / ('out%d.mrc' % i)),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in (1, 2)]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
    pids = {server_pid(out)[0] for out, _ in outs}
    assert len(pids) == 1, outs
    assert sorted(server_pid(out)[1] for out, _ in outs) == [1, 2]
    assert 'model already loaded' in outs[0][0]
    r = call(server_dir, maps / 'half1.mrc', server_dir / 'again.mrc')
    assert r.returncode == 0, r.stderr
    assert server_pid(r.stdout) == (pids.pop(), 3)
    # the same numbers as the one-shot worker
    one = subprocess.run([install.default_python(), '-E', '-s', worker.__file__, '--input', str(maps / 'half1.mrc'),
                          '--output', str(server_dir / 'oneshot.mrc'), '--voxel-size', '2.0', '--threads', '2'],
                         capture_output=True, text=True, timeout=600)
    assert one.returncode == 0, one.stderr
    a, _ = mrc.read(str(server_dir / 'out1.mrc'))
    b, _ = mrc.read(str(server_dir / 'oneshot.mrc'))
    np.testing.assert_allclose(a, b, atol=1e-4 * float(np.abs(b).max()))


@needs_netenv
@needs_model
def test_relative_paths_from_two_folders(maps, server_dir, tmp_path):
    for name in ('a', 'b'):
        folder = tmp_path / name
        folder.mkdir()
        (folder / 'in.mrc').write_bytes((maps / 'half1.mrc').read_bytes())
        argv = client_argv(server_dir, 'in.mrc', 'out.mrc')
        r = subprocess.run(argv, cwd=str(folder), capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr
        assert (folder / 'out.mrc').exists()


@needs_netenv
@needs_model
@pytest.mark.bad_input
def test_bad_input_is_this_calls_failure_only(maps, server_dir, tmp_path):
    bad = tmp_path / 'bad.mrc'
    bad.write_bytes(b'not a map')
    r = call(server_dir, bad, tmp_path / 'o.mrc')
    assert r.returncode == 2 and 'not a readable MRC map' in r.stderr, r.stderr
    assert not (tmp_path / 'o.mrc').exists()
    r2 = call(server_dir, maps / 'half1.mrc', tmp_path / 'o.mrc')
    assert r2.returncode == 0, r2.stderr
    assert server_pid(r2.stdout)[1] == 2        # the same server answered both


@needs_netenv
@needs_model
@pytest.mark.fault
def test_server_killed_during_a_call(maps, server_dir, tmp_path):
    """The call fails (runtime falls back to the plain map); the next call starts a fresh server."""
    pid = running_server(maps, server_dir, tmp_path)
    p = subprocess.Popen(client_argv(server_dir, maps / 'big.mrc', tmp_path / 'big_out.mrc'),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)
    os.kill(pid, signal.SIGKILL)
    out, err = p.communicate(timeout=600)
    assert p.returncode == 1 and 'gave no answer' in err, (out, err)
    assert not (tmp_path / 'big_out.mrc').exists()
    r = call(server_dir, maps / 'half2.mrc', tmp_path / 'after.mrc')
    assert r.returncode == 0, r.stderr
    assert server_pid(r.stdout)[0] != pid


@needs_netenv
@needs_model
@pytest.mark.fault
def test_runtime_timeout_kills_the_stuck_server(maps, server_dir, tmp_path):
    pid = running_server(maps, server_dir, tmp_path)
    argv = client_argv(server_dir, maps / 'big.mrc', tmp_path / 'big_out.mrc')
    with pytest.raises(runtime.EnhancerFailure, match='timed out'):
        runtime.run_enhancer(argv, 2.0, str(tmp_path / 'log.txt'))
    deadline = time.time() + 10
    while alive(pid) and time.time() < deadline:
        time.sleep(0.1)
    assert not alive(pid)
    assert not (tmp_path / 'big_out.mrc').exists()


@needs_netenv
@needs_model
def test_idle_server_exits_and_removes_its_socket(maps, server_dir, tmp_path):
    r = call(server_dir, maps / 'half1.mrc', tmp_path / 'o.mrc', idle=1)
    assert r.returncode == 0, r.stderr
    pid = server_pid(r.stdout)[0]
    deadline = time.time() + 30
    while alive(pid) and time.time() < deadline:
        time.sleep(0.2)
    assert not alive(pid)
    assert not [n for n in os.listdir(server_dir) if n.endswith('.sock')]
    log = [n for n in os.listdir(server_dir) if n.endswith('.log')]
    with open(os.path.join(server_dir, log[0])) as f:
        assert 'exiting after 1 calls' in f.read()


@needs_netenv
@pytest.mark.fault
def test_server_that_cannot_start_falls_back_to_one_run(server_dir, tmp_path, maps):
    """A model TensorFlow cannot load: the server dies at start, the client says so and runs once
    (which fails with the loader's error, so the runtime keeps the plain map)."""
    model = tmp_path / 'broken.keras'
    model.write_bytes(b'not a keras file')
    r = call(server_dir, maps / 'half1.mrc', tmp_path / 'o.mrc', extra=['--model', str(model)])
    assert r.returncode != 0
    assert 'while starting' in r.stderr and 'running the worker once' in r.stderr, r.stderr[-3000:]
    assert not (tmp_path / 'o.mrc').exists()


@needs_netenv
@needs_model
def test_stop_servers_also_kills_a_server_still_starting(server_dir):
    """A client killed while its server loads TensorFlow leaves a server with no socket yet:
    stop_servers finds it all the same (it used to idle on for 10 min after the tests)."""
    d = service.server_dir(str(server_dir))
    sock = service.paths(d, 'starting')['socket']
    proc = subprocess.Popen([install.default_python(), '-E', '-s', service.__file__, '--serve', sock,
                             '--model', worker.DEFAULT_MODEL, '--idle', '600'],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    assert not os.path.exists(sock) and proc.poll() is None   # still importing TensorFlow
    assert proc.pid in service.stop_servers(d)
    assert proc.wait(timeout=10) == -signal.SIGKILL


@needs_netenv
@needs_model
@pytest.mark.fault
def test_server_is_the_kernels_first_choice_when_memory_runs_out(maps, server_dir, tmp_path):
    """Past the largest box a node holds, the kernel's OOM killer takes the largest process: the
    network server, which then fails this call (the runtime keeps RELION's map), never a RELION rank."""
    pid = running_server(maps, server_dir, tmp_path)
    with open('/proc/%d/oom_score_adj' % pid) as f:
        assert int(f.read()) == 1000
    with open('/proc/self/oom_score_adj') as f:
        assert int(f.read()) < 1000                 # the test itself (as RELION) is left alone
