"""Angular and shift differences between two refinements of the same particles.

Particles are matched by ``_rlnImageName``. Orientations are RELION's Euler angles
(``relion_dem.core.analysis.euler``: A = Rz(psi)·Ry(tilt)·Rz(rot)); the difference is the
geodesic angle between the two rotation matrices. With a point-group symmetry the
map is invariant under the group's rotations L (as in RELION's ``symmetries.cpp``),
so A and A·L give the same projection: the difference is the minimum over the
group. Shifts are ``_rlnOriginX/YAngst`` (RELION 3.1) or ``_rlnOriginX/Y`` in pixels
(RELION 3.0, converted with the pixel size); the difference is the length of the
2D difference vector, in Å.
"""
import re

import os

import numpy as np

from relion_dem.core.analysis import euler
from relion_dem.core.io import star


def _axis_rotation(axis, degrees):
    axis = np.asarray(axis, float)
    axis = axis / np.linalg.norm(axis)
    x, y, z = axis
    t = np.radians(degrees)
    c, s = np.cos(t), np.sin(t)
    k = np.array([[0, -z, y], [z, 0, -x], [-y, x, 0]])
    return np.eye(3) + s * k + (1 - c) * (k @ k)


_PHI = (1 + 5 ** 0.5) / 2
_S5 = (1 + _PHI ** 2) ** 0.5    # |(1, 0, phi)|
_S3 = 3 ** 0.5
#: generators as RELION defines them (src/symmetries.cpp): (fold, axis); RELION writes the
#: axes to 6-10 digits, here they are exact so that the group closes to machine precision
_GENERATORS = {
    'T': [(3, (0, 0, 1)), (2, (0, (2 / 3.) ** 0.5, (1 / 3.) ** 0.5))],
    'O': [(3, (1, 1, 1)), (4, (0, 0, 1))],
    'I1': [(2, (1, 0, 0)), (5, (_PHI / _S5, 0, -1 / _S5)), (3, (_PHI / _S3, 1 / (_PHI * _S3), 0))],
    'I2': [(2, (0, 0, 1)), (5, (1 / _S5, 0, _PHI / _S5)), (3, (0, 1 / (_PHI * _S3), _PHI / _S3))],
    'I3': [(2, (-1 / _S5, 0, _PHI / _S5)), (5, (0, 0, 1)),
           (3, (-_PHI / (_S5 * _S3), 1 / (_PHI * _S3), _PHI ** 2 / (_S5 * _S3)))],
    'I4': [(2, (1 / _S5, 0, _PHI / _S5)), (5, (2 / 5 ** 0.5, 0, 1 / 5 ** 0.5)),
           (3, (_PHI / (_S5 * _S3), 1 / (_PHI * _S3), _PHI ** 2 / (_S5 * _S3)))],
}
_ORDER = {'T': 12, 'O': 24, 'I': 60}


def _close(generators, expected):
    """All products of the generators (group closure), as an (n, 3, 3) array."""
    group = [np.eye(3)]
    frontier = [np.eye(3)]
    while frontier:
        new = []
        for g in frontier:
            for h in generators:
                p = g @ h
                if not any(np.allclose(p, q, atol=1e-6) for q in group):
                    group.append(p)
                    new.append(p)
        frontier = new
        if len(group) > expected:
            raise ValueError('symmetry group closure exceeded %d elements' % expected)
    return np.array(group)


def symmetry_matrices(sym):
    """Rotation matrices (n, 3, 3) of a point group in RELION's convention:
    ``C<n>``, ``D<n>`` (n-fold on z, 2-fold on x), ``T``, ``O``, ``I`` (= ``I2``), ``I1``..``I4``."""
    s = str(sym).strip().upper()
    m = re.match(r'^([CD])(\d+)$', s)
    if m:
        n = int(m.group(2))
        if n < 1:
            raise ValueError('symmetry %r: order must be >= 1' % sym)
        gens = [_axis_rotation((0, 0, 1), 360.0 / n)]
        if m.group(1) == 'D':
            gens.append(_axis_rotation((1, 0, 0), 180.0))
        return _close(gens, 2 * n if m.group(1) == 'D' else n)
    key = 'I2' if s == 'I' else s
    if key in _GENERATORS:
        gens = [_axis_rotation(axis, 360.0 / fold) for fold, axis in _GENERATORS[key]]
        return _close(gens, _ORDER[key[0]])
    raise ValueError('symmetry %r not supported: use Cn, Dn, T, O, I, I1, I2, I3 or I4' % sym)


def rotation_angle(a, b):
    """Geodesic angle (degrees) between rotations ``a`` and ``b``: the angle of a·bᵀ, from
    atan2(sin, cos) so that small angles keep their precision (arccos loses it)."""
    m = np.einsum('...ij,...kj->...ik', a, b)
    cos = (np.trace(m, axis1=-2, axis2=-1) - 1) / 2
    sin = 0.5 * np.sqrt((m[..., 2, 1] - m[..., 1, 2]) ** 2 + (m[..., 0, 2] - m[..., 2, 0]) ** 2 +
                        (m[..., 1, 0] - m[..., 0, 1]) ** 2)
    return np.degrees(np.arctan2(sin, cos))


def geodesic(a, b, sym_matrices=None):
    """Geodesic angle (degrees) between rotations ``a`` and ``b`` (n, 3, 3); with
    ``sym_matrices`` the minimum over b·L for L in the group."""
    a = np.asarray(a, float)
    b = np.asarray(b, float)
    if sym_matrices is None or len(sym_matrices) <= 1:
        return rotation_angle(a, b)
    best = None
    for L in sym_matrices:
        d = rotation_angle(a, b @ L)
        best = d if best is None else np.minimum(best, d)
    return best


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
    ang = geodesic(ra, rb, symmetry_matrices(sym))
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
    return dict(angle_median_deg=float(np.median(angle_deg)), angle_mean_deg=float(np.mean(angle_deg)),
                angle_p90_deg=float(np.percentile(angle_deg, 90)),
                angle_within_10deg=float(np.mean(np.asarray(angle_deg) <= 10.0)),
                shift_median_A=float(np.median(shift_A)), shift_mean_A=float(np.mean(shift_A)),
                shift_p90_A=float(np.percentile(shift_A, 90)))


def euler_from_matrices(m):
    """RELION Euler angles (rot, tilt, psi) in degrees of rotation matrices (n, 3, 3);
    the inverse of ``relion_dem.core.analysis.euler.matrices`` (rot = 0 at tilt 0 or 180)."""
    m = np.asarray(m, float).reshape(-1, 3, 3)
    tilt = np.degrees(np.arccos(np.clip(m[:, 2, 2], -1, 1)))
    st = np.sqrt(m[:, 2, 0] ** 2 + m[:, 2, 1] ** 2)
    regular = st > 1e-6
    rot = np.where(regular, np.degrees(np.arctan2(m[:, 2, 1], m[:, 2, 0])), 0.0)
    psi = np.where(regular, np.degrees(np.arctan2(m[:, 1, 2], -m[:, 0, 2])),
                   np.where(m[:, 2, 2] > 0, np.degrees(np.arctan2(m[:, 0, 1], m[:, 0, 0])),
                            np.degrees(np.arctan2(m[:, 0, 1], -m[:, 0, 0]))))
    return rot, tilt, psi
