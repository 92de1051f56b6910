"""runinfo: what a finished refinement says about itself, on real RELION 3.1 model STARs."""
import os
import shutil

import pytest

from relion_dem.core.analysis import runinfo
from relion_dem.core.io import star
from conftest import DATA

ISOLATED = os.path.join(DATA, 'isolated_shell')


@pytest.fixture
def isolated_run(tmp_path):
    """A converged run whose final model STAR RELION wrote with a resolution from a lone FSC shell."""
    for name in os.listdir(ISOLATED):
        shutil.copy(os.path.join(ISOLATED, name), str(tmp_path / name))
    return str(tmp_path / 'run')


def test_isolated_shell_reported_as_the_first_crossing(isolated_run):
    """RELION reported 7.51 Å (shell 23 of a 48 px box at 3.6 Å: FSC 0.17 there) while its FSC
    first falls below 0.143 after 24.69 Å (shell 7): relion_dem reports 24.69 Å and says why."""
    c = runinfo.resolution_check(isolated_run)
    assert c['relion_reported_A'] == pytest.approx(7.513044)
    assert c['fsc_first_crossing_A'] == pytest.approx(24.685715)
    assert c['final_A'] == pytest.approx(24.685715)
    assert c['isolated_shell'] == 23
    # the fixture's one earlier iteration (it016, image size 34) compared shells up to 17
    assert c['aligned_up_to_shell'] == 17
    assert '7.51' in c['note'] and '24.69' in c['note']
    assert runinfo.final_resolution(isolated_run) == pytest.approx(24.685715)
    s = runinfo.summary(isolated_run)
    assert s['final_resolution_A'] == pytest.approx(24.685715)
    assert s['relion_reported_resolution_A'] == pytest.approx(7.513044)
    assert s['resolution_note'] == c['note']


def test_consistent_run_keeps_relions_number(isolated_run):
    """An iteration model STAR whose resolution agrees with its FSC curve is left as RELION says."""
    shutil.copy(isolated_run + '_it016_half1_model.star', isolated_run + '_model.star')
    c = runinfo.resolution_check(isolated_run)
    assert c['final_A'] == c['relion_reported_A'] == pytest.approx(24.685715)
    assert c['isolated_shell'] is None and c['note'] is None


def test_unfinished_run_has_no_resolution(tmp_path):
    root = str(tmp_path / 'run')
    c = runinfo.resolution_check(root)
    assert c['final_A'] is None and c['fsc_first_crossing_A'] is None and c['note'] is None
    assert runinfo.aligned_up_to_shell(root) is None


def rewrite_final_fsc(root, fsc, reported_A):
    """The fixture's final model STAR with another FSC curve and reported resolution."""
    path = root + '_model.star'
    blocks = star.read(path)
    general = star.block(blocks, 'model_general')
    general.pairs['_rlnCurrentResolution'] = '%f' % reported_A
    cls = star.block(blocks, 'model_class_1')
    col = cls.labels.index('_rlnGoldStandardFsc')
    for row, v in zip(cls.rows, fsc):
        row[col] = '%f' % v
    with open(path, 'w') as f:
        f.write(star.dumps(blocks))


def test_fsc_that_dips_and_recovers_keeps_relions_number(isolated_run):
    """A real recovery (RELION's "FSC dipped ... too tight masks"), not a lone shell: RELION's
    number stands, with a note."""
    fsc = [1.0] * 11 + [0.10, 0.10] + [0.4] * 8 + [0.0] * 4       # shells 0-24
    rewrite_final_fsc(isolated_run, fsc, 48 * 3.6 / 20)
    c = runinfo.resolution_check(isolated_run)
    assert c['final_A'] == pytest.approx(8.64) and c['isolated_shell'] is None
    assert c['fsc_first_crossing_A'] == pytest.approx(48 * 3.6 / 10)
    assert 'dips below 0.143' in c['note']


def test_relions_minimum_of_five_shells_is_not_an_isolated_shell(isolated_run):
    """RELION never reports fewer than 5 shells: a curve below 0.143 from shell 2 gives shell 5."""
    fsc = [1.0, 0.5] + [0.05] * 23
    rewrite_final_fsc(isolated_run, fsc, 48 * 3.6 / 5)
    c = runinfo.resolution_check(isolated_run)
    assert c['final_A'] == pytest.approx(34.56) and c['isolated_shell'] is None and c['note'] is None
