"""Local resolution.

* ``relion_postprocess --locres`` on half maps whose local resolution is known: a
  stationary signal with spectral SNR crossing FSC = 0.143 at a known frequency
  (SNR = 1/6 at 1/12 Å): RELION's median inside the mask within 1.5 Å of 12 Å, and our
  sliding-window estimate at 0.143 within 1.5 Å of both;
* statistics: median / histogram by hand on a small map;
* a real refinement: RELION's local-resolution median within 40 % of its global FSC
  resolution.
"""
import os

import numpy as np
import pytest

from relion_dem.core.maths import fourier
from relion_dem.core.io import mrc
from relion_dem.core.analysis import locres as L

from .conftest import needs_relion

N, APIX = 40, 3.0


def test_statistics_by_hand():
    lr = np.zeros((4, 4, 4))
    lr[0, 0, :4] = [4.0, 5.0, 6.0, 9.0]
    lr[1, 1, 1] = 20.0              # outside the mask
    mask = np.zeros_like(lr)
    mask[0, 0, :] = 1
    s = L.statistics(lr, mask, bins=[0, 5, 10, 25])
    assert s['median_A'] == pytest.approx(5.5)
    assert s['voxels'] == 4
    assert s['histogram'] == [1, 3, 0]
    with pytest.raises(ValueError, match='inside the mask'):
        L.statistics(lr, np.zeros_like(lr))


def test_window_fsc_identical_maps_is_one():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(24, 24, 24))
    c = L.window_fsc(a, a, np.array([[12, 12, 12], [3, 3, 3]]), 12)
    np.testing.assert_allclose(c[:, 1:], 1.0, atol=1e-9)


@needs_relion
def test_relion_locres_on_known_local_resolution(tmp_path):
    rng = np.random.default_rng(1)
    f = fourier.radial_frequency((N,) * 3) / (N * APIX)
    # SNR(f) = s0 exp(-(f/fc)^2) = 1/6 (FSC 0.143) at f = 1/12
    s0 = 20.0
    fc = (1 / 12.0) / np.sqrt(np.log(6 * s0))
    snr = s0 * np.exp(-(f / fc) ** 2)
    s = np.fft.irfftn(np.fft.rfftn(rng.normal(size=(N,) * 3)) * np.sqrt(snr), s=(N,) * 3)
    h1, h2 = s + rng.normal(size=s.shape), s + rng.normal(size=s.shape)
    mrc.write(str(tmp_path / 'h_half1.mrc'), h1, APIX)
    mrc.write(str(tmp_path / 'h_half2.mrc'), h2, APIX)
    z, y, x = np.mgrid[:N, :N, :N] - N // 2
    mask = (np.sqrt(x * x + y * y + z * z) < 10).astype(float)
    lr, v, path = L.relion_locres(str(tmp_path / 'h_half1.mrc'), str(tmp_path / 'h_half2.mrc'),
                                  str(tmp_path / 'locres' / 'relion'))
    assert os.path.exists(path) and v == pytest.approx(APIX)
    st = L.statistics(lr, mask)
    assert st['median_A'] == pytest.approx(12.0, abs=1.5)
    ours = L.statistics(L.local_resolution(h1, h2, APIX, box=20, step=2, threshold=0.143, mask=mask), mask)
    assert ours['median_A'] == pytest.approx(12.0, abs=1.5)
    assert ours['median_A'] == pytest.approx(st['median_A'], abs=1.5)


@needs_relion
def test_relion_locres_missing_half_map(tmp_path):
    with pytest.raises(mrc.MapError, match='nothere_half1.mrc'):
        L.relion_locres(str(tmp_path / 'nothere_half1.mrc'), str(tmp_path / 'x.mrc'), str(tmp_path / 'o'))


@needs_relion
def test_real_refinement_locres(refinements, tmp_path):
    from relion_dem.core.analysis import runinfo
    root = os.path.join(refinements, 'Plain', 'run')
    lr, v, _ = L.relion_locres(root + '_half1_class001_unfil.mrc', root + '_half2_class001_unfil.mrc',
                               str(tmp_path / 'lr' / 'relion'))
    from relion_dem.core.maths import masks
    truth, apix = mrc.read(os.path.join(refinements, 'truth.mrc'))
    st = L.statistics(lr, masks.soft_mask(truth, apix))
    glob = runinfo.final_resolution(root)
    assert st['median_A'] == pytest.approx(glob, rel=0.4)
