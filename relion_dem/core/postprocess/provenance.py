"""Where did the denoiser change the density more than the noise allows?

The provenance map is |E − P| / σ_local: how far the denoised map E moved from the plain
map P it was made from, in units of the local standard deviation of P's noise. The noise
is what the two half-maps disagree on: for the average of the halves, P = (H1 + H2)/2,
the difference (H1 − H2)/2 has the same noise and no signal; for one half-map the noise is
(H1 − H2)/√2. σ_local is its root-mean-square in a Gaussian window (``window_A``).

Reading it: a denoiser that only removes noise moves each voxel by about the noise, so the
map stays near 1 and rarely exceeds 3. Values above 3 mark density the data do not explain
by noise: density the network added or removed. Those voxels deserve a look before they
are interpreted (ligands, side chains, flexible parts).
"""
import numpy as np
from scipy import ndimage

THRESHOLD = 3.0


def noise_map(half1, half2, full_map=True):
    """Noise of the average of the halves (``full_map``) or of one half, from their difference."""
    d = np.asarray(half1, np.float64) - np.asarray(half2, np.float64)
    return d / 2.0 if full_map else d / np.sqrt(2.0)


def local_sd(noise, voxel_size, window_A=None, resolution_A=None):
    """Local root-mean-square of ``noise`` in a Gaussian window of ``window_A`` Å (default: twice
    the resolution, at least 3 voxels)."""
    if window_A is None:
        window_A = max(2.0 * (resolution_A or 0.0), 3.0 * voxel_size)
    sigma = window_A / voxel_size / 2.0
    var = ndimage.gaussian_filter(np.asarray(noise, np.float64) ** 2, sigma)
    floor = 1e-3 * float(np.sqrt(np.mean(noise ** 2))) + 1e-30
    return np.sqrt(np.maximum(var, floor ** 2))


def provenance(enhanced, plain, half1, half2, voxel_size, full_map=True, window_A=None, resolution_A=None):
    """|enhanced − plain| / σ_local as float32 (see the module docstring)."""
    sd = local_sd(noise_map(half1, half2, full_map), voxel_size, window_A, resolution_A)
    return (np.abs(np.asarray(enhanced, np.float64) - plain) / sd).astype(np.float32)


def fraction_above(prov, mask=None, threshold=THRESHOLD):
    """Fraction of the (mask > 0.5) volume where the provenance map exceeds ``threshold``."""
    inside = np.ones(prov.shape, bool) if mask is None else np.asarray(mask) > 0.5
    return float(np.mean(prov[inside] > threshold)) if inside.any() else 0.0
