"""The cross-structure summary: the gate it recommends follows the paired repeats."""
import json
import os

import numpy as np
import pytest

from relion_dem.core.analysis import fsc
from relion_dem_dev.bench import report, settings, summary


def _result(sid, from_first_diff, p, cone=None, snr=0.15):
    arms = {a: {'truth_res_masked_A': dict(mean=10.0, sd=0.1, n=3, values=[10.0] * 3),
                'ang_err_deg': dict(mean=5.0, sd=0.5, n=3, values=[5.0] * 3),
                'wall_s': dict(mean=100.0 if a != 'relion' else 50.0, sd=1.0, n=3, values=[1.0] * 3)}
            for a in ('relion', 'dem', 'dem_from_first', 'sidesplitter', 'oracle')}
    paired = [dict(arm='dem_from_first', against='dem', metric='truth_res_masked_A', mean_diff=from_first_diff,
                   sd_diff=0.2, n=3, p=p, exceeds_scatter=p < 0.05)]
    return dict(structure=sid, cone_deg=cone, symmetry='C1',
                extra=dict(settings=dict(data=dict(box=48, voxel_size=3.6, n_particles=600, snr=snr)),
                           repeats=dict(seeds=[1, 2, 3], arms=arms, paired=paired)))


def test_gate_changes_only_when_first_iteration_wins_beyond_the_scatter_and_loses_nowhere():
    stay = [_result('1BD2', -0.2, 0.5), _result('1a28', -1.5, 0.01, cone=40)]
    assert summary.gate_recommendation(stay)[0] == 'from_iteration'      # 1 of 2 better, none worse
    mixed = stay + [_result('1hvr', +0.8, 0.02)]
    gate, why = summary.gate_recommendation(mixed)
    assert gate == 'local_searches' and 'coarser beyond it on 1 (1hvr)' in why
    assert summary.gate_recommendation([_result('1BD2', -0.2, 0.5)])[0] == 'local_searches'


def test_summary_files(tmp_path):
    for r in (_result('1BD2', -0.2, 0.5), _result('1a28', -1.5, 0.01, cone=40, snr=0.1)):
        (tmp_path / ('standard-%s.json' % r['structure'])).write_text(json.dumps(r))
    assert summary.main(['--results', str(tmp_path)]) == 0
    md = (tmp_path / 'standard-summary.md').read_text()
    assert '| 1a28 (tilt cone 0-40°, SNR 0.1) | 10.00 ± 0.10 |' in md
    assert '| 1BD2 (uniform) |' in md
    missing = [rid for rid in settings.standard_result_ids() if rid not in ('1BD2', '1a28-cone40')]
    assert 'Not yet run with repeats: %s.' % ', '.join(missing) in md
    assert json.loads((tmp_path / 'standard-summary.json').read_text())['gate'] == 'from_iteration'
    assert (tmp_path / 'standard-summary.png').stat().st_size > 1000


def test_result_names_tell_a_cone_run_from_the_uniform_one():
    assert settings.result_id('1BD2') == '1BD2'
    assert settings.result_id('1BD2', 40.0) == '1BD2-cone40'
    ids = settings.standard_result_ids()
    assert len(ids) == len(set(ids)) == len(settings.STANDARD_STRUCTURES)
    assert summary.name(_result('1a28', 0.0, 0.5, cone=40)) == '1a28-cone40'


def test_a_resolution_at_nyquist_is_printed_as_a_bound():
    """One rule (``fsc.resolution_text``) in the summary's cells and in each structure's report,
    where the oracle at Nyquist was printed "7.20" as if measured."""
    assert fsc.at_nyquist(7.2, 3.6) and not fsc.at_nyquist(7.21, 3.6)
    assert type(fsc.at_nyquist(np.float64(7.2), 3.6)) is bool          # written to results JSON
    assert fsc.resolution_text(7.2, True) == '≤ 7.20 (Nyquist)' and fsc.resolution_text(7.64) == '7.64'
    assert report.mean_sd_cell(dict(r=dict(mean=7.2, sd=0.0)), 'r', 7.2) == '≤ 7.20 (Nyquist)'
    assert report.mean_sd_cell(dict(r=dict(mean=7.64, sd=0.01)), 'r', 7.2) == '7.64 ± 0.01'
    assert report.mean_sd_cell({}, 'r', 7.2) == '–'
    with open(os.path.join(settings.REPO, 'benchmarks', 'results', 'standard-6Z6U.json')) as f:
        res = json.load(f)
    assert res['runs']['oracle']['truth_res_masked_A'] == pytest.approx(7.2)
    text = report.markdown(res, [])
    assert '| oracle | ≤ 7.20 (Nyquist) |' in text and '| oracle | 7.20 |' not in text
    assert '| oracle | ≤ 7.20 (Nyquist) | ≤ 7.20 (Nyquist) | ≤ 7.20 (Nyquist) | 0.00 ± 0.00 |' in text   # repeats


def test_envelope_pairs_are_seed_by_seed():
    res = dict(extra=dict(repeats=dict(arms=dict(dem=dict(truth_res_envelope_A=dict(values=[7.8, 7.9, 8.0])),
                                                 relion=dict(truth_res_envelope_A=dict(values=[8.0, 8.3, 8.0]))))))
    mean, sd = summary.envelope_pair(res, 'dem', 'relion')
    assert mean == pytest.approx(-0.2) and sd == pytest.approx(0.2)
    assert summary.envelope_pair(res, 'dem', 'sidesplitter') is None
