"""Rotations: RELION's point-group symmetry operators, and the angle between two rotations.

With a point-group symmetry the map is invariant under the group's rotations L (as in
RELION's ``symmetries.cpp``), so A and A·L give the same projection: :func:`geodesic` is the
minimum over the group.
"""
import re

import numpy as np


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
