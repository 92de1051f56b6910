"""Applying a denoising network to a map the way deepEMhancer does, in pure numpy.

1. Fourier resampling to the network's voxel size (the box keeps its length in Å). A network
   trained over a range of voxel sizes (``net_voxel_size`` = (finest, coarsest)) works on the
   map's own grid when its voxel size is in that range, else on the nearest bound: fine maps
   keep the network's Nyquist high enough for 3 Å data, coarse ones are not upsampled.
   Optionally (``input_lowpass_A``: the data's resolution, FSC 1/7, as the runtime passes it)
   the input is first tapered to zero from that resolution to ``INPUT_TAPER`` times its
   frequency: what lies beyond is noise the FSC guard discards from the output anyway, and
   the noise statistics of step 2 must be those of the band the network reads, not of
   undamped noise up to a fine grid's Nyquist, which makes the molecule look like noise to
   the network;
2. noise-statistics normalization on that grid (what the network sees, as in training):
   ``(x - noise_mean) / (10 * noise_std)``, clipped at ``MAX_NORMALIZED`` (the noise then has
   standard deviation 0.1; deepEMhancer's convention), the noise statistics measured outside
   a centred sphere (or given);
3. overlapping cubes, each predicted, blended with a smooth weight window;
4. map statistics restored: ``y * 10 * noise_std + noise_mean``; resampled back to the
   input box; where the input was finer than the network's grid, the Fourier shells
   beyond the network's Nyquist are the input's, untouched;
5. optionally (``limit_band``, off by default) a band limit: the output low-passed at the
   first Fourier shell where its correlation with the *input* falls to chance
   (3/sqrt(coefficients in the shell)). In refinement the runtime's FSC guard does the
   stronger thing: it keeps the network's map only where the gold-standard half-map FSC
   is >= 1/7, the plain map beyond.

The network itself is any callable ``predict(batch) -> batch`` on arrays shaped
(b, n, n, n, 1) (see :mod:`relion_dem.core.network.worker`); everything here is
numpy, so it is testable without TensorFlow.
"""
import numpy as np

from relion_dem.core.maths import fourier
from relion_dem.core.guards.threshold import THRESHOLD

#: deepEMhancer's normalization: noise of std 0.1; values clipped at this bound
NOISE_STD_NORMALIZED = 0.1
MAX_NORMALIZED = 200.0
#: noise is measured on voxels farther than this fraction of the box from its centre
NOISE_RADIUS = 0.45
#: the input band limit tapers from 1/R to this many times 1/R (training zeroes the input beyond
#: 1.15-2 times 1/R in half of its samples, as RELION's current image size does)
INPUT_TAPER = 1.3


class InferenceError(ValueError):
    """The map cannot be processed (not cubic, constant, wrong options)."""


def noise_stats(data, radius=NOISE_RADIUS):
    """(mean, std) of the voxels outside the centred sphere of ``radius * box`` (the solvent).

    Falls back to the whole map when that region is flat (a masked map)."""
    n = data.shape[0]
    c = (np.arange(n) - n // 2) ** 2
    r2 = c[:, None, None] + c[None, :, None] + c[None, None, :]
    outer = data[r2 > (radius * n) ** 2]
    mean, std = float(outer.mean()), float(outer.std())
    if not std > 1e-6 * (float(data.std()) + 1e-30):
        mean, std = float(np.median(data)), float(data.std())
    return mean, std


def normalize(data, stats=None):
    """The normalized map and the (mean, std) used."""
    mean, std = stats if stats is not None else noise_stats(data)
    if not std > 0:
        raise InferenceError('map is constant: nothing to normalize')
    x = (data - mean) / (std / NOISE_STD_NORMALIZED)
    return np.clip(x, -MAX_NORMALIZED, MAX_NORMALIZED).astype(np.float32), (mean, std)


def restore(y, stats):
    """The network's output ``y`` back in the map's units: the inverse of :func:`normalize` with ``stats``."""
    mean, std = stats
    return (y * (std / NOISE_STD_NORMALIZED) + mean).astype(np.float32)


def network_voxel(voxel_size, net_voxel_size):
    """The grid (Å/voxel) the network works on for a map at ``voxel_size``: ``net_voxel_size``
    is one voxel size, or the (finest, coarsest) range the network was trained on."""
    if np.ndim(net_voxel_size) == 0:
        return float(net_voxel_size)
    lo, hi = (float(v) for v in net_voxel_size)
    return min(max(float(voxel_size), lo), hi)


def data_resolution(fsc, voxel_size, threshold=THRESHOLD):
    """The resolution (Å) where the gold-standard FSC falls below the guards' ``threshold``:
    where the runtime's input band limit starts (the FSC guard keeps the network's map up to
    about there)."""
    return float(fourier.resolution(fsc, voxel_size, threshold))


def band_limited(data, voxel_size, resolution_A, taper=INPUT_TAPER):
    """``data`` tapered (raised cosine) from 1/``resolution_A`` to ``taper``/``resolution_A``, 0 beyond."""
    n = data.shape[0]
    s = fourier.radial_frequency(data.shape) / (n * float(voxel_size))
    w = fourier.lowpass_weights(s, float(resolution_A) / taper, edge=1.0 - 1.0 / taper)
    if np.all(w == 1.0):
        return data
    return np.fft.irfftn(np.fft.rfftn(data) * w, s=data.shape, axes=(0, 1, 2)).astype(np.float32)


def describe_grid(net_voxel_size):
    """The network's grid in words, for reports."""
    if np.ndim(net_voxel_size) == 0:
        return '%.2f Å' % float(net_voxel_size)
    lo, hi = (float(v) for v in net_voxel_size)
    return "%.2f-%.2f Å (the map's own voxel size within that range)" % (lo, hi)


def resampled_box(box, voxel_size, net_voxel_size):
    """Box (voxels) of the same length in Å on the network's grid (:func:`network_voxel`)."""
    return max(8, int(round(box * float(voxel_size) / network_voxel(voxel_size, net_voxel_size))))


def window(cube, overlap):
    """3D blending weights of one cube: 0 on its outer ``overlap // 4`` voxels (where the
    network lacks context), then a raised-cosine ramp up to 1 over the rest of ``overlap``."""
    i = np.arange(cube, dtype=np.float64)
    d = np.minimum(i, cube - 1 - i)
    margin = overlap // 4
    ramp = max(float(overlap - 2 * margin), 1.0)
    w = np.clip((d - margin + 1) / ramp, 0.0, 1.0)
    w = 0.5 - 0.5 * np.cos(np.pi * w)
    return (w[:, None, None] * w[None, :, None] * w[None, None, :]).astype(np.float32)


def _starts(length, cube, stride):
    s = list(range(0, max(length - cube, 0) + 1, stride))
    if s[-1] + cube < length:
        s.append(length - cube)
    return s


def predict_tiled(x, predict, cube=64, overlap=16, batch_size=4, multiple=8, whole_up_to=0, border=None):
    """Prediction of a (normalized) cubic map by overlapping cubes with blended averaging.

    The map is reflect-padded by ``overlap`` so its borders get full context. A map whose
    padded size fits in one cube, or is at most ``whole_up_to`` voxels, is predicted whole
    (padded up to a multiple of ``multiple``): a fully convolutional network gives the same
    map without seams, and the cubes' overlaps are not computed twice (2-3x less work).
    ``border``: reflect padding of a map predicted whole (default ``overlap``; 0 where the
    map's borders do not matter, e.g. beyond a solvent mask).
    """
    n = x.shape[0]
    if border is not None and n + 2 * border <= max(cube, whole_up_to):
        pad = border
    else:
        pad = overlap
    xp = np.pad(x, pad, mode='reflect') if n > pad else np.pad(x, pad, mode='wrap')
    m = xp.shape[0]
    if m <= max(cube, whole_up_to):
        size = int(np.ceil(m / float(multiple)) * multiple)
        extra = size - m
        xq = np.pad(xp, ((0, extra),) * 3, mode='reflect' if m > extra else 'wrap')
        y = np.asarray(predict(xq[None, ..., None]))[0, ..., 0]
        return y[pad:pad + n, pad:pad + n, pad:pad + n].astype(np.float32)
    stride = cube - overlap
    starts = _starts(m, cube, stride)
    corners = [(a, b, c) for a in starts for b in starts for c in starts]
    w = window(cube, overlap)
    acc = np.zeros(xp.shape, np.float32)
    norm = np.zeros(xp.shape, np.float32)
    for k in range(0, len(corners), batch_size):
        chunk = corners[k:k + batch_size]
        cubes = np.stack([xp[a:a + cube, b:b + cube, c:c + cube] for a, b, c in chunk])[..., None]
        pred = np.asarray(predict(cubes))[..., 0]
        for (a, b, c), p in zip(chunk, pred):
            acc[a:a + cube, b:b + cube, c:c + cube] += w * p
            norm[a:a + cube, b:b + cube, c:c + cube] += w
    inner = (slice(pad, pad + n),) * 3
    return acc[inner] / norm[inner]  # every inner voxel lies inside some cube's non-zero window


def beyond_nyquist_from(output, source, voxel_size, net_voxel_size, edge=0.05):
    """``output`` with the Fourier shells beyond the network grid's Nyquist taken from ``source``."""
    if voxel_size >= net_voxel_size * (1 - 1e-3):
        return output
    n = output.shape[0]
    s = fourier.radial_frequency(output.shape) / (n * float(voxel_size))  # 1/Å
    s_net = 0.5 / float(net_voxel_size)
    t = np.clip((s_net - s) / (edge * s_net), 0.0, 1.0)  # 1 well inside, 0 at the net's Nyquist
    w = 0.5 - 0.5 * np.cos(np.pi * t)
    f = np.fft.rfftn(output) * w + np.fft.rfftn(source) * (1.0 - w)
    return np.fft.irfftn(f, s=output.shape, axes=(0, 1, 2)).astype(np.float32)


def support_shell(output, source, sigmas=3.0, first=2):
    """First Fourier shell (>= ``first``) where FSC(output, source) is below ``sigmas`` / sqrt(N),
    N the number of Fourier coefficients in the shell; box//2 + 1 if it never is."""
    curve = fourier.fsc(output, source)
    n_shell = len(curve)
    idx = fourier.radial_index(output.shape).ravel()
    counts = np.bincount(idx[idx < n_shell], minlength=n_shell)
    chance = sigmas / np.sqrt(np.maximum(counts, 1))
    below = np.nonzero(curve[first:] < chance[first:])[0]
    return int(below[0] + first) if below.size else n_shell


def band_limit(output, source, sigmas=3.0, edge=2.0):
    """``output`` low-passed at :func:`support_shell` (raised-cosine edge ``edge`` shells wide)
    and the shell used. Shells where the output is still correlated with the input are kept."""
    shell = support_shell(output, source, sigmas)
    n_shell = output.shape[0] // 2 + 1
    if shell >= n_shell:
        return output, shell
    r = np.arange(n_shell, dtype=float)
    w = np.clip((shell - r) / edge, 0.0, 1.0)  # 1 up to shell - edge, 0 from the shell on
    w = 0.5 - 0.5 * np.cos(np.pi * w)
    return fourier.apply_shell_weights(output, w), shell


#: voxels (network grid) kept around the solvent mask when cropping, for the network's context
SUPPORT_MARGIN = 8


def support_mask(n, radius, edge):
    """Centred sphere of ``radius`` voxels, raised-cosine fall to 0 over ``edge`` voxels beyond."""
    c = np.arange(n) - n // 2
    r = np.sqrt(c[:, None, None] ** 2 + c[None, :, None] ** 2 + c[None, None, :] ** 2)
    t = np.clip((r - radius) / max(edge, 1e-6), 0.0, 1.0)
    return (0.5 + 0.5 * np.cos(np.pi * t)).astype(np.float32)


def predict_support(x, predict, radius, margin=SUPPORT_MARGIN, multiple=8, **tiling):
    """Prediction of a (normalized) map only inside a centred sphere of ``radius`` voxels.

    The cube around the sphere plus ``margin`` is predicted (whole, without border padding:
    its borders lie beyond the mask, or in cubes, as :func:`predict_tiled`); beyond the sphere
    the output falls smoothly to 0 (the normalized solvent) over ``margin`` voxels. For
    refinement: RELION zeroes the reference beyond its solvent mask, so denoising the corners
    of the box is work thrown away."""
    n = x.shape[0]
    size = int(np.ceil((2 * radius + 2 * margin) / float(multiple)) * multiple)
    if size >= n:
        return predict_tiled(x, predict, multiple=multiple, border=0, **tiling) * support_mask(n, radius, margin)
    start = n // 2 - size // 2
    inner = (slice(start, start + size),) * 3
    y = np.zeros_like(x)
    y[inner] = predict_tiled(np.ascontiguousarray(x[inner]), predict, multiple=multiple, border=0, **tiling)
    return y * support_mask(n, radius, margin)


def enhance(data, voxel_size, predict, net_voxel_size, cube=64, overlap=16, batch_size=4,
            stats=None, keep_beyond_nyquist=True, multiple=8, limit_band=False, info=None, whole_up_to=0,
            support_radius_A=None, input_lowpass_A=None):
    """The network's map of ``data`` (any cubic box, any voxel size), in the input's units and box.

    ``input_lowpass_A``: the data's resolution; the network sees the input tapered beyond it
    (:func:`band_limited`); the shells beyond the network grid's Nyquist are still the input's.
    ``net_voxel_size``: the network's grid, or its (finest, coarsest) range (:func:`network_voxel`).
    ``support_radius_A``: denoise only inside this centred sphere (RELION's solvent mask), the
    normalized solvent (0) beyond it."""
    data = np.asarray(data, dtype=np.float32)
    if data.ndim != 3 or len(set(data.shape)) != 1:
        raise InferenceError('expected a cubic 3D map, got shape %s' % (data.shape,))
    if not voxel_size or voxel_size <= 0:
        raise InferenceError('voxel size must be positive, got %r' % voxel_size)
    n = data.shape[0]
    net_voxel_size = network_voxel(voxel_size, net_voxel_size)
    m = resampled_box(n, voxel_size, net_voxel_size)
    seen = band_limited(data, voxel_size, input_lowpass_A) if input_lowpass_A else data
    # normalized on the network's grid, as in training: on a finer map the noise beyond the
    # network's Nyquist would otherwise inflate the noise statistics the network is scaled by
    xr, stats = normalize(fourier.pad_or_resample(seen, m) if m != n else seen, stats)
    tiling = dict(cube=cube, overlap=overlap, batch_size=batch_size, multiple=multiple, whole_up_to=whole_up_to)
    if support_radius_A:
        y = predict_support(xr, predict, float(support_radius_A) / float(net_voxel_size), **tiling)
    else:
        y = predict_tiled(xr, predict, **tiling)
    yb = fourier.pad_or_resample(y, n).astype(np.float32) if m != n else y
    out = restore(yb, stats)
    shell = n // 2 + 1
    if limit_band:
        out, shell = band_limit(out, data)
        if info is not None:
            info['support_shell'] = shell
            info['support_resolution_A'] = round(n * voxel_size / max(shell, 1), 2)
    # the input's own shells beyond the network grid's Nyquist, unless the output was cut below it
    if keep_beyond_nyquist and shell >= n * voxel_size / (2.0 * net_voxel_size) - 1:
        out = beyond_nyquist_from(out, data, voxel_size, net_voxel_size)
    return out
