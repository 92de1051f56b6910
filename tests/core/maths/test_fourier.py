"""Fourier primitives: FSC per shell, resolution at a threshold, low-pass."""
import numpy as np
import pytest

from relion_dem.core.maths import fourier


def test_identical_maps_correlate_fully_and_noise_does_not():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(32, 32, 32))
    assert np.allclose(fourier.fsc(a, a)[1:], 1.0)
    b = rng.normal(size=(32, 32, 32))
    assert np.abs(fourier.fsc(a, b)[4:]).max() < 0.15


def test_resolution_of_a_known_curve():
    curve = np.array([1, 1, 0.9, 0.7, 0.5, 0.3, 0.1, 0.0, 0.0])   # box 16
    # 0.143 crossed between shells 5 (0.3) and 6 (0.1): shell 5.785
    assert fourier.resolution(curve, 2.0, 0.143) == pytest.approx(16 * 2.0 / 5.785, rel=1e-3)
    assert fourier.resolution(curve, 2.0, 0.5) == pytest.approx(16 * 2.0 / 4, rel=1e-6)
    assert fourier.resolution(np.ones(9), 2.0) == 4.0              # never drops: Nyquist


def test_lowpassed_copy_has_fsc_cut_at_the_filter():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(40, 40, 40)).astype(np.float32)
    lp = fourier.lowpass(a, 2.0, 10.0)                         # shell 8 of 40 × 2 Å
    c = fourier.fsc(a, lp)
    assert np.all(c[1:7] > 0.99) and np.all(c[10:] < 0.05)


def test_padded_halfcomplex_arrays_are_read_on_the_maps_grid():
    # a map zero-padded to twice its box: its transform at even indices is the map's own
    rng = np.random.default_rng(3)
    m = rng.normal(size=(12, 12, 12))
    padded = np.zeros((24, 24, 24))
    padded[:12, :12, :12] = m
    big = np.fft.rfftn(padded)
    assert big.shape == (24, 24, 13)
    np.testing.assert_allclose(fourier.from_padded_halfcomplex(big, 12), np.fft.rfftn(m), atol=1e-9)
    np.testing.assert_allclose(fourier.from_padded_halfcomplex(np.fft.rfftn(m), 12), np.fft.rfftn(m))  # no padding
    with pytest.raises(ValueError, match='not a padded half-complex array of a 12-voxel box'):
        fourier.from_padded_halfcomplex(np.zeros((24, 24, 24)), 12)
