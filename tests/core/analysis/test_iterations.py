"""Per-iteration view: RELION's STARs joined with a run log, checked by hand.

Real RELION 3.1.3 STARs (tests/data/relion31: iteration 5 healpix 1, iteration 6 healpix
2 at 20.57 Å) laid out as a run, plus a hand-written run log: iteration 6 plain (gate
closed), iteration 7 regularized on both halves (1.5 + 2.5 s), one fallback in
iteration 8 (half 2). Expected table written out below.
"""
import json
import os
import shutil

import pytest

from relion_dem.core.analysis import iterations

DATA = os.path.join(os.path.dirname(__file__), '..', '..', 'data', 'relion31')


@pytest.fixture
def run_root(tmp_path):
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


def test_table_by_hand(run_root):
    rows = iterations.table(run_root)
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
    rows = iterations.table(run_root)
    assert [r['iteration'] for r in rows] == [5, 6]
    assert not any(r['regularized'] for r in rows)
    assert not iterations.has_log(run_root)


def test_plot_is_written(run_root, tmp_path):
    from relion_dem.core.analysis import figures as plots
    fig = plots.iterations(iterations.table(run_root), title='test')
    out = plots.save(fig, str(tmp_path / 'it.png'))
    assert os.path.getsize(out) > 5000
