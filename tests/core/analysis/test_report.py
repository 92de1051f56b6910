"""``relion_dem compare`` on real refinements (simulated 19hc data: plain RELION and
regularized with the classical enhancer), with the truth map and the atomic model.

Checks: exit status 0, report.md and metrics.json written, every expected PNG written
and non-trivial, numbers consistent with their sources (our gold-standard resolution
within 3 shells of relion_postprocess on the same maps and mask; the model.star
resolution as RELION wrote it; the DEM run has regularized iterations and enhancer
seconds, the plain run none; 500 particles matched); clear errors for bad inputs.
"""
import json
import os

import pytest

from relion_dem.core.analysis import compare_command, runinfo

from .conftest import MODEL, needs_relion

FIGURES = ['fsc.png', 'fsc_parts.png', 'fsc_truth.png', 'fsc_model.png', 'locres_hist.png',
           'angles_hist.png', 'shifts_hist.png', 'angles_truth_hist.png', 'shifts_truth_hist.png',
           'iterations_Plain.png', 'iterations_DEM.png', 'iterations_all.png', 'qscore_hist.png',
           'fscq_hist.png']


@pytest.fixture(scope='module')
def compared(refinements, tmp_path_factory):
    out = str(tmp_path_factory.mktemp('compare'))
    rc = compare_command.main([os.path.join(refinements, 'Plain'), os.path.join(refinements, 'DEM', 'run'),
                               '--truth', os.path.join(refinements, 'truth.mrc'),
                               '--model', MODEL, '--centre-model', '--fscq-step', '3', '--out', out])
    return rc, out, refinements


@needs_relion
def test_report_files(compared):
    rc, out, _ = compared
    assert rc == 0
    for name in FIGURES:
        p = os.path.join(out, name)
        assert os.path.exists(p), name
        assert os.path.getsize(p) > 10000, name
    text = open(os.path.join(out, 'report.md')).read()
    assert '| Plain |' in text and '| DEM |' in text
    for name in FIGURES:
        assert '(%s)' % name in text


@needs_relion
def test_report_numbers(compared):
    rc, out, base = compared
    m = json.load(open(os.path.join(out, 'metrics.json')))
    runs = {r['label']: r for r in m['runs']}
    assert set(runs) == {'Plain', 'DEM'}
    for label, r in runs.items():
        shells = lambda res: 40 * 3.0 / res  # noqa: E731
        assert abs(shells(r['resolution_0143_relion_def']) - shells(r['relion_postprocess_resolution'])) <= 3
        assert r['final_resolution_model_star'] == pytest.approx(
            runinfo.reported_resolution(os.path.join(base, label, 'run')))
        assert r['vs_truth']['matched'] == 500
        assert r['truth_resolution_05'] >= 6.0      # Nyquist (box 40, 3 Å) at best
        assert -1 <= r['qscore']['q_mean'] <= 1
        assert 0 <= r['fscq']['fraction_above'] <= 1
        assert 0 < r['locres']['median_A'] < 60
    assert runs['Plain']['regularized_iterations'] == 0 and runs['Plain']['enhancer_s'] == 0
    assert runs['DEM']['regularized_iterations'] > 0 and runs['DEM']['enhancer_s'] > 0
    assert any(it['regularized'] for it in runs['DEM']['iterations_table'])
    assert m['pairs'][0]['matched'] == 500 and m['pairs'][0]['pair'] == 'DEM vs Plain'


@needs_relion
@pytest.mark.bad_input
def test_missing_and_corrupt_inputs(refinements, tmp_path, capsys):
    rc = compare_command.main([str(tmp_path / 'nothing'), '--out', str(tmp_path / 'o')])
    assert rc == 2
    assert 'nothing' in capsys.readouterr().err
    bad = tmp_path / 'bad.mrc'
    bad.write_bytes(b'garbage')
    rc = compare_command.main([os.path.join(refinements, 'Plain'), '--mask', str(bad), '--no-locres',
                               '--no-relion-check', '--out', str(tmp_path / 'o2')])
    assert rc == 2
    assert 'bad.mrc' in capsys.readouterr().err
    rc = compare_command.main([os.path.join(refinements, 'Plain'), '--model', str(tmp_path / 'x.pdb'),
                               '--out', str(tmp_path / 'o3')])
    assert rc == 2
    assert 'x.pdb' in capsys.readouterr().err


def test_not_a_run_folder(tmp_path, capsys):
    (tmp_path / 'empty').mkdir()
    assert compare_command.main([str(tmp_path / 'empty'), '--out', str(tmp_path / 'o')]) == 2
    assert 'no RELION auto-refine run' in capsys.readouterr().err


def test_cli_delegates_compare(tmp_path, capsys):
    from relion_dem import cli
    assert cli.main(['compare', str(tmp_path / 'none'), '--out', str(tmp_path / 'o')]) == 2
    assert 'none' in capsys.readouterr().err
