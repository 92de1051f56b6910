"""The training command on a short schedule: seeded, reproducible, and what it saves is what the worker runs."""
import json
import os
import subprocess

import numpy as np
import pytest

from relion_dem.core.network import install
from relion_dem_dev.training import split

NETENV_WHY = install.env_status(modules=install.ALL_MODULES)
pytestmark = [
    pytest.mark.skipif(NETENV_WHY is not None, reason='network environment with gemmi absent (%s); create it '
                       'with `relion_dem install-network`' % NETENV_WHY),
    pytest.mark.skipif(not os.path.isdir(split.default_structures_dir()), reason='shared/data/structures absent'),
]
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))
SHORT = ['--steps', '6', '--base', '4', '--depth', '2', '--patch', '24', '--truth-box', '48', '--max-structures', '2',
         '--rotations', '2', '--pool', '4', '--batch', '2', '--val-every', '6', '--val-structures', '2',
         '--threads', '1', '--deterministic']


def train(out, cache, seed=1):
    proc = subprocess.run([install.default_python(), '-m', 'relion_dem_dev.training.train', '--out', str(out),
                           '--cache', str(cache), '--seed', str(seed)] + SHORT,
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(os.path.join(str(out), 'relion_dem_unet.json')) as f:
        return json.load(f), proc.stdout


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp('train')
    first = train(base / 'a', base / 'cache')
    second = train(base / 'b', base / 'cache')  # second run reads the cached truth bank
    return base, first, second


def test_short_schedule_reproduces_its_validation_figures(runs):
    _, (a, log_a), (b, log_b) = runs
    assert 'cached' not in log_a.split('truth bank bank')[1].splitlines()[0]
    assert 'cached' in log_b.split('truth bank bank')[1].splitlines()[0]
    for key in ('4', '7', '10'):
        for metric in ('rel_mse', 'fsc05_output', 'rel_mse_input', 'fsc05_input'):
            assert b['validation'][key][metric] == pytest.approx(a['validation'][key][metric], rel=0.02), (key, metric)
    assert a['validation']['4']['rel_mse_input'] > 0


def test_saved_settings_and_split(runs):
    base, (a, _), _ = runs
    assert a['net_voxel_size'] == [1.0, 1.5] and a['cube'] == 64 and a['multiple'] == 4
    assert a['holdout'] == list(split.HOLDOUT)
    assert not set(a['structures']) & set(split.HOLDOUT)
    assert a['architecture']['params'] > 0
    size = os.path.getsize(str(base / 'a' / 'relion_dem_unet.keras'))
    assert size < 1e6  # no optimizer state


def test_saved_model_runs_in_the_worker(runs, tmp_path):
    from relion_dem.core.io import mrc
    base, _, _ = runs
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, (40, 40, 40)).astype(np.float32)
    mrc.write(str(tmp_path / 'in.mrc'), x, 1.2)
    proc = subprocess.run([install.default_python(), '-E', '-s', os.path.join(ROOT, 'relion_dem', 'core', 'network',
                                                                              'worker.py'),
                           '--input', str(tmp_path / 'in.mrc'), '--output', str(tmp_path / 'out.mrc'),
                           '--model', str(base / 'a' / 'relion_dem_unet.keras'), '--threads', '1'],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    y, voxel = mrc.read(str(tmp_path / 'out.mrc'))
    assert y.shape == x.shape and voxel == pytest.approx(1.2) and np.isfinite(y).all()
