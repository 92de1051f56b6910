"""Angular and shift differences between refinements (the rotation primitives they use are
tested in tests/core/maths/test_rotations.py).

References:
* hand-computed differences (angles of known rotations; shift vector lengths);
* a real refinement against its simulated ground truth (matched by image name).
"""
import os

import pytest

from relion_dem.core.io import star
from relion_dem.core.analysis import angles as A

from .conftest import needs_relion


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
