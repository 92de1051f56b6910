"""Angular and shift differences.

References:
* hand-computed rotations (geodesic angle of a known rotation; shift vector lengths);
* RELION's own symmetry operators (``relion_refine --sym S --print_symmetry_ops``): our
  group for C4, D3, D7, T, O, I, I1..I4 is the same set of matrices (to 2e-4);
* RELION's projector: projections by ``relion_project`` of a map symmetrized by
  ``relion_image_handler --sym`` are equal at A and A·L (L in the group), which is the
  equivalence the symmetry-aware distance assumes, and differ at L·A (wrong side);
* a real refinement against its simulated ground truth (matched by image name).
"""
import os
import re
import shutil
import subprocess

import numpy as np
import pytest

from relion_dem.core.analysis import euler
from relion_dem.core.io import mrc, star
from relion_dem.core.analysis import angles as A

from .conftest import needs_relion

has_relion = shutil.which('relion_refine') is not None


def test_geodesic_hand_computed():
    a = euler.matrices([0, 10, 0], [0, 0, 90], [0, 0, 0])
    b = euler.matrices([0, 40, 0], [0, 0, 90], [30, 0, 30])
    np.testing.assert_allclose(A.geodesic(a, b), [30.0, 30.0, 30.0], atol=1e-9)
    # 180 degrees about x
    np.testing.assert_allclose(euler.angular_distance(np.eye(3), np.diag([1.0, -1, -1])), 180.0)


def test_symmetry_minimum_over_group():
    rng = np.random.default_rng(0)
    r, t, p = rng.uniform(0, 360, 20), rng.uniform(0, 180, 20), rng.uniform(0, 360, 20)
    a = euler.matrices(r, t, p)
    for sym, order in (('C4', 4), ('D2', 4), ('T', 12), ('O', 24), ('I', 60)):
        g = A.symmetry_matrices(sym)
        assert len(g) == order
        np.testing.assert_allclose(np.einsum('nij,nkj->nik', g, g), np.broadcast_to(np.eye(3), g.shape),
                                   atol=1e-9)
        b = a @ g[rng.integers(1, order, 20)]
        np.testing.assert_allclose(A.geodesic(a, b, g), 0.0, atol=1e-6)
        assert A.geodesic(a, b).min() > 1.0          # without symmetry they differ
    # C4: a 100 degree in-plane difference is 10 degrees modulo the 90 degree axis
    a = euler.matrices([0.0], [0.0], [0.0])
    b = euler.matrices([100.0], [0.0], [0.0])
    assert A.geodesic(a, b, A.symmetry_matrices('C4'))[0] == pytest.approx(10.0)


def test_unknown_symmetry():
    with pytest.raises(ValueError, match='not supported'):
        A.symmetry_matrices('H3')


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
    ours = A.symmetry_matrices(sym)
    assert len(theirs) == len(ours)
    for m in theirs:
        assert min(np.abs(m - o).max() for o in ours) < 2e-4


def test_euler_round_trip():
    rng = np.random.default_rng(1)
    r, t, p = rng.uniform(-180, 180, 50), rng.uniform(0, 180, 50), rng.uniform(-180, 180, 50)
    t[:2] = [0.0, 180.0]
    m = euler.matrices(r, t, p)
    np.testing.assert_allclose(euler.matrices(*A.euler_from_matrices(m)), m, atol=1e-12)


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
    g = A.symmetry_matrices('T')
    a = euler.matrices([37.0], [64.0], [-21.0])[0]
    mats = [a, a @ g[5], a @ g[9], g[5] @ a]
    angs = np.array(A.euler_from_matrices(np.array(mats))).T
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


def _write_particles(path, rows, pixel_shifts=False, apix=2.0):
    if pixel_shifts:
        labels = ['_rlnImageName', '_rlnAngleRot', '_rlnAngleTilt', '_rlnAnglePsi', '_rlnOriginX', '_rlnOriginY']
        rows = [[r[0], r[1], r[2], r[3], r[4] / apix, r[5] / apix] for r in rows]
        optics = star.Block('optics', labels=['_rlnOpticsGroup', '_rlnImagePixelSize'], rows=[[1, apix]])
    else:
        labels = ['_rlnImageName', '_rlnAngleRot', '_rlnAngleTilt', '_rlnAnglePsi',
                  '_rlnOriginXAngst', '_rlnOriginYAngst']
        optics = star.Block('optics', labels=['_rlnOpticsGroup', '_rlnImagePixelSize'], rows=[[1, apix]])
    star.write(path, [optics, star.Block('particles', labels=labels, rows=rows)])


def test_compare_matched_by_name_hand_computed(tmp_path):
    a = [['1@s.mrcs', 0, 90, 0, 0.0, 0.0], ['2@s.mrcs', 10, 20, 30, 1.0, 1.0], ['3@s.mrcs', 0, 0, 0, 0, 0]]
    b = [['2@s.mrcs', 10, 20, 30, 4.0, 5.0], ['1@s.mrcs', 0, 90, 20, 0.0, 0.0], ['9@s.mrcs', 0, 0, 0, 0, 0]]
    _write_particles(str(tmp_path / 'a.star'), a)
    _write_particles(str(tmp_path / 'b.star'), b, pixel_shifts=True, apix=2.0)
    d = A.compare(str(tmp_path / 'a.star'), str(tmp_path / 'b.star'))
    assert d['matched'] == 2 and d['only_a'] == 1 and d['only_b'] == 1
    got = dict(zip(d['names'], zip(d['angle_deg'], d['shift_A'])))
    assert got['1@s.mrcs'][0] == pytest.approx(20.0) and got['1@s.mrcs'][1] == pytest.approx(0.0)
    assert got['2@s.mrcs'][0] == pytest.approx(0.0, abs=1e-6) and got['2@s.mrcs'][1] == pytest.approx(5.0)


def test_no_common_particles_is_an_error(tmp_path):
    _write_particles(str(tmp_path / 'a.star'), [['1@a', 0, 0, 0, 0, 0]])
    _write_particles(str(tmp_path / 'b.star'), [['1@b', 0, 0, 0, 0, 0]])
    with pytest.raises(ValueError, match='no particle image name in common'):
        A.compare(str(tmp_path / 'a.star'), str(tmp_path / 'b.star'))


@needs_relion
def test_real_refinement_against_truth(refinements):
    d = A.compare(os.path.join(refinements, 'Plain', 'run_data.star'),
                  os.path.join(refinements, 'truth_particles.star'), 'C1')
    assert d['matched'] == 500
    # SNR 0.3, box 40 at 3 Å. 19hc is a pseudo-symmetric dimer: RELION puts many particles
    # at the pseudo-2-fold mate (about 180 degrees off, seen in the report's histogram), so
    # the check is: nearly every particle within 10 degrees of the truth or of its mate,
    # at least a third right, and shifts within a few Å
    a = d['angle_deg']
    assert ((a <= 10) | (a >= 170)).mean() > 0.9
    assert d['angle_within_10deg'] > 0.33
    assert d['shift_median_A'] < 3.0


def test_same_particles_in_other_folders_are_matched(tmp_path):
    """Each Scipion protocol writes the particles to its own folder: match by number @ stack name."""
    from relion_dem.core.io import star
    rows_a = [['%06d@Runs/000105_Refine/extra/particles.mrcs' % i, 10.0 * i, 20.0, 30.0] for i in range(1, 6)]
    rows_b = [['%06d@Runs/000187_Refine/extra/particles.mrcs' % i, 10.0 * i, 20.0, 35.0] for i in range(1, 6)]
    labels = ['_rlnImageName', '_rlnAngleRot', '_rlnAngleTilt', '_rlnAnglePsi']
    for name, rows in (('a.star', rows_a), ('b.star', rows_b)):
        star.write(tmp_path / name, [star.Block('particles', labels=labels, rows=rows)])
    d = A.compare(str(tmp_path / 'a.star'), str(tmp_path / 'b.star'))
    assert d['matched'] == 5
    assert d['angle_median_deg'] == pytest.approx(5.0, abs=1e-6)


@pytest.mark.bad_input
def test_relion30_style_star_read_with_pixel_shifts(tmp_path):
    """RELION 3.0 STAR: no optics block, origins in pixels, pixel size from detector/magnification."""
    from relion_dem.core.io import star
    labels = ['_rlnImageName', '_rlnAngleRot', '_rlnAngleTilt', '_rlnAnglePsi', '_rlnOriginX',
              '_rlnOriginY', '_rlnDetectorPixelSize', '_rlnMagnification']
    rows = [['%06d@p.mrcs' % i, 10.0, 20.0, 30.0, 2.0, -1.0, 5.0, 25000] for i in range(1, 4)]
    path = tmp_path / 'relion30.star'
    path.write_text('data_\n' + star.dumps([star.Block('', labels=labels, rows=rows)]).split('data_\n', 1)[1])
    parts = A.read_particles(str(path))
    assert parts['000001@p.mrcs'][3:] == pytest.approx((4.0, -2.0))     # 2 px × 2 Å
    bad = tmp_path / 'no_pixel_size.star'
    star.write(bad, [star.Block('particles', labels=labels[:6], rows=[r[:6] for r in rows])])
    with pytest.raises(star.StarError, match='no_pixel_size.star: shifts in pixels but no pixel size'):
        A.read_particles(str(bad))
