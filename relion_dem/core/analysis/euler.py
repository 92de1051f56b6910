"""RELION's Euler angles (ZYZ): A = Rz(psi) · Ry(tilt) · Rz(rot), in degrees."""
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


def angular_distance(a, b):
    """Geodesic angle in degrees between rotation matrices ``a`` and ``b`` (broadcast over n)."""
    m = np.einsum('...ij,...kj->...ik', a, b)
    tr = np.clip((np.trace(m, axis1=-2, axis2=-1) - 1) / 2, -1, 1)
    return np.degrees(np.arccos(tr))
