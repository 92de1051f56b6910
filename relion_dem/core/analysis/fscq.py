"""FSC-Q (Ramirez-Aportela et al., Nat. Commun. 12:42, 2021): is the model supported by the map?

Two local-resolution maps are computed with a sliding-window FSC (as blocres in
Xmipp's ``validate fsc-q`` protocol: window ``box`` = 20 voxels, step 1, FSC
criterion): the full map against the map computed from the model, at FSC = 0.67,
and half map 1 against half map 2, at FSC = 0.5. FSC-Q is their difference
(map-model minus half-half, in Å) read at each atom; FSC-Qr divides it by the
half-map local resolution. Near 0: the model explains the signal the half maps
support; > +0.5 Å: the model fits worse than the data allow (poorly supported);
< -0.5 Å: the model agrees with the map beyond the half-map signal (overfitting
or noise fitted). Reported per atom, with the fractions above +0.5 and below -0.5.
"""
import numpy as np

from relion_dem.core.analysis.locres import local_resolution
from relion_dem.core.analysis.atomic_model import interpolate

MODEL_CUTOFF = 0.67
HALF_CUTOFF = 0.5


def model_mask(model_map, threshold=0.02, dilate=3):
    """Binary mask of the model map above ``threshold``·max, dilated by ``dilate`` voxels
    (as the Xmipp protocol builds one when none is given)."""
    from scipy import ndimage
    m = np.asarray(model_map) > threshold * float(np.max(model_map))
    if dilate:
        m = ndimage.binary_dilation(m, iterations=int(dilate))
    return m.astype(np.float32)


def fscq_maps(full_map, half1, half2, model_map, voxel_size, mask=None, box=20, step=1):
    """(FSC-Q map, map-model local resolution, half-half local resolution), all in Å."""
    if mask is None:
        mask = model_mask(model_map)
    res_model = local_resolution(full_map, model_map, voxel_size, box=box, step=step,
                                 threshold=MODEL_CUTOFF, mask=mask)
    res_half = local_resolution(half1, half2, voxel_size, box=box, step=step,
                                threshold=HALF_CUTOFF, mask=mask)
    diff = np.where(np.asarray(mask) > 0.01, res_model - res_half, 0.0).astype(np.float32)
    return diff, res_model, res_half


def fscq(full_map, half1, half2, model_map, voxel_size, xyz, mask=None, box=20, step=1,
         origin=(0.0, 0.0, 0.0)):
    """Per-atom FSC-Q and FSC-Qr at ``xyz`` (n, 3) Å, with summary numbers.

    Returns a dict: ``fscq`` and ``fscqr`` (arrays), ``mean``, ``mean_abs``, ``mean_r``,
    ``fraction_above`` / ``fraction_below`` (fractions of atoms with FSC-Q > +0.5 /
    < -0.5 Å), ``atoms``, and the three maps (``map``, ``res_model``, ``res_half``).
    """
    diff, res_model, res_half = fscq_maps(full_map, half1, half2, model_map, voxel_size, mask,
                                          box, step)
    # nearest voxel: local resolutions are piecewise constant and 0 outside the mask
    at = interpolate(diff, voxel_size, xyz, origin, order=0)
    rh = interpolate(res_half, voxel_size, xyz, origin, order=0)
    with np.errstate(invalid='ignore', divide='ignore'):
        atr = np.where(rh > 0, at / rh, np.nan)
    inside = rh > 0
    vals = at[inside]
    n = max(1, int(inside.sum()))
    return dict(fscq=np.where(inside, at, np.nan), fscqr=atr,
                mean=float(vals.mean()) if vals.size else float('nan'),
                mean_abs=float(np.abs(vals).mean()) if vals.size else float('nan'),
                mean_r=float(np.nanmean(atr)) if vals.size else float('nan'),
                fraction_above=float((vals > 0.5).sum()) / n,
                fraction_below=float((vals < -0.5).sum()) / n,
                atoms=int(inside.sum()), map=diff, res_model=res_model, res_half=res_half)
