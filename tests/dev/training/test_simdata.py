"""Simulated training pairs: the noise is calibrated, the target never holds more than the data."""
import os

import numpy as np
import pytest

from relion_dem.core.analysis import fsc as fsc
from relion_dem.core.maths import fourier
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
    spectra = [p['spectrum'] for p in ps]
    assert set(spectra) == {'power', 'signal', 'ctf'} and 0.2 < np.mean([p['damped'] for p in ps]) < 0.6
    assert all(p['defocus'][0] < p['defocus'][1] for p in ps)


@pytest.mark.parametrize('spectrum', ['power', 'signal', 'ctf'])
def test_every_noise_spectrum_is_calibrated_at_the_resolution(truth, spectrum):
    """Whatever the noise's colour, the map-vs-truth FSC at R is a half-map's at FSC 0.143."""
    vals = [fsc.fsc(simdata.simulate_pair(truth, VOX, np.random.default_rng(seed), fixed(6.0, spectrum=spectrum))[0],
                    truth)[int(round(64 * VOX / 6.0))] for seed in range(3)]
    assert np.mean(vals) == pytest.approx(0.378, abs=0.08)


def test_ctf_coloured_noise_follows_one_over_mean_ctf2(truth):
    """Noise power per shell ∝ 1/<CTF²> (loud near the origin and where the envelope falls)."""
    pure = dict(pure_noise=True)
    idx = np.round(fourier.radial_frequency((64,) * 3)).astype(int)

    def shell_power(x):
        p = np.abs(np.fft.rfftn(x)) ** 2
        return np.bincount(idx.ravel(), p.ravel())[1:31] / np.bincount(idx.ravel())[1:31]
    ctf = shell_power(simdata.simulate_pair(truth, VOX, np.random.default_rng(0), fixed(6.0, spectrum='ctf', **pure))[0])
    flat = shell_power(simdata.simulate_pair(truth, VOX, np.random.default_rng(0), fixed(6.0, **pure))[0])
    expected = 1.0 / simdata.mean_ctf2(np.arange(1, 31) / (64 * VOX), np.linspace(8000.0, 25000.0, 12), 100.0, 0.02)
    assert np.corrcoef(np.log(ctf / flat), np.log(expected))[0, 1] > 0.95


def test_damping_weights_shells_by_snr_over_one_plus_snr(truth):
    """The damped map is the undamped one times SNR/(1+SNR) per shell: weak shells shrink most."""
    und, _, _ = simdata.simulate_pair(truth, VOX, np.random.default_rng(7), fixed(6.0))
    dmp, _, _ = simdata.simulate_pair(truth, VOX, np.random.default_rng(7), fixed(6.0, damped=True))
    idx = np.round(fourier.radial_frequency((64,) * 3)).astype(int)
    a, b = np.fft.rfftn(und), np.fft.rfftn(dmp)
    ratio = np.array([np.abs(b[idx == k]).mean() / np.abs(a[idx == k]).mean() for k in range(1, 32)])
    # (normalized by the noise level, so compare shapes): falls from low to high resolution
    assert ratio[0] / ratio[-1] > 3
    k = int(round(64 * VOX / 6.0))   # SNR 1/6 at R: weight 1/7 relative to a strong shell
    assert 0.05 < ratio[k - 1] / ratio[0] < 0.4
