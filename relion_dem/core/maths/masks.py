"""A soft solvent mask when the user gives none (as ``relion_mask_create`` would make one).

The map is low-passed (15 Å), thresholded at ``threshold`` standard deviations above
its mean, the largest connected piece kept, dilated by ``extend_A`` and given a
raised-cosine edge ``soft_A`` wide.
"""
import numpy as np

from relion_dem.core.maths import fourier


def soft_mask(data, voxel_size, lowpass_A=15.0, threshold=1.0, extend_A=3.0, soft_A=6.0):
    """Soft (0..1) solvent mask of map ``data`` (low-pass, threshold, largest piece, dilation, soft edge)."""
    from scipy import ndimage
    d = np.asarray(data, np.float64)
    if lowpass_A:
        d = fourier.lowpass(d, voxel_size, max(lowpass_A, 2.5 * voxel_size))
    binary = d > d.mean() + threshold * d.std()
    if not binary.any():
        raise ValueError('automatic mask: nothing above %.1f standard deviations' % threshold)
    labels, n = ndimage.label(binary)
    if n > 1:
        sizes = ndimage.sum(binary, labels, range(1, n + 1))
        binary = labels == (1 + int(np.argmax(sizes)))
    dist = ndimage.distance_transform_edt(~binary) * voxel_size
    ext = float(extend_A)
    soft = max(float(soft_A), 1e-6)
    m = np.where(dist <= ext, 1.0, np.where(dist >= ext + soft, 0.0,
                                            0.5 + 0.5 * np.cos(np.pi * (dist - ext) / soft)))
    return m.astype(np.float32)
