"""deepEMhancer-style inference in numpy: normalization, resampling, cube tiling, restoration."""
import numpy as np
import pytest
from scipy import ndimage

from relion_dem.core.maths import fourier
from relion_dem.core.network import inference


def blob_in_noise(n=64, mean=3.0, std=2.0, seed=0):
    rng = np.random.default_rng(seed)
    c = (np.arange(n) - n // 2) ** 2
    r2 = c[:, None, None] + c[None, :, None] + c[None, None, :]
    blob = 20.0 * np.exp(-r2 / (2 * (0.12 * n) ** 2))
    return (blob + rng.normal(mean, std, (n,) * 3)).astype(np.float32)


def identity(batch):
    return batch


def test_noise_stats_measured_outside_the_particle():
    mean, std = inference.noise_stats(blob_in_noise())
    assert mean == pytest.approx(3.0, abs=0.05)
    assert std == pytest.approx(2.0, rel=0.02)


def test_noise_stats_of_masked_map_fall_back_to_whole_map():
    x = blob_in_noise()
    c = (np.arange(64) - 32) ** 2
    x[(c[:, None, None] + c[None, :, None] + c[None, None, :]) > 20 ** 2] = 0.0
    mean, std = inference.noise_stats(x)
    assert std == pytest.approx(float(x.std()), rel=1e-6)


def test_normalize_gives_noise_std_0_1_and_restore_inverts_it():
    x = blob_in_noise()
    xn, stats = inference.normalize(x)
    _, std_n = inference.noise_stats(xn)
    assert std_n == pytest.approx(0.1, rel=0.02)
    np.testing.assert_allclose(inference.restore(xn, stats), x, rtol=1e-5, atol=1e-4)


def test_constant_map_is_refused():
    with pytest.raises(inference.InferenceError):
        inference.normalize(np.ones((16, 16, 16), np.float32))


@pytest.mark.parametrize('n', [20, 40, 64, 100, 131])
def test_tiling_with_identity_network_returns_the_map(n):
    x = np.random.default_rng(n).standard_normal((n,) * 3).astype(np.float32)
    y = inference.predict_tiled(x, identity, cube=32, overlap=8, batch_size=3)
    assert y.shape == x.shape
    np.testing.assert_allclose(y, x, atol=1e-5)


def test_tiling_of_a_local_operator_matches_the_whole_map():
    """A translation-invariant 3x3x3 operator applied cube by cube equals it applied once."""
    x = np.random.default_rng(1).standard_normal((90,) * 3).astype(np.float32)

    def local(batch):
        return np.stack([ndimage.uniform_filter(b[..., 0], 3, mode='reflect') for b in batch])[..., None]

    y = inference.predict_tiled(x, local, cube=32, overlap=8, batch_size=4)
    whole = ndimage.uniform_filter(np.pad(x, 8, mode='reflect'), 3)[8:-8, 8:-8, 8:-8]
    np.testing.assert_allclose(y, whole, atol=1e-5)


def test_cube_count_of_a_128_box():
    calls = []

    def count(batch):
        calls.append(len(batch))
        return batch

    inference.predict_tiled(np.zeros((128,) * 3, np.float32), count, cube=64, overlap=16, batch_size=4)
    assert sum(calls) == 27 and max(calls) == 4  # padded 160: cubes at 0, 48, 96 per axis


def test_map_within_whole_up_to_is_predicted_in_one_call():
    """Padded 160 <= whole_up_to: one network call on the padded map (a multiple of 8), same
    result as cubes for a local operator, without the cubes' overlaps computed twice."""
    shapes = []
    x = np.random.default_rng(2).standard_normal((128,) * 3).astype(np.float32)

    def local(batch):
        shapes.append(batch.shape)
        return np.stack([ndimage.uniform_filter(b[..., 0], 3, mode='reflect') for b in batch])[..., None]

    y = inference.predict_tiled(x, local, cube=64, overlap=16, whole_up_to=160)
    assert shapes == [(1, 160, 160, 160, 1)]
    tiled = inference.predict_tiled(x, local, cube=64, overlap=16, whole_up_to=0)
    assert len(shapes) == 1 + 7  # 27 cubes in batches of 4
    np.testing.assert_allclose(y, tiled, atol=1e-5)
    shapes.clear()
    inference.predict_tiled(x, local, cube=64, overlap=16, whole_up_to=159)   # too big: cubes
    assert len(shapes) == 7 and shapes[0][1:4] == (64, 64, 64)


def test_support_prediction_crops_to_the_solvent_mask():
    """Only the cube around the mask is predicted; inside the mask the result is the whole
    map's, beyond mask + margin it is the normalized solvent (0)."""
    shapes = []
    x = np.random.default_rng(3).standard_normal((100,) * 3).astype(np.float32)

    def local(batch):
        shapes.append(batch.shape)
        return np.stack([ndimage.uniform_filter(b[..., 0], 3, mode='reflect') for b in batch])[..., None]

    y = inference.predict_support(x, local, radius=20.0, margin=8, cube=64, overlap=16, whole_up_to=192)
    assert shapes == [(1, 56, 56, 56, 1)]        # crop 56 (2 x 20 + 2 x 8), no border padding
    whole = inference.predict_tiled(x, local, cube=64, overlap=16, whole_up_to=192)
    c = np.arange(100) - 50
    r = np.sqrt(c[:, None, None] ** 2 + c[None, :, None] ** 2 + c[None, None, :] ** 2)
    np.testing.assert_allclose(y[r <= 20], whole[r <= 20], atol=1e-5)
    assert np.all(y[r >= 28] == 0)
    band = (r > 20) & (r <= 26)   # the soft edge, away from the crop's faces (the operator reaches 1 voxel)
    np.testing.assert_allclose(y[band], (whole * inference.support_mask(100, 20.0, 8))[band], atol=1e-5)


def test_enhance_with_support_radius_in_angstrom():
    x = np.random.default_rng(4).standard_normal((48,) * 3).astype(np.float32) + 3.0
    calls = []

    def ident(batch):
        calls.append(batch.shape)
        return batch

    y = inference.enhance(x, 1.5, ident, 1.5, support_radius_A=15.0, whole_up_to=192, keep_beyond_nyquist=False)
    assert calls[0][1] == 40                        # crop 2 x 10 + 2 x 8 = 36 -> 40
    mean, _ = inference.noise_stats(x)
    c = np.arange(48) - 24
    r = np.sqrt(c[:, None, None] ** 2 + c[None, :, None] ** 2 + c[None, None, :] ** 2)
    np.testing.assert_allclose(y[r >= 18.5], mean, atol=1e-4)   # solvent level beyond mask + margin
    np.testing.assert_allclose(y[r <= 10], x[r <= 10], atol=1e-4)


def test_window_is_zero_at_cube_border_and_one_inside():
    w = inference.window(64, 16)
    assert w[0, 32, 32] == 0 and w[3, 32, 32] == 0 and w[4, 32, 32] > 0
    assert w[12:52, 12:52, 12:52].min() == 1.0


def test_resampled_box():
    assert inference.resampled_box(64, 1.5, 1.5) == 64
    assert inference.resampled_box(128, 1.0, 1.5) == 85
    assert inference.resampled_box(48, 2.0, 1.5) == 64


def test_network_grid_range_uses_the_maps_own_grid_inside_it():
    """A network trained on 1.0-1.5 Å grids: a map in that range is not resampled; finer maps go
    to 1.0 Å (the network's Nyquist then 2 Å, enough for 3 Å data), coarser ones to 1.5 Å."""
    grid = (1.0, 1.5)
    assert inference.network_voxel(1.2, grid) == 1.2 and inference.resampled_box(100, 1.2, grid) == 100
    assert inference.network_voxel(0.834, grid) == 1.0 and inference.resampled_box(240, 0.834, grid) == 200
    assert inference.network_voxel(3.6, grid) == 1.5 and inference.resampled_box(48, 3.6, grid) == 115
    assert inference.network_voxel(0.834, 1.5) == 1.5
    # the predictor sees the resampled grid: an identity network on it returns the map
    seen = []

    def record(batch):
        seen.append(batch.shape[1])
        return batch
    def seen_for(data, voxel, net):
        seen.clear()
        out = inference.enhance(data, voxel, record, net, whole_up_to=192)
        return seen[0], out
    x = fourier.lowpass(blob_in_noise(60), 0.8, 2.2)
    got, y = seen_for(x, 0.8, grid)
    assert got == seen_for(blob_in_noise(48), 1.0, 1.0)[0]     # 60 voxels at 0.8 Å = 48 at 1.0 Å
    assert np.corrcoef(y.ravel(), x.ravel())[0, 1] > 0.999
    assert seen_for(x, 1.25, grid)[0] == seen_for(x, 1.0, 1.0)[0]   # not resampled
    assert seen_for(x, 1.25, 1.5)[0] == seen_for(blob_in_noise(50), 1.0, 1.0)[0]


def test_input_band_limit_tapers_beyond_the_data_resolution_only():
    """Nothing beyond 1.3/R, untouched up to 1/R; the network (here the identity) sees that map."""
    rng = np.random.default_rng(8)
    x = rng.standard_normal((48,) * 3).astype(np.float32)
    y = inference.band_limited(x, 1.5, 6.0)
    s = fourier.radial_frequency(x.shape) / (48 * 1.5)
    fy, fx = np.fft.rfftn(y), np.fft.rfftn(x)
    assert np.abs(fy[s > 1.3 / 6.0 + 1e-6]).max() < 1e-4 * np.abs(fx).max()
    assert np.allclose(fy[s <= 1 / 6.0], fx[s <= 1 / 6.0], atol=1e-3)
    out = inference.enhance(x, 1.5, identity, 1.5, input_lowpass_A=6.0, whole_up_to=192)
    np.testing.assert_allclose(out, y, atol=1e-4)
    assert inference.data_resolution([1, 1, 1, 0.5, 0.1, 0.0], 2.0) == pytest.approx(10 * 2.0 / 3.89, rel=0.01)
    assert inference.band_limited(x, 1.5, 1.0) is x        # nothing beyond the corners to taper


def test_enhance_identity_at_network_voxel_size_returns_input():
    x = blob_in_noise(48)
    y = inference.enhance(x, 1.5, identity, 1.5, cube=32, overlap=8)
    np.testing.assert_allclose(y, x, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize('voxel', [1.0, 2.4])
def test_enhance_identity_with_resampling_keeps_the_map(voxel):
    """Resampled to 1.5 Å and back: identical below the network grid's Nyquist; beyond it, the
    input's own shells are kept (finer input) or there are none (coarser input)."""
    x = fourier.lowpass(blob_in_noise(60), voxel, 2 * max(voxel, 1.5) * 1.05)
    y = inference.enhance(x, voxel, identity, 1.5, cube=32, overlap=8)
    assert y.shape == x.shape
    assert np.corrcoef(y.ravel(), x.ravel())[0, 1] > 0.999
    assert float(np.abs(y - x).max()) < 0.05 * float(np.abs(x).max())


def test_beyond_nyquist_comes_from_the_input():
    rng = np.random.default_rng(3)
    src = rng.standard_normal((48,) * 3).astype(np.float32)
    out = inference.beyond_nyquist_from(np.zeros_like(src), src, 1.0, 1.5)
    s = fourier.radial_frequency(src.shape) / 48.0
    fo, fs = np.fft.rfftn(out), np.fft.rfftn(src)
    assert np.abs(fo[s < 0.9 / 3.0]).max() < 1e-3
    np.testing.assert_allclose(fo[s > 1 / 3.0], fs[s > 1 / 3.0], atol=1e-3)
    # a coarser input than the network grid is left alone
    assert inference.beyond_nyquist_from(src, np.zeros_like(src), 2.0, 1.5) is src


def test_non_cubic_map_is_refused():
    with pytest.raises(inference.InferenceError):
        inference.enhance(np.zeros((8, 8, 9), np.float32), 1.0, identity, 1.5)


def test_band_limit_cuts_where_output_stops_correlating_with_input():
    rng = np.random.default_rng(4)
    src = rng.standard_normal((48,) * 3).astype(np.float32)
    low = fourier.lowpass(src, 1.0, 4.0)  # shares the input's shells up to 48/4 = 12
    extra = rng.standard_normal((48,) * 3).astype(np.float32)  # unrelated to the input
    out = low + 0.5 * (extra - fourier.lowpass(extra, 1.0, 4.0))
    limited, shell = inference.band_limit(out, src)
    assert 11 <= shell <= 14
    s = fourier.radial_index(src.shape)
    f = np.abs(np.fft.rfftn(limited))
    assert f[s >= shell].max() < 1e-3 and np.corrcoef(limited.ravel(), low.ravel())[0, 1] > 0.98
    # identity output: no cut at all
    assert inference.band_limit(src, src)[1] == 25


def test_support_wider_than_the_box_predicts_the_box_without_border():
    shapes = []

    def ident(batch):
        shapes.append(batch.shape)
        return batch

    x = np.random.default_rng(5).standard_normal((44,) * 3).astype(np.float32)
    y = inference.predict_support(x, ident, radius=20.0, margin=8, cube=64, overlap=16, whole_up_to=192)
    assert shapes == [(1, 48, 48, 48, 1)]        # the box itself, up to a multiple of 8
    np.testing.assert_allclose(y, x * inference.support_mask(44, 20.0, 8), atol=1e-6)
