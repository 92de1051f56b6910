"""The FSC guard (as RELION 5's Blush does).

Keep the enhanced map only in the Fourier shells where the current gold-standard
FSC is at least the threshold (:data:`relion_dem.core.guards.THRESHOLD`, 1/7), and the
plain reconstruction beyond, with a raised-cosine edge. The network then cannot add power where the data have no
signal, and so cannot inflate the FSC that drives the next iteration.
"""
import numpy as np

from relion_dem.core.maths import fourier
from relion_dem.core.guards.threshold import THRESHOLD


def cutoff_shell(fsc, threshold=THRESHOLD):
    """First shell (>= 1) where ``fsc`` falls below ``threshold``; len(fsc) if it never does."""
    fsc = np.asarray(fsc, dtype=float)
    below = np.nonzero(fsc[1:] < threshold)[0]
    return int(below[0] + 1) if below.size else len(fsc)


def blend_weights(n_shells, cutoff, edge=2.0):
    """Weight of the enhanced map per shell: 1 below ``cutoff - edge``, 0 from ``cutoff`` on."""
    r = np.arange(n_shells, dtype=float)
    w = np.clip((cutoff - r) / edge, 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * w)


def blend(enhanced, plain, fsc, threshold=THRESHOLD, edge=2.0):
    """Enhanced map up to the FSC cutoff, plain map beyond. Returns (map, cutoff shell)."""
    if enhanced.shape != plain.shape:
        raise ValueError('FSC guard: enhanced map %s and plain map %s differ in shape'
                         % (enhanced.shape, plain.shape))
    idx = fourier.radial_index(plain.shape)
    n_shells = int(idx.max()) + 1
    cut = cutoff_shell(fsc, threshold)
    w = blend_weights(n_shells, cut, edge)[idx]
    fe = np.fft.rfftn(enhanced)
    fp = np.fft.rfftn(plain)
    out = np.fft.irfftn(w * fe + (1.0 - w) * fp, s=plain.shape, axes=(0, 1, 2))
    return out.astype(np.float32), cut
