"""RELION's point-group operators and the angle between rotations.

References:
* hand-computed rotations (geodesic angle of a known rotation);
* RELION's own symmetry operators (``relion_refine --sym S --print_symmetry_ops``): our
  group for C4, D3, D7, T, O, I, I1..I4 is the same set of matrices (to 2e-4);
* RELION's projector: projections by ``relion_project`` of a map symmetrized by
  ``relion_image_handler --sym`` are equal at A and A·L (L in the group), which is the
  equivalence the symmetry-aware distance assumes, and differ at L·A (wrong side).
"""
import re
import shutil
import subprocess

import numpy as np
import pytest

from relion_dem.core.io import mrc, star
from relion_dem.core.maths import euler, rotations as R

has_relion = shutil.which('relion_refine') is not None


def test_geodesic_hand_computed():
    a = euler.matrices([0, 10, 0], [0, 0, 90], [0, 0, 0])
    b = euler.matrices([0, 40, 0], [0, 0, 90], [30, 0, 30])
    np.testing.assert_allclose(R.geodesic(a, b), [30.0, 30.0, 30.0], atol=1e-9)
    # 180 degrees about x
    np.testing.assert_allclose(R.rotation_angle(np.eye(3), np.diag([1.0, -1, -1])), 180.0)


def test_symmetry_minimum_over_group():
    rng = np.random.default_rng(0)
    r, t, p = rng.uniform(0, 360, 20), rng.uniform(0, 180, 20), rng.uniform(0, 360, 20)
    a = euler.matrices(r, t, p)
    for sym, order in (('C4', 4), ('D2', 4), ('T', 12), ('O', 24), ('I', 60)):
        g = R.symmetry_matrices(sym)
        assert len(g) == order
        np.testing.assert_allclose(np.einsum('nij,nkj->nik', g, g), np.broadcast_to(np.eye(3), g.shape),
                                   atol=1e-9)
        b = a @ g[rng.integers(1, order, 20)]
        np.testing.assert_allclose(R.geodesic(a, b, g), 0.0, atol=1e-6)
        assert R.geodesic(a, b).min() > 1.0          # without symmetry they differ
    # C4: a 100 degree in-plane difference is 10 degrees modulo the 90 degree axis
    a = euler.matrices([0.0], [0.0], [0.0])
    b = euler.matrices([100.0], [0.0], [0.0])
    assert R.geodesic(a, b, R.symmetry_matrices('C4'))[0] == pytest.approx(10.0)


def test_unknown_symmetry():
    with pytest.raises(ValueError, match='not supported'):
        R.symmetry_matrices('H3')


def _relion_ops(sym):
    out = subprocess.run(['relion_refine', '--sym', sym, '--print_symmetry_ops'], capture_output=True,
                         text=True, timeout=60).stdout
    lines = out.splitlines()
    mats = [np.array([[float(x) for x in lines[i + k].split()] for k in (1, 2, 3)])
            for i, line in enumerate(lines) if re.match(r'\s*R\(\d+\)=', line)]
    return np.array(mats)


@pytest.mark.skipif(not has_relion, reason='relion_refine missing')
@pytest.mark.parametrize('sym', ['C4', 'D3', 'D7', 'T', 'O', 'I', 'I1', 'I3', 'I4'])
def test_groups_equal_relion_operators(sym):
    theirs = _relion_ops(sym)
    ours = R.symmetry_matrices(sym)
    assert len(theirs) == len(ours)
    for m in theirs:
        assert min(np.abs(m - o).max() for o in ours) < 2e-4


@pytest.mark.skipif(not shutil.which('relion_project'), reason='relion_project missing')
def test_symmetry_side_matches_relion_projector(tmp_path):
    rng = np.random.default_rng(2)
    n = 32
    z, y, x = np.mgrid[:n, :n, :n] - n // 2
    blob = np.zeros((n, n, n))
    for c in rng.uniform(-7, 7, (6, 3)):
        blob += np.exp(-((x - c[0]) ** 2 + (y - c[1]) ** 2 + (z - c[2]) ** 2) / 6.0)
    mrc.write(str(tmp_path / 'map.mrc'), blob, 2.0)
    subprocess.run(['relion_image_handler', '--i', 'map.mrc', '--o', 'sym.mrc', '--sym', 'T'],
                   cwd=str(tmp_path), check=True, capture_output=True)
    g = R.symmetry_matrices('T')
    a = euler.matrices([37.0], [64.0], [-21.0])[0]
    mats = [a, a @ g[5], a @ g[9], g[5] @ a]
    angs = np.array(euler.from_matrices(np.array(mats))).T
    rows = [['%06d@x.mrcs' % (i + 1), '%.6f' % r, '%.6f' % t, '%.6f' % p, 1]
            for i, (r, t, p) in enumerate(angs)]
    from relion_dem.core.simulation.simulate import optics_block
    star.write(str(tmp_path / 'ang.star'), [optics_block(2.0, n), star.Block('particles', labels=[
        '_rlnImageName', '_rlnAngleRot', '_rlnAngleTilt', '_rlnAnglePsi', '_rlnOpticsGroup'], rows=rows)])
    subprocess.run(['relion_project', '--i', 'sym.mrc', '--o', 'proj', '--ang', 'ang.star',
                    '--angpix', '2'], cwd=str(tmp_path), check=True, capture_output=True)
    import mrcfile
    with mrcfile.open(str(tmp_path / 'proj.mrcs'), permissive=True) as m:
        im = np.array(m.data, float)
    scale = np.abs(im[0]).max()
    assert np.abs(im[1] - im[0]).max() < 0.02 * scale      # A·L: same projection
    assert np.abs(im[2] - im[0]).max() < 0.02 * scale
    assert np.abs(im[3] - im[0]).max() > 0.2 * scale       # L·A: another view
