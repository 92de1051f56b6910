"""runinfo: what a finished refinement says about itself, on real RELION 3.1 model STARs.

Per-iteration table: real RELION 3.1.3 STARs (tests/data/relion31: iteration 5 healpix 1,
iteration 6 healpix 2 at 20.57 Å) laid out as a run, plus a hand-written run log: iteration 6
plain (gate closed), iteration 7 regularized on both halves (1.5 + 2.5 s), one fallback in
iteration 8 (half 2). Expected table written out in the tests.
"""
import json
import os
import shutil

import pytest

from relion_dem.core.analysis import runinfo
from relion_dem.core.io import star
from relion_dem.core.io.layout import RelionRun
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


@pytest.fixture
def run_root(tmp_path):
    """Real iteration STARs of a run and a hand-written run log with a truncated last line."""
    shutil.copy(os.path.join(DATA, 'run_it005_sampling.star'), str(tmp_path / 'run_it005_sampling.star'))
    shutil.copy(os.path.join(DATA, 'run_it006_sampling.star'), str(tmp_path / 'run_it006_sampling.star'))
    shutil.copy(os.path.join(DATA, 'run_it006_half1_model.star'), str(tmp_path / 'run_it006_half1_model.star'))
    records = [
        dict(iteration=6, half=1, healpix_order=1, gate=False, regularized=False, enhancer_s=0.0),
        dict(iteration=6, half=2, healpix_order=1, gate=False, regularized=False, enhancer_s=0.0),
        dict(iteration=7, half=1, healpix_order=2, gate=True, regularized=True, enhancer_s=1.5),
        dict(iteration=7, half=2, healpix_order=2, gate=True, regularized=True, enhancer_s=2.5),
        dict(iteration=8, half=1, healpix_order=2, gate=True, regularized=True, enhancer_s=1.0),
        dict(iteration=8, half=2, healpix_order=2, gate=True, regularized=False, enhancer_s=0.2,
             fallback='enhancer timed out'),
    ]
    with open(str(tmp_path / 'run_relion_dem.jsonl'), 'w') as f:
        for r in records:
            f.write(json.dumps(r) + '\n')
        f.write('{"iteration": 9, "half"')          # truncated last line (crash): skipped
    return str(tmp_path / 'run')


def test_iteration_table_by_hand(run_root):
    rows = runinfo.iteration_table(run_root)
    assert [r['iteration'] for r in rows] == [5, 6, 7, 8]
    by = {r['iteration']: r for r in rows}
    assert by[5]['healpix_order'] == 1 and by[5]['resolution_A'] is None and by[5]['calls'] == 0
    assert by[6]['healpix_order'] == 2 and by[6]['resolution_A'] == pytest.approx(20.571429)
    assert by[6]['regularized'] is False and by[6]['calls'] == 2
    assert by[7]['regularized'] is True and by[7]['enhancer_s'] == pytest.approx(4.0)
    assert by[7]['healpix_order'] == 2          # from the log: no sampling STAR of it 7
    assert by[8]['regularized'] is True and by[8]['fallbacks'] == 1
    assert by[8]['enhancer_s'] == pytest.approx(1.2)


def test_plain_run_without_log(run_root):
    os.remove(run_root + '_relion_dem.jsonl')
    rows = runinfo.iteration_table(run_root)
    assert [r['iteration'] for r in rows] == [5, 6]
    assert not any(r['regularized'] for r in rows)
    assert not os.path.exists(RelionRun(run_root).log)


def test_iteration_plot_is_written(run_root, tmp_path):
    from relion_dem.core.analysis import figures as plots
    fig = plots.iterations(runinfo.iteration_table(run_root), title='test')
    out = plots.save(fig, str(tmp_path / 'it.png'))
    assert os.path.getsize(out) > 5000
