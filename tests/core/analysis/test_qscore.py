"""Q-score against known answers.

* Isolated atoms drawn as A·exp(-½ r²/s²) + B on a fine grid (0.25 Å): every point
  survives the closest-atom test, so Q is the Pearson correlation of the two radial
  profiles at the 21 radii (equal weights), computed here by hand: s = 0.6 gives 1,
  s = 0.8 gives 0.9833, s = 1.0 gives 0.9576, s = 0.4 gives 0.9591 (tolerance 0.005:
  trilinear interpolation). Q does not change with the map's scale and offset.
* Two atoms 1.5 Å apart: points of one sphere closer to the other atom are dropped.
* Pure noise: mean Q near 0 (|mean| < 0.1 over 200 atoms).
* A map made from the model (19hc residues, gemmi, 1 Å voxels): mean Q > 0.85 with no
  blur and decreasing monotonically as a B-factor blurs it (0, 50, 150, 400 Å²);
  moving the model 1.5 Å off the map drops Q below 0.6.
"""
import numpy as np
import pytest

from relion_dem.core.simulation import density
from relion_dem.core.analysis import atomic_model as M, qscore as Q

from .conftest import MODEL


def gaussian_atoms(xyz, n, apix, s, A=1.0, B=0.0):
    z, y, x = np.mgrid[:n, :n, :n] * apix
    m = np.zeros((n, n, n))
    for p in xyz:
        m += np.exp(-0.5 * ((x - p[0]) ** 2 + (y - p[1]) ** 2 + (z - p[2]) ** 2) / s ** 2)
    return A * m + B


ISOLATED = np.array([[6, 6, 6], [14, 6, 6], [6, 14, 6], [6, 6, 14], [14, 14, 14]], float)


@pytest.mark.parametrize('s', [0.6, 0.8, 1.0, 0.4])
def test_isolated_gaussian_atoms_analytic(s):
    q = Q.qscores(gaussian_atoms(ISOLATED, 80, 0.25, s), 0.25, ISOLATED)
    expected = np.corrcoef(np.exp(-0.5 * (Q.RADII / s) ** 2), np.exp(-0.5 * (Q.RADII / 0.6) ** 2))[0, 1]
    np.testing.assert_allclose(q, expected, atol=0.005)


def test_hand_values_of_the_profiles():
    r = Q.RADII
    assert len(r) == 21 and r[0] == 0 and r[-1] == pytest.approx(2.0)
    c = lambda s: np.corrcoef(np.exp(-0.5 * (r / s) ** 2), np.exp(-0.5 * (r / 0.6) ** 2))[0, 1]  # noqa
    assert c(0.8) == pytest.approx(0.9833, abs=1e-4)
    assert c(1.0) == pytest.approx(0.9576, abs=1e-4)


def test_scale_and_offset_invariance_and_reference_parameters():
    m = gaussian_atoms(ISOLATED, 80, 0.25, 0.8)
    q1 = Q.qscores(m, 0.25, ISOLATED)
    q2 = Q.qscores(5 * m - 3, 0.25, ISOLATED)
    np.testing.assert_allclose(q1, q2, atol=1e-9)
    d = np.array([0.0, 1, 2, 3, 100])
    A, B = Q.reference_parameters(d)
    mean, sd = d.mean(), d.std()
    assert B == pytest.approx(max(mean - sd, 0.0))
    assert A + B == pytest.approx(min(mean + 10 * sd, 100.0))


def test_close_neighbour_removes_points():
    xyz = np.array([[10.0, 10.0, 10.0], [11.5, 10.0, 10.0]])
    m = gaussian_atoms(xyz, 80, 0.25, 0.6)
    q = Q.qscores(m, 0.25, xyz)
    # without the closest-atom rule the neighbour's density would enter each profile
    assert np.all(q > 0.9)
    pts = 10.0 + 1.0 * Q.sphere_points(8)   # radius 1 around atom 0: points with x > 10.75 go
    assert (pts[:, 0] > 10.75).sum() >= 1


def test_noise_gives_q_near_zero():
    rng = np.random.default_rng(0)
    xyz = rng.uniform(4, 36, (200, 3))
    q = Q.qscores(rng.normal(size=(80, 80, 80)), 0.5, xyz)
    assert abs(np.nanmean(q)) < 0.1


@pytest.fixture(scope='module')
def small_model():
    st = density.read_model(MODEL)
    ch = st[0][0]
    for i in range(len(ch) - 1, 59, -1):
        del ch[i]
    while len(st[0]) > 1:
        del st[0][1]
    atoms, placed = M.load(st, 56, 1.0, centre=True)
    return atoms, placed


def test_map_from_model(small_model):
    atoms, placed = small_model
    means = []
    for b in (0, 50, 150, 400):
        q = Q.qscores(M.model_map(placed, 56, 1.0, bfactor=b), 1.0, atoms.xyz)
        assert np.isfinite(q).all()
        means.append(float(np.mean(q)))
    assert means[0] > 0.85
    assert all(x > y for x, y in zip(means, means[1:]))
    s = Q.summary(q, atoms)
    assert s['residues'] == 60 and s['atoms'] == len(atoms)
    res = Q.per_residue(q, atoms)
    assert len(res) == 60 and res[0][0] == atoms.chain[0]
    # a model off the map by 1.5 Å scores far worse
    q_off = Q.qscores(M.model_map(placed, 56, 1.0), 1.0, atoms.xyz + [1.5, 0, 0])
    assert np.mean(q_off) < 0.6


def test_expected_q():
    assert Q.expected_q(3.0) == pytest.approx(0.5867, abs=1e-4)
