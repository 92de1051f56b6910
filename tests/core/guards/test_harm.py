"""The do-no-harm guard on maps with a known truth: what it keeps, scales and refuses."""
import numpy as np
import pytest
from scipy import ndimage

from relion_dem.core.maths import fourier
from relion_dem.core.analysis.fsc import fsc
from relion_dem.core.guards import fsc as guard, harm as harm_guard

BOX = 48


@pytest.fixture(scope='module')
def halves():
    """A smooth 'molecule' and two half-maps with independent noise (FSC ~1 at low
    resolution falling below 1/7 mid-way), and their gold-standard FSC."""
    rng = np.random.default_rng(3)
    r = np.linalg.norm(np.indices((BOX,) * 3) - BOX // 2, axis=0)
    truth = ndimage.gaussian_filter(rng.standard_normal((BOX,) * 3), 1.2) * (r < 16)
    truth /= truth.std()
    h1, h2 = (truth + 0.6 * rng.standard_normal(truth.shape) for _ in range(2))
    return truth, h1, h2, fsc(h1, h2)


def cutoff(f):
    return guard.cutoff_shell(f)


def wiener(plain, f):
    idx = fourier.radial_index(plain.shape)
    w = np.sqrt(np.clip(f, 0, 1))
    w = np.concatenate([w, np.zeros(idx.max() + 1 - len(w))])
    return np.fft.irfftn(w[idx] * np.fft.rfftn(plain), s=plain.shape)


def test_linear_filter_and_truth_pass_untouched(halves):
    truth, h1, _, f = halves
    assert 5 < cutoff(f) < BOX // 2
    for good in (wiener(h1, f), truth):
        out, v = harm_guard.apply(good.astype(np.float32), h1, f, cutoff(f))
        assert not v.whole_call and v.shells_replaced == [] and v.shells_scaled == 0
        assert np.allclose(out, good, atol=1e-4 * np.abs(good).max())


def test_erased_molecule_falls_back(halves):
    """A network output that lost the molecule (an unrelated smooth map of the same power)."""
    truth, h1, _, f = halves
    other = ndimage.gaussian_filter(np.random.default_rng(9).standard_normal(truth.shape), 1.2)
    other *= truth.std() / other.std()
    out, v = harm_guard.apply(other.astype(np.float32), h1, f, cutoff(f))
    assert v.whole_call and out is h1 and v.failing_signal_fraction > 0.9
    assert 'plain reconstruction kept' in v.reason


def test_amplified_shells_scaled_back_to_the_data(halves):
    """Sharpening adds no information: shells with more power than the plain map are scaled
    to its power, so the result's shells never exceed the data's."""
    truth, h1, _, f = halves
    loud = 3.0 * h1
    out, v = harm_guard.apply(loud.astype(np.float32), h1, f, cutoff(f))
    assert not v.whole_call and v.shells_replaced == [] and v.shells_scaled == cutoff(f) - 1
    k = np.arange(1, cutoff(f))
    idx = fourier.radial_index(h1.shape)
    power = lambda m: np.bincount(idx.ravel(), np.abs(np.fft.rfftn(m)).ravel() ** 2)[k]
    assert np.allclose(power(out), power(h1), rtol=1e-3)


def test_guard_is_closer_to_the_truth_than_a_damaged_output(halves):
    """Half the resolved shells replaced by noise: the guard's output correlates with the truth
    at least as well as the plain half-map in every shell it checked."""
    truth, h1, _, f = halves
    n = cutoff(f)
    idx = fourier.radial_index(h1.shape)
    fe = np.fft.rfftn(truth)
    noise = np.fft.rfftn(np.random.default_rng(5).standard_normal(truth.shape))
    band = (idx >= n // 2) & (idx < n)
    fe[band] = noise[band] * np.abs(fe[band]).mean() / np.abs(noise[band]).mean()
    damaged = np.fft.irfftn(fe, s=truth.shape).astype(np.float32)
    out, v = harm_guard.apply(damaged, h1, f, n)
    assert not v.whole_call and set(v.shells_replaced) >= set(range(n // 2 + 1, n))
    k = np.arange(1, n)
    assert np.all(fsc(out, truth)[k] >= fsc(h1, truth)[k] - 0.05)


def test_slight_loss_in_strong_low_shells_is_repaired_there_only(halves):
    """Shells 1-3 (few coefficients, F ~ 1) lose a tenth of their correlation with the data,
    the rest is a good denoised map: those shells take the plain coefficients and the call is
    not thrown away. The old tolerance (2/sqrt(n), a correlation's error at 0) let them pass."""
    truth, h1, _, f = halves
    idx = fourier.radial_index(h1.shape)
    good = np.fft.rfftn(wiener(h1, f))
    other = np.fft.rfftn(ndimage.gaussian_filter(np.random.default_rng(11).standard_normal(h1.shape), 1.2))
    low = (idx >= 1) & (idx <= 3)
    scale = np.sqrt(np.mean(np.abs(good[low]) ** 2) / np.mean(np.abs(other[low]) ** 2))
    good[low] = 0.88 * good[low] + 0.47 * scale * other[low]
    damaged = np.fft.irfftn(good, s=h1.shape).astype(np.float32)
    n = cutoff(f)
    out, v = harm_guard.apply(damaged, h1, f, n)
    assert not v.whole_call and {1, 2, 3} <= set(v.shells_replaced), v
    assert set(v.shells_replaced) <= {1, 2, 3, 4}, v
    assert np.all(fsc(out, truth)[1:4] >= fsc(h1, truth)[1:4] - 1e-3)
    counts = np.bincount(idx.ravel())[1:4]
    assert np.all(2.0 / np.sqrt(counts) > np.asarray(f[1:4]) - fsc(damaged, h1)[1:4])  # the old rule passed them


def test_data_power_bound_keeps_the_truth_of_a_shrunk_half_map(halves):
    """RELION hands over a Wiener-shrunk half-map (|P|² ≈ F·S²). The truth itself, louder than
    it by about 1/F, is scaled back to the plain power under the ``plain`` bound and kept
    under ``data`` (|P|²/F); a shell louder than that is scaled under both."""
    truth, h1, _, f = halves
    idx = fourier.radial_index(h1.shape)            # RELION's MAP reconstruction of this half:
    w = np.concatenate([np.clip(f, 0, 1), np.zeros(idx.max() + 1 - len(f))])   # P = F·(S + N)
    shrunk = np.fft.irfftn(w[idx] * np.fft.rfftn(h1), s=h1.shape).astype(np.float32)
    n = cutoff(f)
    _, plain_bound = harm_guard.apply(truth.astype(np.float32), shrunk, f, n, power_bound='plain')
    out, data_bound = harm_guard.apply(truth.astype(np.float32), shrunk, f, n, power_bound='data')
    assert plain_bound.shells_scaled >= n // 3
    assert data_bound.shells_scaled == 0 and data_bound.shells_replaced == []
    assert np.allclose(out, truth, atol=1e-4 * np.abs(truth).max())
    _, loud = harm_guard.apply(3.0 / np.sqrt(f[1]) * truth.astype(np.float32), shrunk, f, n, power_bound='data')
    assert loud.shells_scaled >= n // 2


def test_unknown_power_bound_is_refused(halves):
    truth, h1, _, f = halves
    with pytest.raises(ValueError, match='power bound'):
        harm_guard.apply(truth, h1, f, cutoff(f), power_bound='loud')


@pytest.fixture(scope='module')
def cone():
    """The halves of a 0-40° tilt series: coefficients within 50° of the z axis were never sampled
    (RELION's weight ~0 there, its MAP reconstruction 0), the gold-standard FSC of those halves,
    and the weight."""
    rng = np.random.default_rng(3)
    r = np.linalg.norm(np.indices((BOX,) * 3) - BOX // 2, axis=0)
    truth = ndimage.gaussian_filter(rng.standard_normal((BOX,) * 3), 1.2) * (r < 16)
    truth /= truth.std()
    fz = np.fft.fftfreq(BOX)[:, None, None]
    radius = np.sqrt(fz ** 2 + np.fft.fftfreq(BOX)[None, :, None] ** 2 + np.fft.rfftfreq(BOX)[None, None, :] ** 2)
    missing = np.abs(fz) > np.cos(np.radians(50)) * np.maximum(radius, 1e-9)
    weight = np.where(missing, 1e-3, 1.0) * (1 + 0.3 * rng.random(missing.shape))

    def half():
        f = np.fft.rfftn(truth + 0.6 * rng.standard_normal(truth.shape))
        f[missing] = 0
        return np.fft.irfftn(f, s=truth.shape).astype(np.float32)
    h1, h2 = half(), half()
    return truth, h1, fsc(h1, h2), weight, missing


def test_sampled_coefficients_are_the_directions_the_data_reached(cone):
    _, _, _, weight, missing = cone
    sampled = harm_guard.sampled_coefficients(weight, BOX // 2)
    idx = fourier.radial_index((BOX,) * 3)
    judged = (idx >= 2) & (idx < BOX // 2)
    assert np.mean(sampled[judged] == ~missing[judged]) > 0.99
    assert np.all(sampled[idx >= BOX // 2])
    with pytest.raises(ValueError, match='half-complex'):
        harm_guard.sampled_coefficients(weight[:, :, :-1], BOX // 2)


def test_truth_in_the_missing_cone_is_kept_when_judged_over_the_sampled_directions(cone):
    """What a missing cone lacks is what a good network adds: judged over every coefficient the
    truth fails (1) in the strong shells and loses its fill-in; judged over the sampled ones it
    passes, and the result is closer to the truth inside the cone."""
    truth, h1, f, weight, missing = cone
    n = cutoff(f)
    sampled = harm_guard.sampled_coefficients(weight, n)
    all_out, everywhere = harm_guard.apply(truth.astype(np.float32), h1, f, n)
    out, judged = harm_guard.apply(truth.astype(np.float32), h1, f, n, sampled=sampled)
    assert len(everywhere.shells_replaced) >= 3 and everywhere.sampled_fraction is None
    assert judged.shells_replaced == [] and judged.shells_scaled == 0 and not judged.whole_call
    assert 0.55 < judged.sampled_fraction < 0.75 and 'sampled directions' in judged.reason
    assert np.allclose(out, truth, atol=1e-4 * np.abs(truth).max())
    idx = fourier.radial_index(h1.shape)
    cone_shells = missing & (idx >= 1) & (idx < n)
    err = lambda m: np.sum(np.abs(np.fft.rfftn(m)[cone_shells] - np.fft.rfftn(truth)[cone_shells]) ** 2)
    assert err(out) < 0.5 * err(all_out)


def test_erasure_is_caught_over_the_sampled_directions(cone):
    truth, h1, f, weight, _ = cone
    other = ndimage.gaussian_filter(np.random.default_rng(9).standard_normal(truth.shape), 1.2)
    other *= truth.std() / other.std()
    sampled = harm_guard.sampled_coefficients(weight, cutoff(f))
    out, v = harm_guard.apply(other.astype(np.float32), h1, f, cutoff(f), sampled=sampled)
    assert v.whole_call and out is h1 and v.failing_signal_fraction > 0.9


def test_invented_power_in_the_missing_cone_is_scaled_to_the_sampled_directions(cone):
    """Density the data cannot judge is bounded by isotropy: per coefficient, the unsampled
    directions of a shell hold no more power than its sampled ones may (within the anisotropy
    allowed)."""
    truth, h1, f, weight, missing = cone
    n = cutoff(f)
    idx = fourier.radial_index(h1.shape)
    fe = np.fft.rfftn(wiener(h1, f))
    loud = np.fft.rfftn(5.0 * np.random.default_rng(7).standard_normal(h1.shape))
    fe[missing] = loud[missing]
    invented = np.fft.irfftn(fe, s=h1.shape).astype(np.float32)
    sampled = harm_guard.sampled_coefficients(weight, n)
    out, v = harm_guard.apply(invented, h1, f, n, sampled=sampled)
    assert not v.whole_call and v.shells_scaled >= n // 2, v
    fo, fp = np.fft.rfftn(out), np.fft.rfftn(h1)
    for k in range(1, n):
        in_cone, seen = missing & (idx == k), sampled & (idx == k)
        if k not in v.shells_replaced and in_cone.any():
            assert np.mean(np.abs(fo[in_cone]) ** 2) <= 1.01 * harm_guard.ANISOTROPY * np.mean(np.abs(fp[seen]) ** 2)


def test_where_every_direction_was_sampled_the_variant_is_the_guard(halves):
    """Uniform sampling (the development set's half-maps, every network-failure test): judging over
    the sampled directions decides and returns exactly what judging over all of them does."""
    truth, h1, _, f = halves
    n = cutoff(f)
    weight = 1 + 0.3 * np.random.default_rng(2).random((BOX, BOX, BOX // 2 + 1))
    sampled = harm_guard.sampled_coefficients(weight, n)
    assert sampled.all()
    other = ndimage.gaussian_filter(np.random.default_rng(9).standard_normal(truth.shape), 1.2)
    for m in (truth, 3.0 * h1, other * truth.std() / other.std(), wiener(h1, f)):
        a, va = harm_guard.apply(m.astype(np.float32), h1, f, n)
        b, vb = harm_guard.apply(m.astype(np.float32), h1, f, n, sampled=sampled)
        assert np.array_equal(a, b) and va[:6] == vb[:6] and vb.sampled_fraction == 1.0
