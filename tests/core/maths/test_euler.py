"""RELION's Euler angles (ZYZ, A = Rz(psi)·Ry(tilt)·Rz(rot)) to matrices and back."""
import numpy as np
import pytest

from relion_dem.core.maths import euler, rotations


def test_euler_matches_relion_convention():
    # RELION: A = Rz(psi) Ry(tilt) Rz(rot); the projection direction is A's third row
    a = euler.matrices(0, 90, 0)[0]
    np.testing.assert_allclose(a[2], [1, 0, 0], atol=1e-12)
    a = euler.matrices(90, 90, 0)[0]
    np.testing.assert_allclose(a[2], [0, 1, 0], atol=1e-12)
    r = euler.matrices([10, 50], [20, 60], [30, 70])
    assert rotations.rotation_angle(r, r) == pytest.approx([0, 0], abs=1e-5)
    # a 180-degree in-plane turn is 180 degrees away
    assert rotations.rotation_angle(euler.matrices(10, 20, 30), euler.matrices(10, 20, 210))[0] == pytest.approx(180)


def test_euler_round_trip():
    rng = np.random.default_rng(1)
    r, t, p = rng.uniform(-180, 180, 50), rng.uniform(0, 180, 50), rng.uniform(-180, 180, 50)
    t[:2] = [0.0, 180.0]
    m = euler.matrices(r, t, p)
    np.testing.assert_allclose(euler.matrices(*euler.from_matrices(m)), m, atol=1e-12)
