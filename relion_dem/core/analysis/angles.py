"""Angular and shift differences between two refinements of the same particles.

Particles are matched by ``_rlnImageName``. Orientations are RELION's Euler angles
(``relion_dem.core.maths.euler``: A = Rz(psi)·Ry(tilt)·Rz(rot)); the difference is the
geodesic angle between the two rotation matrices. With a point-group symmetry the
map is invariant under the group's rotations L (as in RELION's ``symmetries.cpp``),
so A and A·L give the same projection: the difference is the minimum over the
group (``relion_dem.core.maths.rotations``). Shifts are ``_rlnOriginX/YAngst`` (RELION 3.1)
or ``_rlnOriginX/Y`` in pixels (RELION 3.0, converted with the pixel size); the difference is
the length of the 2D difference vector, in Å.
"""
import os

import numpy as np

from relion_dem.core.io import star
from relion_dem.core.maths import euler, rotations


def read_particles(path):
    """{image name: (rot, tilt, psi, shift_x_A, shift_y_A)} from a RELION particle STAR."""
    blocks = star.read(path)
    names = [b.name for b in blocks]
    parts = star.block(blocks, 'particles') if 'particles' in names else blocks[-1]
    if not parts.is_loop:
        raise star.StarError('%s: no particle table' % path)
    labels = set(parts.labels)
    image = parts.column('_rlnImageName')
    rot = parts.column('_rlnAngleRot', float)
    tilt = parts.column('_rlnAngleTilt', float)
    psi = parts.column('_rlnAnglePsi', float)
    if '_rlnOriginXAngst' in labels:
        sx = parts.column('_rlnOriginXAngst', float)
        sy = parts.column('_rlnOriginYAngst', float)
    elif '_rlnOriginX' in labels:
        apix = _pixel_size(blocks, parts)
        sx = [v * apix for v in parts.column('_rlnOriginX', float)]
        sy = [v * apix for v in parts.column('_rlnOriginY', float)]
    else:
        sx = sy = [0.0] * len(image)
    return {n: (r, t, p, x, y) for n, r, t, p, x, y in zip(image, rot, tilt, psi, sx, sy)}


def _pixel_size(blocks, parts):
    for label in ('_rlnImagePixelSize', '_rlnPixelSize'):
        for b in blocks:
            if b.has(label):
                return b.get(label, float)
    if parts.has('_rlnDetectorPixelSize') and parts.has('_rlnMagnification'):
        return parts.get('_rlnDetectorPixelSize', float) * 1e4 / parts.get('_rlnMagnification', float)
    raise star.StarError('%s: shifts in pixels but no pixel size' % (parts.source or '<memory>'))


def compare(star_a, star_b, sym='C1'):
    """Per-particle differences between two particle STARs (paths or dicts from
    :func:`read_particles`), matched by image name.

    Returns a dict: ``names``, ``angle_deg`` and ``shift_A`` (numpy arrays), ``matched``,
    ``only_a``, ``only_b`` counts, and summary numbers (median, mean, 90th percentile).
    """
    a = read_particles(star_a) if isinstance(star_a, (str, bytes)) or hasattr(star_a, '__fspath__') else star_a
    b = read_particles(star_b) if isinstance(star_b, (str, bytes)) or hasattr(star_b, '__fspath__') else star_b
    names = [n for n in a if n in b]
    if not names:
        # the same particles copied to another folder (each Scipion protocol writes its own
        # stack path): match on image number @ stack file name when that stays unique
        a, b = _by_stack_name(a), _by_stack_name(b)
        names = [n for n in a if n in b] if a and b else []
    if not names:
        raise ValueError('no particle image name in common between %s and %s' % (star_a, star_b))
    va = np.array([a[n] for n in names])
    vb = np.array([b[n] for n in names])
    ra = euler.matrices(va[:, 0], va[:, 1], va[:, 2])
    rb = euler.matrices(vb[:, 0], vb[:, 1], vb[:, 2])
    ang = rotations.geodesic(ra, rb, rotations.symmetry_matrices(sym))
    shift = np.hypot(va[:, 3] - vb[:, 3], va[:, 4] - vb[:, 4])
    out = dict(names=names, angle_deg=ang, shift_A=shift, matched=len(names),
               only_a=len(a) - len(names), only_b=len(b) - len(names), sym=str(sym))
    out.update(summary(ang, shift))
    return out


def _by_stack_name(particles):
    """The same dict keyed by ``index@stack-file-name`` (folders dropped); None if not unique."""
    out = {}
    for name, value in particles.items():
        index, _, stack = name.partition('@')
        key = '%d@%s' % (int(index), os.path.basename(stack)) if index.isdigit() else name
        if key in out:
            return None
        out[key] = value
    return out


def summary(angle_deg, shift_A):
    """Median, mean and 90th percentile of the angle and shift differences, and the fraction within 10°."""
    return dict(angle_median_deg=float(np.median(angle_deg)), angle_mean_deg=float(np.mean(angle_deg)),
                angle_p90_deg=float(np.percentile(angle_deg, 90)),
                angle_within_10deg=float(np.mean(np.asarray(angle_deg) <= 10.0)),
                shift_median_A=float(np.median(shift_A)), shift_mean_A=float(np.mean(shift_A)),
                shift_p90_A=float(np.percentile(shift_A, 90)))
