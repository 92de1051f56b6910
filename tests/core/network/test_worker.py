"""The worker program in the network environment, with the shipped weights."""
import json
import os
import subprocess

import numpy as np
import pytest

from relion_dem.core.analysis import fsc as fsc
from relion_dem.core.io import mrc
from relion_dem.core.network import install, worker
from relion_dem_dev.training import simdata, split

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))
NETENV_WHY = install.env_status()
pytestmark = [
    pytest.mark.skipif(NETENV_WHY is not None, reason='network environment absent (%s); create it with '
                       '`relion_dem install-network`' % NETENV_WHY),
    pytest.mark.skipif(not os.path.exists(worker.DEFAULT_MODEL), reason='shipped weights missing'),
]
MODEL_PDB = os.path.join(ROOT, 'relion_dem', 'data', '19hc.pdb.gz')


def run_worker(args, module=False):
    head = ['-m', 'relion_dem.core.network.worker'] if module else ['-E', '-s', worker.__file__]
    return subprocess.run([install.default_python()] + head + args, cwd=ROOT, capture_output=True, text=True,
                          timeout=600)


def test_shipped_weights_small_and_described():
    assert os.path.getsize(worker.DEFAULT_MODEL) < 20e6
    meta_path = os.path.splitext(worker.DEFAULT_MODEL)[0] + '.json'
    with open(meta_path) as f:
        meta = json.load(f)
    assert meta['net_voxel_size'] == [1.0, 1.5] and meta['holdout'] == list(split.HOLDOUT)
    assert not set(meta['structures']) & (set(split.HOLDOUT) | set(split.EXCLUDED))
    assert os.path.exists(os.path.join(os.path.dirname(worker.DEFAULT_MODEL), 'MODEL_CARD.md'))


@pytest.fixture(scope='module')
def demo_half_map(tmp_path_factory):
    """19hc (held out: the demo structure) at 2 Å, box 56, as a half-map at 7 Å."""
    d = tmp_path_factory.mktemp('worker')
    truth = simdata.rotated_truth(MODEL_PDB, 56, 2.0)
    p = simdata.fixed_params(2.0, 7.0, 80.0, slope=-0.5)
    x, _, _ = simdata.simulate_pair(truth, 2.0, np.random.default_rng(11), p)
    mrc.write(str(d / 'half.mrc'), x, 2.0)
    return d, truth, x


def test_denoises_a_held_out_half_map(demo_half_map):
    d, truth, x = demo_half_map
    proc = run_worker(['--input', str(d / 'half.mrc'), '--output', str(d / 'out.mrc'), '--threads', '2'])
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert 'inference' in proc.stdout
    y, voxel = mrc.read(str(d / 'out.mrc'))
    assert y.shape == x.shape and voxel == pytest.approx(2.0)
    r_in = fsc.resolution(fsc.fsc(x, truth), 2.0, 0.5)
    r_out = fsc.resolution(fsc.fsc(y, truth), 2.0, 0.5)
    assert r_out < r_in - 1.0, (r_in, r_out)


def test_runs_as_module_with_voxel_override(demo_half_map):
    d, _, x = demo_half_map
    proc = run_worker(['--input', str(d / 'half.mrc'), '--output', str(d / 'out_m.mrc'), '--voxel-size', '2.0',
                       '--noise-stats', '0.0', '0.1', '--batch-size', '1'], module=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    y, _ = mrc.read(str(d / 'out_m.mrc'))
    assert np.isfinite(y).all() and y.std() > 0


def test_clear_errors(tmp_path):
    proc = run_worker(['--input', str(tmp_path / 'none.mrc'), '--output', str(tmp_path / 'o.mrc')])
    assert proc.returncode == 2 and 'does not exist' in proc.stderr
    mrc.write(str(tmp_path / 'flat.mrc'), np.zeros((4, 5, 6), np.float32), 1.0)
    proc = run_worker(['--input', str(tmp_path / 'flat.mrc'), '--output', str(tmp_path / 'o.mrc')])
    assert proc.returncode == 2 and 'cubic' in proc.stderr
    proc = run_worker(['--input', str(tmp_path / 'flat.mrc'), '--output', str(tmp_path / 'o.mrc'),
                       '--model', str(tmp_path / 'none.keras')])
    assert proc.returncode == 2 and 'model' in proc.stderr
