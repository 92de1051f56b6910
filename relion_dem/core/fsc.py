"""Fourier shell correlation and the resolution it implies."""
import numpy as np

from . import fourier


def fsc(a, b, mask=None):
    """FSC per shell (index 0 .. box//2) between maps ``a`` and ``b`` (optionally masked)."""
    if a.shape != b.shape:
        raise ValueError('FSC: maps differ in shape: %s vs %s' % (a.shape, b.shape))
    if mask is not None:
        a, b = a * mask, b * mask
    fa, fb = np.fft.rfftn(a), np.fft.rfftn(b)
    idx = fourier.radial_index(a.shape).ravel()
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
