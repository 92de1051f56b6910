"""The noise models of the development-set study (``benchmarks/development_set.py``), numpy only.

On a small synthetic truth (48³, a smooth blob of Gaussian atoms with weak background noise in
its solvent): every noise model, development and held-out, is calibrated so that the half-maps'
FSC crosses 1/7 within one Fourier shell of the target; the non-stationary noise is about 3 times
stronger at the periphery than in the core; the power-law SNR leaves a slower FSC tail past R than
the damped (Gaussian SNR) model; the held-out models are none of the training simulator's spectra.
"""
import importlib.util
import os

import numpy as np
import pytest

from relion_dem.core.maths import fourier

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, 'benchmarks', 'development_set.py')
VOXEL = 1.5


@pytest.fixture(scope='module')
def study():
    spec = importlib.util.spec_from_file_location('development_set', SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def truth():
    """48³ blob: 60 Gaussian atoms (sigma 1.2 voxel) within 9 voxels of the centre, plus weak
    background noise (the solvent the 'solvent' model measures)."""
    rng = np.random.default_rng(3)
    n = 48
    g = np.arange(n) - n / 2.0
    z, y, x = np.meshgrid(g, g, g, indexing='ij')
    out = np.zeros((n, n, n))
    for _ in range(60):
        c = rng.normal(size=3)
        c = c / np.linalg.norm(c) * 9.0 * rng.random() ** (1 / 3.0)
        out += np.exp(-((z - c[0]) ** 2 + (y - c[1]) ** 2 + (x - c[2]) ** 2) / (2 * 1.2 ** 2))
    out += 0.02 * fourier.lowpass(rng.standard_normal((n, n, n)), VOXEL, 4.0)
    return out.astype(np.float32)


@pytest.fixture(scope='module')
def solvent(study, truth):
    return study.solvent_spectrum(truth, VOXEL)


@pytest.mark.parametrize('kind', ['damped', 'white', 'ctf', 'nonstationary', 'powerlaw', 'solvent'])
@pytest.mark.parametrize('resolution', [4.0, 6.0])
def test_calibrated_within_one_shell(study, truth, solvent, kind, resolution):
    h1, h2, info = study.half_maps(truth, VOXEL, resolution, kind, np.random.default_rng(1), solvent)
    gold = fourier.fsc(h1, h2)
    target = truth.shape[0] * VOXEL / resolution
    crossing = truth.shape[0] * VOXEL / fourier.resolution(gold, VOXEL, 1.0 / 7.0)
    assert info['calibrated'], info
    assert abs(crossing - target) <= 1.0, (kind, resolution, crossing, target)
    assert abs(info['crossing_shell'] - crossing) < 0.01
    assert np.all(np.isfinite(h1)) and np.all(np.isfinite(h2))


def test_calibration_moves_a_miscalibrated_case(study, truth, solvent):
    """Uncalibrated (multiplier 1) the white noise crosses elsewhere; calibrated, at the target."""
    _, _, raw = study.half_maps(truth, VOXEL, 6.0, 'white', np.random.default_rng(2), solvent, calibrated=False)
    _, _, cal = study.half_maps(truth, VOXEL, 6.0, 'white', np.random.default_rng(2), solvent)
    assert raw['multiplier'] == 1.0
    assert cal['calibrated'] and abs(cal['crossing_shell'] - cal['target_shell']) <= 1.0
    assert abs(cal['crossing_shell'] - cal['target_shell']) <= abs(raw['crossing_shell'] - raw['target_shell'])


def test_analytic_fsc_matches_the_maps(study, truth):
    """The calibration's FSC from per-shell sums equals the FSC of the half-maps it builds."""
    p = study.noise_model(truth, VOXEL, 5.0, 'white', np.random.default_rng(4))
    sums = study.shell_sums(p['ft'], p['noise'][0], p['noise'][1], p['idx'], p['nshell'])
    maps = [np.fft.irfftn(p['ft'] + 0.7 * f, s=truth.shape, axes=(0, 1, 2)) for f in p['noise']]
    assert np.allclose(study.fsc_at(sums, 0.7), fourier.fsc(*maps), atol=1e-6)


@pytest.mark.parametrize('resolution', [4.0, 6.0])
def test_nonstationary_noise_three_times_stronger_at_the_periphery(study, truth, solvent, resolution):
    h1, h2, _ = study.half_maps(truth, VOXEL, resolution, 'nonstationary', np.random.default_rng(5), solvent)
    noise = h1.astype(np.float64) - h2        # the truth cancels, the noise of both halves remains
    r = study.radius_from_centre(truth.shape) / truth.shape[0]
    core = np.sqrt(np.mean(noise[r <= study.CORE_RADIUS] ** 2))
    periphery = np.sqrt(np.mean(noise[r >= study.PERIPHERY_RADIUS] ** 2))
    assert 2.4 < periphery / core < 3.6, periphery / core   # few independent samples in the core
    a = study.nonstationary_amplitude(truth.shape)
    assert a[r <= study.CORE_RADIUS].max() == pytest.approx(1.0)
    assert a[r >= study.PERIPHERY_RADIUS].min() == pytest.approx(3.0)


def test_power_law_tail_slower_than_damped(study, truth, solvent):
    resolution = 6.0
    k = truth.shape[0] * VOXEL / resolution
    tails = {}
    for kind in ('damped', 'powerlaw'):
        h1, h2, info = study.half_maps(truth, VOXEL, resolution, kind, np.random.default_rng(6), solvent)
        assert info['calibrated']
        gold = fourier.fsc(h1, h2)
        tails[kind] = float(np.mean(gold[int(np.ceil(k)) + 1:int(np.ceil(k)) + 5]))
    assert tails['powerlaw'] > tails['damped'] + 0.02, tails
    s = np.array([0.5, 1.0, 1.5, 2.0]) / resolution
    snr_p, snr_g = study._power_law_snr(s, resolution), study._gaussian_snr(s, resolution)
    assert snr_p[1] == pytest.approx(1 / 6.0) and snr_g[1] == pytest.approx(1 / 6.0)
    assert np.all(snr_p[2:] > 100 * snr_g[2:])


def test_solvent_spectrum_from_the_solvent(study, truth):
    """The solvent mask leaves the molecule out; the spectrum is positive and held flat at low
    frequency."""
    mask = study.solvent_mask(truth, VOXEL)
    r = study.radius_from_centre(truth.shape)
    assert not mask[r < 9].any() and 0.3 < mask.mean() < 0.95
    s, power = study.solvent_spectrum(truth, VOXEL)
    assert np.all(power[1:] > 0)
    assert len(s) == truth.shape[0] // 2 + 1


def test_held_out_models_are_not_the_simulators(study):
    """The training simulator draws power-law, signal-shaped and CTF-coloured stationary noise;
    the held-out group is none of them."""
    from relion_dem_dev.training import simdata
    names = {n for n, _ in simdata.SIM_DEFAULTS['spectra']}
    groups = dict(study.GROUPS)
    assert names == {'power', 'signal', 'ctf'}
    assert not set(groups['held-out noise']) & (names | {'damped', 'white'})
