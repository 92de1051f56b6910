"""FSC-Q against a hand-computed case.

A stationary signal S with spectral SNR(f) = 50·exp(-(f/fc)²) against unit white noise,
half maps S + N1, S + N2, full map (h1 + h2)/2, model map S (a perfect model). Then,
analytically, FSC(h1, h2) = SNR/(1 + SNR) crosses 0.5 where SNR = 1, and
FSC(full, S) = sqrt(2 SNR/(1 + 2 SNR)) crosses 0.67 where SNR = 0.4073, so (fc chosen
to put the half-map crossing at 12 Å): local half-map resolution 12.00 Å, map-model
10.82 Å, FSC-Q = -1.18 Å everywhere. The sliding windows (20 voxels, Hann taper) must
give the medians within 0.5 Å and FSC-Q within 0.35 Å. A model displaced from the map
(map-model FSC falls early) must give FSC-Q > +0.5 Å on most atoms.
"""
import numpy as np
import pytest

from relion_dem.core.maths import fourier
from relion_dem.core.analysis import fscq as FQ

N, APIX, S0 = 40, 3.0, 50.0
FC = 1 / (12 * np.sqrt(np.log(S0)))


@pytest.fixture(scope='module')
def maps():
    rng = np.random.default_rng(3)
    f = fourier.radial_frequency((N,) * 3) / (N * APIX)
    snr = S0 * np.exp(-(f / FC) ** 2)
    s = np.fft.irfftn(np.fft.rfftn(rng.normal(size=(N,) * 3)) * np.sqrt(snr), s=(N,) * 3)
    n1, n2 = rng.normal(size=(2, N, N, N))
    return s, s + n1, s + n2


def test_expected_crossings_by_hand():
    f_half = FC * np.sqrt(np.log(S0))
    snr_mm = 0.67 ** 2 / (2 * (1 - 0.67 ** 2))
    f_model = FC * np.sqrt(np.log(S0 / snr_mm))
    assert 1 / f_half == pytest.approx(12.0)
    assert 1 / f_model == pytest.approx(10.82, abs=0.01)


def test_perfect_model_stationary_signal(maps):
    s, h1, h2 = maps
    rng = np.random.default_rng(4)
    xyz = rng.uniform(10, 110, (150, 3))
    r = FQ.fscq((h1 + h2) / 2, h1, h2, s, APIX, xyz, mask=np.ones((N,) * 3), step=3)
    assert np.median(r['res_half']) == pytest.approx(12.0, abs=0.5)
    assert np.median(r['res_model']) == pytest.approx(10.82, abs=0.5)
    assert r['mean'] == pytest.approx(-1.18, abs=0.35)
    assert r['atoms'] == 150
    assert r['fraction_below'] > 0.7 and r['fraction_above'] < 0.05
    np.testing.assert_allclose(r['fscqr'], r['fscq'] / FQ_half_at(r, xyz), rtol=1e-6)


def FQ_half_at(r, xyz):
    from relion_dem.core.analysis.atomic_model import interpolate
    return interpolate(r['res_half'], APIX, xyz, order=0)


def test_displaced_model_is_flagged(maps):
    s, h1, h2 = maps
    wrong = np.roll(s, 2, axis=2)            # model 6 Å off: map-model FSC collapses early
    rng = np.random.default_rng(5)
    xyz = rng.uniform(10, 110, (100, 3))
    r = FQ.fscq((h1 + h2) / 2, h1, h2, wrong, APIX, xyz, mask=np.ones((N,) * 3), step=4)
    assert r['mean'] > 0.5 and r['fraction_above'] > 0.8


def test_model_mask():
    m = np.zeros((20, 20, 20))
    m[10, 10, 10] = 1.0
    mask = FQ.model_mask(m, dilate=2)
    assert mask.sum() == 25        # a voxel dilated twice (6-connected): 1 + 6 + 18
