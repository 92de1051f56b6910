"""Simulated training pairs: the noise is calibrated, the target never holds more than the data."""
import os

import numpy as np
import pytest

from relion_dem.core.analysis import fourier, fsc as fsc
from relion_dem_dev.training import simdata

MODEL = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'relion_dem', 'data', 'adk_open.pdb.gz')
VOX = 1.5


@pytest.fixture(scope='module')
def truth():
    return simdata.rotated_truth(MODEL, 64, VOX, simdata.random_rotation(np.random.default_rng(0)))


def fixed(res, input_voxel=VOX, **kw):
    return simdata.fixed_params(input_voxel, res, 50.0, **kw)


def shell_s(n):
    return fourier.radial_frequency((n,) * 3) / (n * VOX)


def test_truth_is_unit_std_and_rotation_is_proper(truth):
    assert truth.shape == (64, 64, 64) and truth.std() == pytest.approx(1.0, rel=1e-4)
    r = simdata.random_rotation(np.random.default_rng(5))
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(r) == pytest.approx(1.0)


@pytest.mark.parametrize('res', [4.0, 7.0, 10.0])
def test_noise_makes_map_vs_truth_fsc_that_of_a_half_map_at_0143(truth, res):
    """Half-map FSC 0.143 at R <=> map-vs-truth FSC sqrt(0.143) = 0.38 there."""
    vals = []
    for seed in range(3):
        x, _, _ = simdata.simulate_pair(truth, VOX, np.random.default_rng(seed), fixed(res))
        vals.append(fsc.fsc(x, truth)[int(round(64 * VOX / res))])
    assert np.mean(vals) == pytest.approx(0.378, abs=0.07)


def test_target_is_truth_lowpassed_at_resolution_and_nothing_beyond(truth):
    x, t, p = simdata.simulate_pair(truth, VOX, np.random.default_rng(1), fixed(6.0))
    s = shell_s(64)
    ft = np.fft.rfftn(t)
    assert np.abs(ft[s > 1 / 6.0 + 1e-9]).max() < 1e-3 * np.abs(ft).max()
    c = fsc.fsc(t, truth)
    assert c[int(64 * VOX / 8.0)] > 0.999  # identical well inside the band
    assert p['effective_resolution'] == 6.0


def test_lowpassed_signal_moves_the_target_cutoff(truth):
    x, t, p = simdata.simulate_pair(truth, VOX, np.random.default_rng(2), fixed(5.0, lowpass=9.0))
    assert p['effective_resolution'] == 9.0
    s = shell_s(64)
    ft = np.fft.rfftn(t)
    assert np.abs(ft[s > 1 / 9.0 + 1e-9]).max() < 1e-3 * np.abs(ft).max()
    # the input holds no signal beyond 9 Å: its FSC with the truth there is chance level
    c = fsc.fsc(x, truth)
    beyond = c[int(np.ceil(64 * VOX / 9.0)) + 2:]
    assert abs(float(beyond.mean())) < 0.05


def test_pure_noise_has_zero_target(truth):
    x, t, _ = simdata.simulate_pair(truth, VOX, np.random.default_rng(3), fixed(6.0, pure_noise=True))
    assert not t.any() and abs(np.corrcoef(x.ravel(), truth.ravel())[0, 1]) < 0.03


def test_input_zero_beyond_cutoff_and_original_nyquist(truth):
    x, _, _ = simdata.simulate_pair(truth, VOX, np.random.default_rng(4),
                                    fixed(7.0, input_voxel=2.5, cutoff=5.5))
    s = shell_s(64)
    fx = np.fft.rfftn(x)
    assert np.abs(fx[s > 1 / 5.5 + 1e-6]).max() < 1e-3 * np.abs(fx).max()


def test_inputs_are_noise_normalized_and_draws_seeded(truth):
    a = simdata.simulate_pair(truth, VOX, np.random.default_rng(9))
    b = simdata.simulate_pair(truth, VOX, np.random.default_rng(9))
    np.testing.assert_array_equal(a[0], b[0])
    assert a[2] == b[2]
    from relion_dem.core.network import inference
    assert inference.noise_stats(a[0])[1] == pytest.approx(0.1, rel=1e-3)


def test_drawn_parameters_respect_ranges():
    rng = np.random.default_rng(0)
    ps = [simdata.draw_params(rng, VOX) for _ in range(400)]
    assert all(3.0 <= p['resolution'] <= 12.0 for p in ps)
    assert all(p['resolution'] >= 2.1 * max(p['input_voxel'], VOX) - 1e-9 for p in ps)
    assert all(p['lowpass'] is None or p['lowpass'] > p['resolution'] for p in ps)
    assert 0.01 < np.mean([p['pure_noise'] for p in ps]) < 0.1
