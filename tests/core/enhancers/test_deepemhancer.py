"""The deepEMhancer backend: the exact command built for each option, where deepEMhancer is found,
and a real run when deepEMhancer is installed."""
import os
import shutil
import stat

import numpy as np
import pytest

from relion_dem.core.io import mrc
from relion_dem.core.enhancers import BACKENDS, CallContext, EnhancerError, create
from relion_dem.core.enhancers.deepemhancer import DeepEMhancerEnhancer, find_env

CTX = CallContext('/run/Refine/run_it007_half1_class001_external_reconstruct.star', 7, 1, 1.35, 6.5, [1.0, 0.9])
EXE = '/opt/deepEMhancer/bin/deepemhancer'


def cmd(**options):
    return create(dict(enhancer='deepemhancer', enhancer_options=options)).command('/w/in.mrc', '/w/out.mrc', CTX)


def fake_program(path):
    """A stand-in file named deepemhancer (never run: only its presence is looked for)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write('#!/bin/sh\nexit 3\n')
    os.chmod(path, os.stat(path).st_mode | stat.S_IEXEC)
    return path


@pytest.fixture
def no_conda(monkeypatch, tmp_path):
    """An environment with no conda and no deepemhancer anywhere (HOME is an empty folder)."""
    for var in ('CONDA_EXE', 'CONDA_ROOT', 'CONDA_PREFIX', 'CONDA_PREFIX_1', 'MAMBA_ROOT_PREFIX', 'XMIPP_HOME'):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv('HOME', str(tmp_path / 'home'))
    monkeypatch.setenv('PATH', str(tmp_path / 'bin'))
    return tmp_path


def test_registered():
    assert BACKENDS['deepemhancer'] is DeepEMhancerEnhancer


def test_default_command():
    assert cmd(executable=EXE, gpu='0') == [EXE, '-i', '/w/in.mrc', '-o', '/w/out.mrc', '-p', 'tightTarget',
                                            '-s', '1.35', '-g', '0', '-b', '8']


@pytest.mark.parametrize('ptype', ['tightTarget', 'wideTarget', 'highRes'])
def test_processing_types(ptype):
    argv = cmd(executable=EXE, processing_type=ptype, gpu='-1')
    assert argv[argv.index('-p') + 1] == ptype


def test_every_option():
    argv = cmd(executable=EXE, processing_type='highRes', model_path='/models/production_checkpoints',
               gpu='1,2', batch_size=2, noise_stats=[0.12, 0.03], cleaning_strength=0.1)
    assert argv == [EXE, '-i', '/w/in.mrc', '-o', '/w/out.mrc', '-p', 'highRes', '-s', '1.35', '-g', '1,2',
                    '-b', '2', '--deepLearningModelPath', '/models/production_checkpoints',
                    '--noiseStats', '0.12', '0.03', '--cleaningStrengh', '0.1']


def test_cpu_only_and_auto_gpu():
    assert cmd(executable=EXE, gpu=-1)[cmd(executable=EXE, gpu=-1).index('-g') + 1] == '-1'
    auto = cmd(executable=EXE)
    assert auto[auto.index('-g') + 1] == ('0' if shutil.which('nvidia-smi') else '-1')


def test_single_model_file_only_with_tight_target():
    argv = cmd(executable=EXE, model_path='/m/deepEMhancer_tightTarget.hd5', gpu='-1')
    assert argv[-2:] == ['--deepLearningModelPath', '/m/deepEMhancer_tightTarget.hd5']
    with pytest.raises(EnhancerError, match='only with processing_type tightTarget'):
        cmd(executable=EXE, model_path='/m/deepEMhancer_highRes.hd5', processing_type='highRes')


@pytest.mark.parametrize('options, message', [
    (dict(processing_type='sharp'), 'processing_type must be one of'),
    (dict(gpu='cuda:0'), 'gpu must be'),
    (dict(batch_size=0), 'batch_size'),
    (dict(noise_stats=[0.1]), 'noise_stats'),
    (dict(noise_stats=[0.1, 0.0]), 'noise_stats'),
    (dict(cleaning_strength=2), 'cleaning_strength'),
    (dict(strength=1), 'unknown option'),
])
def test_bad_options_rejected(options, message):
    with pytest.raises(EnhancerError, match=message):
        create(dict(enhancer='deepemhancer', enhancer_options=options))


def test_not_installed_says_how_to_install(no_conda):
    e = create(dict(enhancer='deepemhancer'))
    with pytest.raises(EnhancerError, match='deepemhancer --download'):
        e.check()
    with pytest.raises(EnhancerError, match='not found'):
        e.command('/w/in.mrc', '/w/out.mrc', CTX)


def test_found_on_path(no_conda):
    exe = fake_program(str(no_conda / 'bin' / 'deepemhancer'))
    argv = cmd(gpu='-1')
    assert argv[0] == exe and argv[1:3] == ['-i', '/w/in.mrc']
    create(dict(enhancer='deepemhancer')).check()  # default models folder: nothing more to check


def test_xmipp_environment_and_models_without_conda(no_conda, monkeypatch):
    root = no_conda / 'miniconda'
    fake_program(str(root / 'envs' / 'xmipp_deepEMhancer' / 'bin' / 'deepemhancer'))
    monkeypatch.setenv('CONDA_ROOT', str(root))
    xmipp = no_conda / 'xmipp'
    models = xmipp / 'models' / 'deepEMhancer_v016' / 'production_checkpoints'
    models.mkdir(parents=True)
    monkeypatch.setenv('XMIPP_HOME', str(xmipp))
    argv = cmd(gpu='-1')
    assert argv[0] == str(root / 'envs' / 'xmipp_deepEMhancer' / 'bin' / 'deepemhancer')
    assert argv[-2:] == ['--deepLearningModelPath', str(models)]
    e = create(dict(enhancer='deepemhancer'))
    with pytest.raises(EnhancerError, match='deepEMhancer_tightTarget.hd5 missing'):
        e.check()
    (models / 'deepEMhancer_tightTarget.hd5').write_bytes(b'')
    e.check()


def test_named_env_run_through_conda(no_conda, monkeypatch):
    root = no_conda / 'conda'
    conda = fake_program(str(root / 'bin' / 'conda'))
    fake_program(str(root / 'envs' / 'deepEMhancer_env' / 'bin' / 'deepemhancer'))
    monkeypatch.setenv('CONDA_EXE', conda)
    argv = cmd(conda_env='deepEMhancer_env', gpu='0')
    assert argv[:6] == [conda, 'run', '--no-capture-output', '-p', str(root / 'envs' / 'deepEMhancer_env'),
                        'deepemhancer']
    assert argv[6:] == ['-i', '/w/in.mrc', '-o', '/w/out.mrc', '-p', 'tightTarget', '-s', '1.35', '-g', '0',
                        '-b', '8']
    assert find_env('deepEMhancer_env') == str(root / 'envs' / 'deepEMhancer_env')
    with pytest.raises(EnhancerError, match="conda environment 'other' not found"):
        cmd(conda_env='other')


def test_describe():
    assert create(dict(enhancer='deepemhancer', enhancer_options=dict(processing_type='wideTarget'))
                  ).describe() == 'deepemhancer:wideTarget'


def _real_deepemhancer():
    try:
        DeepEMhancerEnhancer({}).check()
        return None
    except EnhancerError as e:
        return str(e)


REAL_WHY = _real_deepemhancer()


@pytest.mark.skipif(REAL_WHY is not None, reason='deepEMhancer is not installed here (%s)' % REAL_WHY)
def test_real_run_on_a_map(tmp_path):
    """The real program, through the runtime's own subprocess runner and output checks."""
    from relion_dem.core.enhancers import process
    rng = np.random.default_rng(0)
    c = (np.arange(64) - 32) ** 2
    blob = np.exp(-(c[:, None, None] + c[None, :, None] + c[None, None, :]) / 60.0) * 5
    data = (blob + rng.normal(0, 0.5, (64,) * 3)).astype(np.float32)
    inp, out = str(tmp_path / 'in.mrc'), str(tmp_path / 'out.mrc')
    mrc.write(inp, data, 1.35)
    e = DeepEMhancerEnhancer(dict(gpu='auto'))
    process.run_enhancer(e.command(inp, out, CTX), 3600, str(tmp_path / 'log.txt'))
    result = process.check_enhanced(out, data, 1.35)
    assert result.shape == data.shape and np.isfinite(result).all()
