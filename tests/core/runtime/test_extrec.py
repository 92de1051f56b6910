"""The runtime with the real relion_external_reconstruct on real RELION request files."""
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from relion_dem.core.runtime import config, runlog, extrec as runtime
from relion_dem.core.io import mrc
from conftest import break_file, make_run, needs_relion

pytestmark = needs_relion
FAULTY = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(__file__))), 'faulty_enhancer.py')


def write_config(folder, **settings):
    path = os.path.join(folder, 'relion_dem.json')
    config.write(path, settings)
    return path


def faulty(mode):
    return {'argv': [sys.executable, FAULTY, mode, '{input}', '{output}']}


def run_extrec(star_path, env=None):
    """The installed console command, as relion_refine calls it."""
    exe = os.path.join(os.path.dirname(sys.executable), 'relion_dem_extrec')
    return subprocess.run([exe, star_path], capture_output=True, text=True, env=env)


def result_path(star_path):
    return star_path.replace('.star', '.mrc')


def test_plain_call_writes_result_with_voxel_size_and_log(run_dir):
    star_path = make_run(run_dir)
    write_config('Refine', enhancer='none')
    proc = run_extrec(star_path)
    assert proc.returncode == 0, proc.stderr
    data, voxel = mrc.read(result_path(star_path))
    assert data.shape == (24, 24, 24) and voxel == pytest.approx(6.0)
    assert 'relion_dem: it 7 half 1: gate open' in proc.stdout
    rec, = runlog.read('Refine/run_relion_dem.jsonl')
    assert rec['iteration'] == 7 and rec['half'] == 1 and rec['gate'] is True
    assert rec['regularized'] is False and rec['enhancer'] == 'none' and rec['healpix_order'] == 2
    # nothing but the result and the log is left behind
    assert not [f for f in os.listdir('Refine') if f.startswith('.')]


def test_classical_regularizes_once_gate_open(run_dir):
    star_path = make_run(run_dir)
    write_config('Refine', enhancer='classical')
    proc = run_extrec(star_path)
    assert proc.returncode == 0, proc.stderr
    rec, = runlog.read('Refine/run_relion_dem.jsonl')
    assert rec['regularized'] and rec['fallback'] is None and rec['fsc_guard_shell'] >= 2
    plain_path = make_run(run_dir, folder='Plain')
    write_config('Plain', enhancer='none')
    assert run_extrec(plain_path).returncode == 0
    reg, _ = mrc.read(result_path(star_path))
    plain, _ = mrc.read(result_path(plain_path))
    assert not np.allclose(reg, plain)
    assert np.corrcoef(reg.ravel(), plain.ravel())[0, 1] > 0.5


def test_gate_closed_keeps_plain(run_dir):
    star_path = make_run(run_dir, local_order_seen=False)
    write_config('Refine', enhancer='classical')
    assert run_extrec(star_path).returncode == 0
    rec, = runlog.read('Refine/run_relion_dem.jsonl')
    assert rec['gate'] is False and rec['regularized'] is False and rec['enhancer_s'] == 0.0


@pytest.mark.bad_input
def test_iteration_over_99_and_path_with_spaces(run_dir):
    star_path = make_run(run_dir, folder='My Refine (v2) $HOME;rm', iteration=123, half=2)
    write_config('My Refine (v2) $HOME;rm', enhancer='classical')
    proc = run_extrec(star_path)
    assert proc.returncode == 0, proc.stderr
    rec, = runlog.read('My Refine (v2) $HOME;rm/run_relion_dem.jsonl')
    assert (rec['iteration'], rec['half'], rec['regularized']) == (123, 2, True)
    assert mrc.read(result_path(star_path))[0].shape == (24, 24, 24)


@pytest.mark.parametrize('mode, reason', [
    ('exit', 'exited with status 3'),
    ('nan', 'NaN or Inf'),
    ('wrongbox', 'output box'),
    ('wrongvoxel', 'voxel size'),
    ('nothing', 'wrote no output map'),
    ('partial', 'killed by signal 9'),
])
@pytest.mark.fault
def test_enhancer_failure_falls_back_to_plain(run_dir, mode, reason):
    star_path = make_run(run_dir)
    write_config('Refine', enhancer='command', enhancer_options=faulty(mode))
    proc = run_extrec(star_path)
    assert proc.returncode == 0, proc.stderr
    assert 'FALLBACK' in proc.stdout
    rec, = runlog.read('Refine/run_relion_dem.jsonl')
    assert not rec['regularized'] and reason in rec['fallback']
    ref_path = make_run(run_dir, folder='Ref')
    write_config('Ref', enhancer='none')
    run_extrec(ref_path)
    np.testing.assert_allclose(mrc.read(result_path(star_path))[0], mrc.read(result_path(ref_path))[0])


@pytest.mark.fault
def test_hanging_enhancer_killed_with_its_children(run_dir):
    star_path = make_run(run_dir)
    write_config('Refine', enhancer='command', enhancer_options=faulty('hang'), timeout_s=2)
    t = time.time()
    proc = run_extrec(star_path)
    assert proc.returncode == 0 and time.time() - t < 30
    rec, = runlog.read('Refine/run_relion_dem.jsonl')
    assert 'timed out after 2 s' in rec['fallback']
    leftover = subprocess.run(['pgrep', '-f', 'time.sleep\\(600\\)'], capture_output=True, text=True)
    assert leftover.returncode == 1, leftover.stdout + leftover.stderr     # 1: no such process


@pytest.mark.fault
def test_enhancer_out_of_memory_falls_back(run_dir):
    star_path = make_run(run_dir)
    argv = ['prlimit', '--as=1500000000', sys.executable, FAULTY, 'oom', '{input}', '{output}']
    write_config('Refine', enhancer='command', enhancer_options={'argv': argv})
    proc = run_extrec(star_path)
    assert proc.returncode == 0
    rec, = runlog.read('Refine/run_relion_dem.jsonl')
    assert not rec['regularized'] and 'exited with status' in rec['fallback']


@pytest.mark.fault
def test_missing_enhancer_program_falls_back(run_dir):
    star_path = make_run(run_dir)
    write_config('Refine', enhancer='command', enhancer_options={'argv': ['no-such-denoiser', '{input}']})
    assert run_extrec(star_path).returncode == 0
    rec, = runlog.read('Refine/run_relion_dem.jsonl')
    assert 'cannot start no-such-denoiser' in rec['fallback']


@pytest.mark.bad_input
def test_broken_relion_input_stops_with_message_and_no_result(run_dir):
    star_path = make_run(run_dir)
    break_file(star_path.replace('.star', '_weight.mrc'))
    proc = run_extrec(star_path)
    assert proc.returncode == 1
    assert star_path in proc.stderr and 'relion_external_reconstruct failed' in proc.stderr
    assert not os.path.exists(result_path(star_path))
    assert not [f for f in os.listdir('Refine') if f.startswith('.')]


@pytest.mark.bad_input
def test_missing_star_stops_with_message(run_dir):
    proc = run_extrec('Refine/run_it001_half1_class001_external_reconstruct.star')
    assert proc.returncode == 1 and 'cannot read STAR file' in proc.stderr


@pytest.mark.bad_input
def test_bad_config_falls_back_and_says_why(run_dir):
    star_path = make_run(run_dir)
    with open('Refine/relion_dem.json', 'w') as f:
        json.dump({'enhancer': 'clasical'}, f)
    proc = run_extrec(star_path)
    assert proc.returncode == 0
    rec, = runlog.read('Refine/run_relion_dem.jsonl')
    assert "enhancer 'clasical' is not one of" in rec['fallback'] and not rec['regularized']


def hold_lock(lock):
    """Another process that holds ``lock`` (flock) until it is killed."""
    holder = subprocess.Popen([sys.executable, '-c',
                               'import fcntl,os,time; fd=os.open(%r, os.O_RDWR|os.O_CREAT); '
                               'fcntl.flock(fd, fcntl.LOCK_EX); print("held", flush=True); time.sleep(600)' % lock],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == 'held'
    return holder


@pytest.mark.fault
def test_halves_in_parallel_share_a_device_lock(run_dir):
    h1 = make_run(run_dir, half=1)
    h2 = make_run(run_dir, half=2)
    write_config('Refine', enhancer='command', enhancer_options=faulty('slow-ok'),
                 device_lock=str(run_dir / 'gpu0.lock'))
    exe = os.path.join(os.path.dirname(sys.executable), 'relion_dem_extrec')
    procs = [subprocess.Popen([exe, s], stdout=subprocess.PIPE, text=True) for s in (h1, h2)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    recs = runlog.read('Refine/run_relion_dem.jsonl')
    assert sorted(r['half'] for r in recs) == [1, 2]
    assert all(r['regularized'] for r in recs)
    assert max(r['lock_wait_s'] for r in recs) > 0.5      # one waited for the other


@pytest.mark.fault
def test_lock_left_by_killed_process_is_recovered(run_dir):
    star_path = make_run(run_dir)
    lock = str(run_dir / 'gpu0.lock')
    holder = hold_lock(lock)
    holder.kill()
    holder.wait()
    write_config('Refine', enhancer='command', enhancer_options=faulty('ok'), device_lock=lock,
                 lock_timeout_s=5)
    assert run_extrec(star_path).returncode == 0
    rec, = runlog.read('Refine/run_relion_dem.jsonl')
    assert rec['regularized'] and rec['lock_wait_s'] < 1


@pytest.mark.fault
def test_lock_timeout_falls_back(run_dir):
    star_path = make_run(run_dir)
    lock = str(run_dir / 'gpu0.lock')
    holder = hold_lock(lock)
    try:
        write_config('Refine', enhancer='command', enhancer_options=faulty('ok'), device_lock=lock,
                     lock_timeout_s=1)
        assert run_extrec(star_path).returncode == 0
        rec, = runlog.read('Refine/run_relion_dem.jsonl')
        assert not rec['regularized'] and 'still held after 1 s' in rec['fallback']
    finally:
        holder.kill()


@pytest.mark.bad_input
def test_voxel_size_mismatch_stops_with_message(run_dir):
    star_path = make_run(run_dir)
    write_config('Refine', enhancer='none', voxel_size=3.0)     # the run's model STAR says 6 Å
    proc = run_extrec(star_path)
    assert proc.returncode == 1
    assert "voxel_size 3 Å" in proc.stderr and "_rlnPixelSize 6 Å" in proc.stderr
    assert not os.path.exists(result_path(star_path))


def _can_mount_tmpfs(path):
    if os.geteuid() != 0:
        return False
    os.makedirs(path, exist_ok=True)
    ok = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', path],
                        capture_output=True).returncode == 0
    if ok:
        subprocess.run(['umount', path])
    return ok


@pytest.mark.fault
def test_disk_full_leaves_no_truncated_map(tmp_path, monkeypatch):
    disk = str(tmp_path / 'disk')
    if not _can_mount_tmpfs(disk):
        pytest.skip('needs root and tmpfs mounts to fill a disk')
    subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', disk], check=True)
    try:
        monkeypatch.chdir(disk)
        star_path = make_run(disk)
        write_config('Refine', enhancer='none')
        used = int(subprocess.run(['df', '--output=used', '-B1', disk], capture_output=True,
                                  text=True).stdout.split()[-1])
        # room for RELION's plain reconstruction (56 kB) but not for the result beside it
        subprocess.run(['mount', '-o', 'remount,size=%d' % (used + 80 * 1024), disk], check=True)
        proc = run_extrec(star_path)
        assert proc.returncode == 1
        assert 'cannot write the result %s (No space left on device)' % result_path(star_path) in proc.stderr
        assert not os.path.exists(result_path(star_path))        # nothing truncated where RELION reads
        from conftest import lost_files
        assert lost_files(disk) == []
    finally:
        monkeypatch.chdir(str(tmp_path))
        subprocess.run(['umount', '-l', disk])


@pytest.mark.bad_input
def test_reconstruction_failure_is_logged(run_dir):
    star_path = make_run(run_dir)
    write_config('Refine', enhancer='none')
    break_file(star_path.replace('.star', '_data_real.mrc'))
    assert run_extrec(star_path).returncode == 1
    rec, = runlog.read('Refine/run_relion_dem.jsonl')
    assert 'relion_external_reconstruct failed' in rec['error'] and rec['iteration'] == 7


def shell_coefficients(data, shells):
    """Fourier coefficients of ``data`` in the given shells (rounded radius)."""
    from relion_dem.core.maths import fourier
    idx = fourier.radial_index(data.shape)
    return np.fft.rfftn(data.astype(np.float64))[np.isin(idx, shells)]


@pytest.mark.fault
def test_harm_guard_puts_back_the_data_where_the_network_lost_it(run_dir):
    """An enhancer output that no longer correlates with its input in shells 6-7 (resolved:
    gold-standard FSC 0.59, 0.55) gets the plain reconstruction back in those shells, says so
    in the log and the progress line, and keeps its own coefficients elsewhere."""
    star_path = make_run(run_dir)
    write_config('Refine', enhancer='command', enhancer_options=faulty('decorrelate-band'), keep_maps=True)
    proc = run_extrec(star_path)
    assert proc.returncode == 0, proc.stderr
    result, _ = mrc.read(result_path(star_path))
    plain, _ = mrc.read(result_path(star_path).replace('.mrc', '_plain.mrc'))
    got, want = shell_coefficients(result, [6, 7]), shell_coefficients(plain, [6, 7])
    assert np.abs(got - want).max() < 1e-3 * np.abs(want).max()
    rec, = runlog.read('Refine/run_relion_dem.jsonl')
    assert rec['regularized'] and rec['fallback'] is None
    assert rec.get('harm_guard', {}).get('shells_replaced') == [6, 7]
    assert 'do-no-harm guard: 2 shell(s) plain' in proc.stdout
    # the shells the enhancer did not damage are its own (halved), not the plain map's
    low, plain_low = shell_coefficients(result, [2, 3]), shell_coefficients(plain, [2, 3])
    assert np.allclose(low, 0.5 * plain_low, rtol=0, atol=1e-3 * np.abs(plain_low).max())


@pytest.mark.fault
def test_harm_guard_over_the_sampled_directions_reads_relions_weight(run_dir):
    """``harm_directions`` ``sampled``: the guard reads the request's back-projected weight and
    judges each shell over the coefficients the half's data reached (this run's orientations
    cover the sphere: nearly all), and still puts the data back where the network lost it."""
    star_path = make_run(run_dir)
    write_config('Refine', enhancer='command', enhancer_options=faulty('decorrelate-band'),
                 harm_directions='sampled')
    proc = run_extrec(star_path)
    assert proc.returncode == 0, proc.stderr
    rec, = runlog.read('Refine/run_relion_dem.jsonl')
    assert rec['regularized'] and rec['fallback'] is None
    assert rec['harm_guard']['shells_replaced'] == [6, 7]
    assert 0.8 < (rec['harm_guard'].get('sampled_fraction') or 0) <= 1.0, rec['harm_guard']


@pytest.mark.bad_input
def test_unusable_weight_keeps_the_plain_map_and_names_the_file(run_dir):
    """The guard cannot judge the sampled directions without the weight: the call's regularization
    fails closed (EnhancerFailure, i.e. RELION's plain map), naming the STAR and the weight file."""
    from relion_dem.core.io import star
    from relion_dem.core.enhancers.process import EnhancerFailure
    star_path = make_run(run_dir)
    weight = star.block(star.read(star_path), runtime.GENERAL).get('_rlnExtReconsWeight')
    with pytest.raises(EnhancerFailure) as e:
        runtime.request_weight(star_path, weight, 20)          # the run's box is 24: not its weight's grid
    assert star_path in str(e.value) and weight in str(e.value) and 'plain map kept' in str(e.value)
    break_file(weight)
    with pytest.raises(EnhancerFailure, match='not a readable MRC map'):
        runtime.request_weight(star_path, weight, 24)


@pytest.mark.fault
def test_harm_guard_falls_back_when_the_structure_is_lost(run_dir):
    """Shells 1-4 (the molecule's shape, most of the signal) decorrelated: the whole call
    falls back to the plain reconstruction, with the reason logged."""
    star_path = make_run(run_dir)
    write_config('Refine', enhancer='command', enhancer_options=faulty('decorrelate-low'))
    proc = run_extrec(star_path)
    assert proc.returncode == 0, proc.stderr
    rec, = runlog.read('Refine/run_relion_dem.jsonl')
    assert rec['regularized'] is False
    assert rec['fallback'].startswith('do-no-harm guard: the enhanced map disagrees with the data')
    assert rec['harm_guard']['failing_signal_fraction'] > 0.25
    assert 'FALLBACK: do-no-harm guard' in proc.stdout
    fallback, _ = mrc.read(result_path(star_path))
    write_config('Refine', enhancer='none')           # the same call, plain
    assert run_extrec(star_path).returncode == 0
    plain, _ = mrc.read(result_path(star_path))
    assert np.array_equal(fallback, plain)


@pytest.mark.fault
def test_fsc_guard_keeps_the_plain_map_beyond_the_cutoff(run_dir):
    """The enhancer halves every shell; the FSC guard (cutoff: shell 10, where the gold-standard
    FSC falls below 1/7) puts RELION's own coefficients back from there on."""
    star_path = make_run(run_dir)
    write_config('Refine', enhancer='command', enhancer_options=faulty('ok'), keep_maps=True)
    assert run_extrec(star_path).returncode == 0
    rec, = runlog.read('Refine/run_relion_dem.jsonl')
    assert rec['regularized'] and rec['fsc_guard_shell'] == 10
    result, _ = mrc.read(result_path(star_path))
    plain, _ = mrc.read(result_path(star_path).replace('.mrc', '_plain.mrc'))
    beyond, plain_beyond = shell_coefficients(result, [10, 11, 12]), shell_coefficients(plain, [10, 11, 12])
    scale = np.abs(plain_beyond).max()
    assert scale > 0 and np.abs(beyond - plain_beyond).max() < 1e-3 * scale
    inside, plain_inside = shell_coefficients(result, [2, 3, 4, 5]), shell_coefficients(plain, [2, 3, 4, 5])
    assert np.allclose(inside, 0.5 * plain_inside, rtol=0, atol=1e-3 * np.abs(plain_inside).max())


@pytest.mark.parametrize('version', ['relion40', 'relion50'])
def test_relion4_and_5_requests(run_dir, version):
    """RELION 4.0.2's and 5.0.1's requests (``_rlnPixelSize`` and ``_rlnParticleDiameter`` in them;
    their relion_external_reconstruct writes the weight file's 1 Å header): the voxel size comes
    from the request, and the call is regularized behind both guards."""
    star_path = make_run(run_dir, version=version)
    write_config('Refine', enhancer='classical')
    proc = run_extrec(star_path)
    assert proc.returncode == 0, proc.stderr
    rec, = runlog.read('Refine/run_relion_dem.jsonl')
    assert rec['voxel_size'] == pytest.approx(3.0) and rec['healpix_order'] == 2 and rec['local_order'] == 2
    assert rec['regularized'] and rec['fallback'] is None and rec['harm_guard']['shells_checked'] > 5
    data, voxel = mrc.read(result_path(star_path))
    assert data.shape == (40, 40, 40) and voxel == pytest.approx(3.0)


@pytest.mark.fault
def test_work_folder_of_a_killed_call_is_removed_by_the_next(run_dir):
    """A call killed with its refinement (SIGKILL: no clean-up) leaves its work folder and a
    half-written temporary map; the next call in that folder removes both, and leaves a live
    process's files and another host's alone."""
    import shutil
    import socket
    star_path = make_run(run_dir)
    write_config('Refine', enhancer='none')
    dead = subprocess.Popen([sys.executable, '-c', 'pass'])
    dead.wait()
    host = socket.gethostname()
    stale = os.path.join('Refine', '%s%s_%d_abc' % (runtime.WORKDIR_PREFIX, host, dead.pid))
    live = os.path.join('Refine', '%s%s_%d_def' % (runtime.WORKDIR_PREFIX, host, os.getppid()))
    stale_tmp = os.path.join('Refine', '.run_it004_half2_class001_external_reconstruct.%s_%d_x1.tmp.mrc'
                             % (host, dead.pid))
    other_host = os.path.join('Refine', '.run_it004_half1_class001_external_reconstruct.%s-b_%d_x2.tmp.mrc'
                              % (host, dead.pid))
    for d in (stale, live):
        os.makedirs(d)
        open(os.path.join(d, 'plain.mrc'), 'w').close()
    for f in (stale_tmp, other_host):
        open(f, 'wb').write(b'half a map')
    assert run_extrec(star_path).returncode == 0
    assert not os.path.exists(stale) and not os.path.exists(stale_tmp)
    assert os.path.exists(live) and os.path.exists(other_host)
    shutil.rmtree(live)
    os.unlink(other_host)


def edit_fsc(star_path, edit):
    """Rewrite the request's gold-standard FSC column (``edit(values) -> values``; None drops the column)."""
    from relion_dem.core.io import star
    blocks = star.read(star_path)
    tau2 = star.block(blocks, runtime.TAU2)
    col = tau2.labels.index('_rlnGoldStandardFsc')
    values = edit([float(r[col]) for r in tau2.rows]) if edit else None
    if values is None:
        tau2.labels.pop(col)
        for r in tau2.rows:
            r.pop(col)
    else:
        for r, v in zip(tau2.rows, values):
            r[col] = '%r' % v
    star.write(star_path, blocks)


@pytest.mark.fault
@pytest.mark.parametrize('edit, reason', [
    (None, 'no gold-standard FSC in the request'),
    (lambda v: [float('nan')] * len(v), 'gold-standard FSC holds NaN or Inf'),
    (lambda v: [v[0]] + [0.0] * (len(v) - 1), 'gold-standard FSC is zero at every shell'),
    (lambda v: [1.5] * len(v), 'gold-standard FSC holds values outside [-1, 1]'),
], ids=['no-column', 'nan', 'zero', 'above-one'])
def test_request_without_usable_fsc_keeps_the_plain_map(run_dir, edit, reason):
    """Without a usable gold-standard FSC neither guard can judge the enhanced map: the guards
    fail closed, the call returns RELION's plain map, logged and printed as a fallback, and the
    enhancer is not run."""
    star_path = make_run(run_dir)
    edit_fsc(star_path, edit)
    write_config('Refine', enhancer='command', enhancer_options=faulty('ok'))
    proc = run_extrec(star_path)
    assert proc.returncode == 0, proc.stderr
    rec, = runlog.read('Refine/run_relion_dem.jsonl')
    assert rec['gate'] is True and rec['regularized'] is False and rec['enhancer_s'] == 0.0
    assert rec['fallback'] == 'guards: %s; plain map kept' % reason
    assert 'FALLBACK: guards: %s' % reason in proc.stdout
    result, _ = mrc.read(result_path(star_path))
    write_config('Refine', enhancer='none')           # the same call, plain
    assert run_extrec(star_path).returncode == 0
    plain, _ = mrc.read(result_path(star_path))
    assert np.array_equal(result, plain)


def test_without_guards_a_request_without_fsc_is_regularized(run_dir):
    """With both guards off (the user's explicit choice) the FSC is not needed."""
    star_path = make_run(run_dir)
    edit_fsc(star_path, None)
    write_config('Refine', enhancer='command', enhancer_options=faulty('ok'), fsc_guard=False, harm_guard=False)
    assert run_extrec(star_path).returncode == 0
    rec, = runlog.read('Refine/run_relion_dem.jsonl')
    assert rec['regularized'] is True and rec['fallback'] is None


@pytest.mark.fault
def test_regularization_killed_for_memory_gives_relion_the_plain_map(run_dir):
    """The kernel's OOM killer ends the process holding the guards (here: the enhancer kills
    the process that started it, as the kernel would): the call still hands RELION its plain
    map, logged as a fallback (core/runtime/isolation.py)."""
    star_path = make_run(run_dir)
    write_config('Refine', enhancer='command', enhancer_options=faulty('killparent'))
    proc = run_extrec(star_path)
    assert proc.returncode == 0, proc.stderr
    rec, = runlog.read('Refine/run_relion_dem.jsonl')
    assert not rec['regularized'] and 'killed by signal 9' in rec['fallback']
    assert os.path.exists(result_path(star_path))
