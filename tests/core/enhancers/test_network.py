"""The ``network`` and ``keras`` backends: commands, checks, and real runs in the network environment."""
import os
import subprocess
import sys

import numpy as np
import pytest

from relion_dem.core.analysis import fsc as fsc
from relion_dem.core.maths import fourier
from relion_dem.core.io import mrc
from relion_dem.core.enhancers import process
from relion_dem.core.enhancers import BACKENDS, CallContext, EnhancerError, create
from relion_dem.core.enhancers.bundled_network import SERVICE, SHIPPED_MODEL, WORKER, KerasEnhancer, NetworkEnhancer
from relion_dem.core.network import install
from relion_dem_dev.training import simdata

CTX = CallContext('/run/x.star', 7, 2, 2.0, 8.0, [1.0, 0.8])
MODEL_PDB = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'relion_dem', 'data', 'adk_open.pdb.gz')
NETENV_WHY = install.env_status()
needs_netenv = pytest.mark.skipif(NETENV_WHY is not None, reason='network environment absent (%s); create it '
                                  'with `relion_dem install-network`' % NETENV_WHY)
needs_model = pytest.mark.skipif(not os.path.exists(SHIPPED_MODEL), reason='shipped weights %s missing' % SHIPPED_MODEL)


def test_registered():
    assert BACKENDS['network'] is NetworkEnhancer and BACKENDS['keras'] is KerasEnhancer


def test_default_command_calls_the_persistent_server_by_path_isolated(monkeypatch):
    monkeypatch.setenv('RELION_DEM_NETWORK_PYTHON', '/envs/net/bin/python')
    argv = create(dict(enhancer='network')).command('/w/in.mrc', '/w/out.mrc', CTX)
    assert argv == ['/envs/net/bin/python', '-E', '-s', SERVICE, '--idle', '600.0', '--',
                    '--input', '/w/in.mrc', '--output', '/w/out.mrc',
                    '--voxel-size', '2.0', '--model', SHIPPED_MODEL, '--batch-size', '4']
    assert os.path.exists(SERVICE) and os.path.exists(WORKER)


def test_every_option(tmp_path):
    argv = create(dict(enhancer='network', enhancer_options=dict(
        model=str(tmp_path / 'm.keras'), python='/p/python', batch_size=2, threads=2,
        noise_stats=[0.5, 0.25], keep_beyond_nyquist=False, whole_up_to=96, persistent=False,
        idle_s=30))).command('/w/in.mrc', '/w/out.mrc', CTX)
    assert argv == ['/p/python', '-E', '-s', WORKER, '--input', '/w/in.mrc', '--output', '/w/out.mrc',
                    '--voxel-size', '2.0', '--model', str(tmp_path / 'm.keras'), '--batch-size', '2',
                    '--threads', '2', '--noise-stats', '0.5', '0.25', '--no-keep-beyond-nyquist',
                    '--whole-up-to', '96']


def test_solvent_mask_radius_reaches_the_worker():
    ctx = CTX._replace(support_radius=80.0)
    argv = create(dict(enhancer='network')).command('/w/in.mrc', '/w/out.mrc', ctx)
    assert argv[-2:] == ['--support-radius', '80.0']
    argv = create(dict(enhancer='network', enhancer_options=dict(solvent_mask=False))).command(
        '/w/in.mrc', '/w/out.mrc', ctx)
    assert '--support-radius' not in argv
    assert '--support-radius' not in create(dict(enhancer='network')).command('/w/in.mrc', '/w/out.mrc', CTX)


def test_data_resolution_reaches_the_worker_as_input_lowpass():
    """FSC falling through 1/7 between shells 10 and 11 of a 40-voxel box at 2 Å: ~7.6 Å."""
    f = [1.0] * 8 + [0.6, 0.3, 0.2, 0.1] + [0.0] * 9
    argv = create(dict(enhancer='network')).command('/w/in.mrc', '/w/out.mrc', CTX._replace(fsc=f))
    assert argv[-2] == '--input-lowpass' and float(argv[-1]) == pytest.approx(40 * 2.0 / 10.57, rel=0.01)
    argv = create(dict(enhancer='network', enhancer_options=dict(input_lowpass=False))).command(
        '/w/in.mrc', '/w/out.mrc', CTX._replace(fsc=f))
    assert '--input-lowpass' not in argv


def test_keras_backend_command():
    e = create(dict(enhancer='keras', enhancer_options=dict(model='/m/user.h5', python='/p/python',
                                                              net_voxel_size=1.0, cube=48, overlap=12)))
    argv = e.command('/w/in.mrc', '/w/out.mrc', CTX)
    assert argv[argv.index('--model') + 1] == '/m/user.h5'
    assert argv[-6:] == ['--net-voxel-size', '1.0', '--cube', '48', '--overlap', '12']
    assert e.describe() == 'keras:user'


@pytest.mark.parametrize('backend, options, message', [
    ('keras', {}, 'option model'),
    ('network', dict(batch_size=0), 'batch_size'),
    ('network', dict(threads=-1), 'threads'),
    ('network', dict(noise_stats=[1, -1]), 'noise_stats'),
    ('network', dict(gpu=0), 'unknown option'),
    ('network', dict(persistent='yes'), 'persistent'),
    ('network', dict(idle_s=0), 'idle_s'),
    ('network', dict(whole_up_to=-1), 'whole_up_to'),
    ('network', dict(solvent_mask=1), 'solvent_mask'),
    ('keras', dict(model='m.keras', cube=-4), 'cube'),
])
def test_bad_options(backend, options, message):
    with pytest.raises(EnhancerError, match=message):
        create(dict(enhancer=backend, enhancer_options=options))


def test_missing_environment_says_install_network(tmp_path):
    model = tmp_path / 'm.keras'
    model.write_bytes(b'')
    e = create(dict(enhancer='network', enhancer_options=dict(model=str(model), python=str(tmp_path / 'py'))))
    with pytest.raises(EnhancerError, match='relion_dem install-network'):
        e.check()


def test_missing_model_is_reported(tmp_path):
    e = create(dict(enhancer='keras', enhancer_options=dict(model=str(tmp_path / 'none.keras'))))
    with pytest.raises(EnhancerError, match='does not exist'):
        e.check()


def noisy_map(box=48, voxel=2.0, res=8.0, seed=0):
    truth = simdata.rotated_truth(MODEL_PDB, box, voxel)
    p = simdata.fixed_params(voxel, res, 60.0)
    x, _, _ = simdata.simulate_pair(truth, voxel, np.random.default_rng(seed), p)
    return truth, (x * 3.0 + 1.5).astype(np.float32)  # arbitrary units, non-zero solvent level


@needs_netenv
@needs_model
def test_real_network_run_through_runtime_improves_the_map(tmp_path):
    truth, x = noisy_map()
    inp, out = str(tmp_path / 'input.mrc'), str(tmp_path / 'enhanced.mrc')
    mrc.write(inp, x, 2.0)
    e = create(dict(enhancer='network', enhancer_options=dict(threads=2)))
    e.check()
    process.run_enhancer(e.command(inp, out, CTX), 300, str(tmp_path / 'log.txt'))
    y = process.check_enhanced(out, x, 2.0)
    r_in = fsc.resolution(fsc.fsc(x, truth), 2.0, 0.5)
    r_out = fsc.resolution(fsc.fsc(y, truth), 2.0, 0.5)
    assert r_out < r_in - 0.5, (r_in, r_out)
    # statistics restored: the solvent level of the output is the input's
    c = (np.arange(48) - 24) ** 2
    outer = (c[:, None, None] + c[None, :, None] + c[None, None, :]) > (0.45 * 48) ** 2
    assert abs(float(y[outer].mean()) - float(x[outer].mean())) < 0.5 * float(x[outer].std())


@needs_netenv
@needs_model
def test_timeout_and_bad_input_fall_back(tmp_path):
    """The runtime's failure semantics: a killed (timed-out) or failing worker raises EnhancerFailure."""
    _, x = noisy_map()
    inp, out = str(tmp_path / 'input.mrc'), str(tmp_path / 'enhanced.mrc')
    mrc.write(inp, x, 2.0)
    e = create(dict(enhancer='network'))
    with pytest.raises(process.EnhancerFailure, match='timed out'):
        process.run_enhancer(e.command(inp, out, CTX), 0.5, str(tmp_path / 'log1.txt'))
    with open(tmp_path / 'bad.mrc', 'wb') as f:
        f.write(b'not a map')
    with pytest.raises(process.EnhancerFailure):
        process.run_enhancer(e.command(str(tmp_path / 'bad.mrc'), out, CTX), 300, str(tmp_path / 'log2.txt'))
    assert 'not a readable MRC map' in (tmp_path / 'log2.txt').read_text()


IDENTITY_MODEL = '''
import sys, keras
from keras import layers
inp = keras.Input((None, None, None, 1))
out = layers.Conv3D(1, 1, kernel_initializer='ones', bias_initializer='zeros')(inp)
keras.Model(inp, out).save(sys.argv[1])
'''


@needs_netenv
def test_keras_backend_with_a_user_model(tmp_path):
    """A user's Keras model (here the identity) goes through normalization, resampling and tiling
    and comes back as the input."""
    path = str(tmp_path / 'identity.keras')
    subprocess.run([install.default_python(), '-c', IDENTITY_MODEL, path], check=True, capture_output=True)
    _, x = noisy_map(box=40, voxel=2.0)
    x = fourier.lowpass(x, 2.0, 4.2)
    inp, out = str(tmp_path / 'in.mrc'), str(tmp_path / 'out.mrc')
    mrc.write(inp, x, 2.0)
    e = create(dict(enhancer='keras', enhancer_options=dict(model=path, net_voxel_size=1.5, cube=32, overlap=8)))
    e.check()
    process.run_enhancer(e.command(inp, out, CTX), 300, str(tmp_path / 'log.txt'))
    y = process.check_enhanced(out, x, 2.0)
    assert np.corrcoef(x.ravel(), y.ravel())[0, 1] > 0.999
    np.testing.assert_allclose(y, x, atol=0.05 * float(np.abs(x).max()))


@needs_netenv
@needs_model
def test_runtime_regularizes_a_real_relion_call_with_the_network(run_dir):
    """relion_dem_extrec on real RELION 3.1 request files with enhancer network: regularized, no fallback."""
    import shutil
    from relion_dem.core.runtime import config, runlog
    from conftest import make_run
    if shutil.which('relion_external_reconstruct') is None:
        pytest.skip('RELION (relion_external_reconstruct) is not installed')
    star_path = make_run(run_dir)
    config.write(os.path.join('Refine', 'relion_dem.json'), dict(enhancer='network', enhancer_options=dict(threads=2)))
    exe = os.path.join(os.path.dirname(sys.executable), 'relion_dem_extrec')
    proc = subprocess.run([exe, star_path], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr
    rec, = runlog.read('Refine/run_relion_dem.jsonl')
    assert rec['regularized'] is True and rec['fallback'] is None, rec
    assert rec['enhancer'] == 'network:relion_dem_unet'
    data, voxel = mrc.read(star_path.replace('.star', '.mrc'))
    assert data.shape == (24, 24, 24) and np.isfinite(data).all()
