"""RELION's Euler angles (ZYZ): A = Rz(psi) · Ry(tilt) · Rz(rot), in degrees.

The angle between two rotations is ``relion_dem.core.maths.rotations.rotation_angle``.
"""
import numpy as np


def _rz(a):
    c, s = np.cos(a), np.sin(a)
    z, o = np.zeros_like(a), np.ones_like(a)
    return np.stack([np.stack([c, s, z], -1), np.stack([-s, c, z], -1), np.stack([z, z, o], -1)], -2)


def _ry(a):
    c, s = np.cos(a), np.sin(a)
    z, o = np.zeros_like(a), np.ones_like(a)
    return np.stack([np.stack([c, z, -s], -1), np.stack([z, o, z], -1), np.stack([s, z, c], -1)], -2)


def matrices(rot, tilt, psi):
    """Rotation matrices (n, 3, 3) for RELION Euler angles in degrees (as RELION's Euler_angles2matrix)."""
    rot, tilt, psi = (np.radians(np.atleast_1d(np.asarray(a, dtype=float))) for a in (rot, tilt, psi))
    return _rz(psi) @ _ry(tilt) @ _rz(rot)


def from_matrices(m):
    """RELION Euler angles (rot, tilt, psi) in degrees of rotation matrices (n, 3, 3);
    the inverse of :func:`matrices` (rot = 0 at tilt 0 or 180)."""
    m = np.asarray(m, float).reshape(-1, 3, 3)
    tilt = np.degrees(np.arccos(np.clip(m[:, 2, 2], -1, 1)))
    st = np.sqrt(m[:, 2, 0] ** 2 + m[:, 2, 1] ** 2)
    regular = st > 1e-6
    rot = np.where(regular, np.degrees(np.arctan2(m[:, 2, 1], m[:, 2, 0])), 0.0)
    psi = np.where(regular, np.degrees(np.arctan2(m[:, 1, 2], -m[:, 0, 2])),
                   np.where(m[:, 2, 2] > 0, np.degrees(np.arctan2(m[:, 0, 1], m[:, 0, 0])),
                            np.degrees(np.arctan2(m[:, 0, 1], -m[:, 0, 0]))))
    return rot, tilt, psi
