"""Fourier-space primitives shared by filters, guards, network, metrics and simulation.

Shells: :func:`radial_index` (integer shell of every ``rfftn`` coefficient),
:func:`apply_shell_weights`, :func:`from_padded_halfcomplex` (RELION's padded Fourier arrays
on a map's grid); filters: :func:`lowpass`, :func:`lowpass_weights`; resampling:
:func:`crop`, :func:`pad_or_resample`; the FSC per shell (:func:`fsc`, RELION's shells),
:func:`resolution` where it crosses a threshold, :func:`shell_resolutions`. The masked FSC
with its phase-randomization correction is ``relion_dem.core.analysis.fsc``.
"""
import numpy as np


def radial_index(shape):
    """Integer Fourier shell index of every rfftn coefficient of a cubic map."""
    n = shape[0]
    fz = np.fft.fftfreq(n) * n
    fy = np.fft.fftfreq(shape[1]) * shape[1]
    fx = np.fft.rfftfreq(shape[2]) * shape[2]
    r = np.sqrt(fz[:, None, None] ** 2 + fy[None, :, None] ** 2 + fx[None, None, :] ** 2)
    return np.round(r).astype(np.int32)


def radial_frequency(shape):
    """Fractional shell radius (in voxels of the reciprocal grid) of every rfftn coefficient."""
    n = shape[0]
    fz = np.fft.fftfreq(n) * n
    fy = np.fft.fftfreq(shape[1]) * shape[1]
    fx = np.fft.rfftfreq(shape[2]) * shape[2]
    return np.sqrt(fz[:, None, None] ** 2 + fy[None, :, None] ** 2 + fx[None, None, :] ** 2)


def from_padded_halfcomplex(array, box):
    """The values of a padded half-complex Fourier array (RELION's back-projector arrays as
    ``relion_refine --external_reconstruct`` writes them: ``(p·box, p·box, p·box/2 + 1)``, FFTW's
    layout, origin at [0, 0, 0]) at the coefficients of a ``box``³ map's ``rfftn``. ValueError
    when the shape is not that of an integer padding of ``box``."""
    array = np.asarray(array)
    pad = array.shape[0] // box if box else 0
    if pad < 1 or array.shape != (pad * box, pad * box, pad * box // 2 + 1):
        raise ValueError('Fourier array of shape %s is not a padded half-complex array of a %d-voxel box'
                         % (array.shape, box))
    f = (np.fft.fftfreq(box) * box).astype(int)
    z = (pad * f) % (pad * box)
    x = pad * np.arange(box // 2 + 1)
    return array[np.ix_(z, z, x)]


def apply_shell_weights(data, weights):
    """Multiply each Fourier shell i of ``data`` by ``weights[i]`` (beyond the last: 0)."""
    weights = np.asarray(weights, dtype=np.float64)
    f = np.fft.rfftn(data)
    idx = radial_index(data.shape)
    w = np.zeros(idx.max() + 1)
    k = min(len(weights), len(w))
    w[:k] = weights[:k]
    f *= w[idx]
    return np.fft.irfftn(f, s=data.shape, axes=(0, 1, 2)).astype(np.float32)


def lowpass_weights(s, cutoff_A, edge=0.15):
    """Raised cosine of the frequencies ``s`` (1/Å): 1 up to ``(1-edge)/cutoff``, falling to 0 at
    ``1/cutoff``, 0 beyond."""
    sc = 1.0 / float(cutoff_A)
    t = np.clip((sc - s) / (edge * sc), 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * t)


def lowpass(data, voxel_size, resolution, edge_shells=2.0):
    """Low-pass ``data`` to ``resolution`` Å with a raised-cosine edge ``edge_shells`` wide."""
    n = data.shape[0]
    cutoff = n * voxel_size / float(resolution)
    r = radial_frequency(data.shape)
    w = np.clip((cutoff + edge_shells / 2 - r) / edge_shells, 0, 1)
    w = 0.5 - 0.5 * np.cos(np.pi * w)
    return np.fft.irfftn(np.fft.rfftn(data) * w, s=data.shape, axes=(0, 1, 2)).astype(np.float32)


def crop(data, box):
    """Fourier-crop a cubic map to ``box`` (downsampling; keeps the sum per unit length)."""
    n = data.shape[0]
    if box == n:
        return data.copy()
    f = np.fft.fftshift(np.fft.fftn(data))
    lo = n // 2 - box // 2
    f = f[lo:lo + box, lo:lo + box, lo:lo + box]
    out = np.fft.ifftn(np.fft.ifftshift(f)).real
    return out * (float(box) / n) ** 3


def pad_or_resample(data, box):
    """Fourier-resample a cubic map to ``box`` voxels (up or down)."""
    n = data.shape[0]
    if box <= n:
        return crop(data, box)
    f = np.fft.fftshift(np.fft.fftn(data))
    out = np.zeros((box,) * 3, dtype=complex)
    lo = box // 2 - n // 2
    out[lo:lo + n, lo:lo + n, lo:lo + n] = f
    return (np.fft.ifftn(np.fft.ifftshift(out)).real * (float(box) / n) ** 3)


def _fsc(a, b, mask=None):
    """FSC per shell (index 0 .. box//2) between maps ``a`` and ``b`` (optionally masked)."""
    if a.shape != b.shape:
        raise ValueError('FSC: maps differ in shape: %s vs %s' % (a.shape, b.shape))
    if mask is not None:
        a, b = a * mask, b * mask
    fa, fb = np.fft.rfftn(a), np.fft.rfftn(b)
    idx = radial_index(a.shape).ravel()
    n = a.shape[0] // 2 + 1
    keep = idx < n
    idx = idx[keep]
    fa, fb = fa.ravel()[keep], fb.ravel()[keep]
    num = np.bincount(idx, (fa * np.conj(fb)).real, n)
    da = np.bincount(idx, np.abs(fa) ** 2, n)
    db = np.bincount(idx, np.abs(fb) ** 2, n)
    with np.errstate(invalid='ignore', divide='ignore'):
        out = num / np.sqrt(da * db)
    return np.nan_to_num(out)


def fsc(a, b, mask=None):
    """FSC per shell 0 .. box//2 (double precision; same shells as RELION's getFSC)."""
    return _fsc(np.asarray(a, np.float64), np.asarray(b, np.float64), mask)


def resolution(curve, voxel_size, threshold=0.143):
    """Resolution (Å) where ``curve`` first falls below ``threshold`` (linear interpolation
    between shells); Nyquist if it never does."""
    curve = np.asarray(curve, dtype=float)
    box = 2 * (len(curve) - 1)
    for i in range(1, len(curve)):
        if curve[i] < threshold:
            f0, f1 = curve[i - 1], curve[i]
            shell = i - 1 + (f0 - threshold) / (f0 - f1) if f0 != f1 else i
            shell = max(shell, 1e-6)
            return box * voxel_size / shell
    return 2.0 * voxel_size


def shell_resolutions(box, voxel_size):
    """Resolution (Å) of each shell 0 .. box//2 (shell 0: inf)."""
    with np.errstate(divide='ignore'):
        return box * voxel_size / np.arange(box // 2 + 1, dtype=float)
