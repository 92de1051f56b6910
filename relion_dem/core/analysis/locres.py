"""Local resolution: RELION's ``relion_postprocess --locres`` and a numpy sliding-window FSC.

:func:`relion_locres` runs RELION (argument list, never a shell string) on two half
maps and reads ``<out>_locres.mrc``. :func:`local_resolution` is an independent
numpy estimate: the FSC of the two maps inside a window (a cube of ``box`` voxels
tapered by a Hann window) centred on every ``step``-th voxel, the resolution where
it first drops below ``threshold``, spread back to all voxels by nearest-neighbour
interpolation. FSC-Q (``fscq``) uses it with blocres' thresholds.
:func:`statistics` gives the median and a histogram inside a mask.
"""
import os

import numpy as np

from relion_dem.core.io import mrc
from relion_dem.core.analysis.fsc import resolution as _resolution
from relion_dem.core.io.relion import run as run_relion


def relion_locres(half1, half2, out_root, voxel_size=None, sampling_A=None, maskrad_A=None,
                  randomize_at_A=None, minres_A=None, bfactor=None, log=None, timeout=None):
    """Run ``relion_postprocess --locres`` and return ``(locres map, voxel size, path)``.

    ``out_root`` is RELION's ``--o`` (its folder is created). ``sampling_A`` defaults to
    RELION's 25 Å capped at a quarter of the box, so that small boxes get several samples.
    """
    for p in (half1, half2):
        if not os.path.exists(p):
            raise mrc.MapError('%s: half map does not exist' % p)
    data, apix = mrc.read(half1, cubic=True)
    voxel_size = float(voxel_size or apix)
    if sampling_A is None:
        sampling_A = min(25.0, data.shape[0] * voxel_size / 4.0)
    folder = os.path.dirname(os.path.abspath(out_root))
    os.makedirs(folder, exist_ok=True)
    args = ['relion_postprocess', '--locres', '--i', os.path.abspath(half1),
            '--i2', os.path.abspath(half2), '--o', os.path.abspath(out_root),
            '--angpix', '%g' % voxel_size, '--locres_sampling', '%g' % sampling_A]
    if maskrad_A:
        args += ['--locres_maskrad', '%g' % maskrad_A]
    if randomize_at_A:
        args += ['--locres_randomize_at', '%g' % randomize_at_A]
    if minres_A:
        args += ['--locres_minres', '%g' % minres_A]
    if bfactor:
        args += ['--adhoc_bfac', '%g' % bfactor]
    run_relion(args, log=log, cwd=folder, timeout=timeout)
    path = os.path.abspath(out_root) + '_locres.mrc'
    locres, v = mrc.read(path)
    return locres, v, path


def statistics(locres, mask=None, bins=None, mask_threshold=0.5):
    """Median, quartiles, mean and a histogram of a local-resolution map inside ``mask``
    (voxels with mask > ``mask_threshold`` and a positive resolution)."""
    locres = np.asarray(locres, float)
    sel = locres > 0
    if mask is not None:
        sel &= np.asarray(mask) > mask_threshold
    values = locres[sel]
    if values.size == 0:
        raise ValueError('no voxel of the local-resolution map lies inside the mask')
    if bins is None:
        lo, hi = np.floor(values.min()), np.ceil(values.max())
        bins = np.linspace(lo, max(hi, lo + 1), 31)
    counts, edges = np.histogram(values, bins=bins)
    q1, med, q3 = np.percentile(values, [25, 50, 75])
    return dict(median_A=float(med), q1_A=float(q1), q3_A=float(q3), mean_A=float(values.mean()),
                min_A=float(values.min()), max_A=float(values.max()), voxels=int(values.size),
                histogram=counts.tolist(), bin_edges=[float(e) for e in edges],
                values=values)


def hann_window(box):
    """3D Hann window (product of 1D periodic-free Hann windows) of ``box`` voxels."""
    w = np.hanning(box + 2)[1:-1]
    return w[:, None, None] * w[None, :, None] * w[None, None, :]


def _shell_index(box):
    f = np.fft.fftfreq(box) * box
    fx = np.fft.rfftfreq(box) * box
    r = np.sqrt(f[:, None, None] ** 2 + f[None, :, None] ** 2 + fx[None, None, :] ** 2)
    return np.round(r).astype(int)


def _rfftn(x):
    try:
        from scipy import fft as sfft
        return sfft.rfftn(x, axes=(1, 2, 3))
    except ImportError:  # pragma: no cover
        return np.fft.rfftn(x, axes=(1, 2, 3))


def window_fsc(a, b, centres, box, window=None):
    """FSC curves (n, box//2 + 1) of the ``box``-voxel windows of ``a`` and ``b`` centred at
    ``centres`` (n, 3) voxel indices (periodic boundaries)."""
    if window is None:
        window = hann_window(box)
    n = a.shape[0]
    offs = np.arange(box) - box // 2
    idx = _shell_index(box)
    nsh = box // 2 + 1
    keep = idx < nsh
    flat_idx = idx[keep]
    out = np.zeros((len(centres), nsh))
    onehot = np.zeros((flat_idx.size, nsh))
    onehot[np.arange(flat_idx.size), flat_idx] = 1.0
    chunk = 64
    for s in range(0, len(centres), chunk):
        c = np.asarray(centres[s:s + chunk])
        zz = (c[:, 0, None] + offs[None, :]) % n
        yy = (c[:, 1, None] + offs[None, :]) % n
        xx = (c[:, 2, None] + offs[None, :]) % n
        wa = a[zz[:, :, None, None], yy[:, None, :, None], xx[:, None, None, :]] * window
        wb = b[zz[:, :, None, None], yy[:, None, :, None], xx[:, None, None, :]] * window
        fa = _rfftn(wa)[:, keep]
        fb = _rfftn(wb)[:, keep]
        num = (fa * np.conj(fb)).real @ onehot
        da = (fa.real ** 2 + fa.imag ** 2) @ onehot
        db = (fb.real ** 2 + fb.imag ** 2) @ onehot
        with np.errstate(invalid='ignore', divide='ignore'):
            out[s:s + len(c)] = np.nan_to_num(num / np.sqrt(da * db))
    return out


def local_resolution(a, b, voxel_size, box=20, step=2, threshold=0.5, mask=None,
                     mask_threshold=0.01, max_resolution=None):
    """Sliding-window local resolution (Å) of maps ``a`` and ``b`` (blocres-like).

    Windows of ``box`` voxels (Hann taper) centred every ``step`` voxels where ``mask`` >
    ``mask_threshold`` (everywhere without a mask); the resolution is where the window
    FSC first drops below ``threshold`` (linear interpolation between shells; the
    window's Nyquist if never). Returns a map of the input's shape (0 outside the mask).
    """
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    n = a.shape[0]
    box = int(box)
    grid = np.arange(step // 2, n, step)
    zz, yy, xx = np.meshgrid(grid, grid, grid, indexing='ij')
    centres = np.stack([zz.ravel(), yy.ravel(), xx.ravel()], 1)
    if mask is not None:
        m = np.asarray(mask)
        # keep centres whose step-neighbourhood touches the mask
        from scipy import ndimage
        grown = ndimage.maximum_filter(m, size=step + 1, mode='wrap') > mask_threshold
        centres = centres[grown[centres[:, 0], centres[:, 1], centres[:, 2]]]
    curves = window_fsc(a, b, centres, box)
    res = np.array([_resolution(c, voxel_size, threshold) for c in curves])
    if max_resolution:
        res = np.minimum(res, max_resolution)
    coarse = np.zeros((len(grid),) * 3)
    ci = (centres - step // 2) // step
    coarse[ci[:, 0], ci[:, 1], ci[:, 2]] = res
    # nearest sampled centre for every voxel
    near = np.clip(np.round((np.arange(n) - step // 2) / step).astype(int), 0, len(grid) - 1)
    full = coarse[near[:, None, None], near[None, :, None], near[None, None, :]]
    if mask is not None:
        full = np.where(np.asarray(mask) > mask_threshold, full, 0.0)
    return full.astype(np.float32)
