"""The named figures and the run-log table of ``relion_dem.core.analysis.figures`` (shared by
the report, the viewers and ``relion_dem log``), on hand-made data: no RELION needed.

Checks: the run-log table's columns (with and without the gate's reason) and results; the
FSC-correction panel has RELION's corrected curve only when there is one; the iteration
overlay marks regularized iterations; the two-panel per-iteration view; ``report.figures``
writes the report's files, in the report's order, from figure data alone.
"""
import os

import numpy as np

from relion_dem.core.analysis import comparison, figures as plots, report

RECORDS = [
    dict(iteration=6, half=1, healpix_order=1, gate=False, regularized=False, enhancer_s=0.0,
         gate_reason='global searches: healpix order 1 < 2, and a very long tail of words'),
    dict(iteration=7, half=1, healpix_order=2, gate=True, regularized=True, enhancer_s=1.54,
         resolution_A=12.3456, gate_reason='local searches'),
    dict(iteration=8, half=2, healpix_order=2, gate=True, regularized=False, enhancer_s=None,
         resolution_A=10.0, fallback='enhancer exited with status 1'),
]


def test_run_log_table():
    lines = plots.run_log_table(RECORDS)
    assert lines == ['  it  half   hpx   res(A) gate    enh(s) result',
                     '   6     1     1        - closed     0.0 plain',
                     '   7     1     2    12.35 open       1.5 regularized',
                     '   8     2     2    10.00 open       0.0 FALLBACK: enhancer exited with status 1']
    wide = plots.run_log_table(RECORDS, reason=True)
    assert wide[0] == '  it  half   hpx   res(A) gate   %-44s  enh(s) result' % 'reason'
    assert wide[1] == '   6     1     1        - closed %s     0.0 plain' % RECORDS[0]['gate_reason'][:44]
    assert wide[2].startswith('   7     1     2    12.35 open   local searches ')
    for table in (lines, wide):             # enhancer seconds right-aligned under 'enh(s)'
        end = table[0].index(' result')
        assert [float(line[end - 7:end]) for line in table[1:]] == [0.0, 1.5, 0.0]
    assert plots.run_log_table([]) == lines[:1]


def _fsc(relion=True):
    res = 120.0 / np.arange(1, 21)
    f = dict(resolution_A=res, fsc_unmasked=np.linspace(1, 0, 20), fsc_masked=np.linspace(1, 0.1, 20),
             fsc_random_masked=np.linspace(0.5, 0, 20), fsc_corrected=np.linspace(1, -0.05, 20))
    if relion:
        f['relion'] = dict(fsc_corrected=list(np.linspace(1, 0, 20)), final_resolution=8.0)
    return f


def _legend(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_fsc_parts():
    fig = plots.fsc_parts_figure({'A': _fsc(), 'B': _fsc(relion=False)})
    a, b = fig.axes
    assert _legend(a) == ['unmasked', 'masked', 'phase-randomized', 'corrected', 'RELION corrected']
    assert _legend(b) == ['unmasked', 'masked', 'phase-randomized', 'corrected']
    assert (a.get_title(), b.get_title()) == ('A', 'B')
    assert plots.fsc_curves({'A': _fsc()}, suffix=' corrected')[0][0] == 'A corrected'


def _rows(regularized):
    return [dict(iteration=i, resolution_A=30.0 - 2 * i, healpix_order=1 + i // 3,
                 regularized=regularized and i >= 3, enhancer_s=1.0 if regularized and i >= 3 else 0.0)
            for i in range(1, 7)]


def test_iteration_overlay_and_panels():
    fig = plots.iteration_overlay({'Plain': _rows(False), 'DEM': _rows(True)})
    ax = fig.axes[0]
    assert _legend(ax) == ['Plain', 'DEM']
    assert ax.yaxis_inverted()
    assert len(ax.get_lines()) == 3           # two runs, one set of regularized markers
    fig, _ = plots.figure()
    fig.clf()
    plots.iteration_panels(fig, _rows(True), 'DEM')
    top, healpix, bottom = fig.axes
    assert top.get_title().startswith('DEM') and 'regularized' in top.get_title()
    assert bottom.get_ylabel() == 'enhancer (s)' and len(bottom.patches) == 6
    assert healpix.get_ylabel() == 'healpix order'


def test_report_figures_from_data(tmp_path):
    rng = np.random.default_rng(0)
    arrays = dict(fsc={'Plain': _fsc(), 'DEM': _fsc()}, fsc_truth={}, fsc_model={},
                  locres={'Plain': rng.normal(8, 1, 200), 'DEM': rng.normal(7, 1, 200)},
                  angles={'DEM vs Plain': rng.gamma(2, 2, 300)}, shifts={}, angles_truth={}, shifts_truth={},
                  qscore={}, fscq={}, iterations={'Plain': _rows(False), 'DEM': _rows(True)})
    made = report.figures({}, arrays, str(tmp_path))
    assert list(made) == ['fsc', 'fsc_parts', 'locres', 'angles', 'iterations_Plain', 'iterations_DEM',
                          'iterations_all']
    for path in made.values():
        assert os.path.getsize(path) > 10000, path


def test_unique_labels():
    class R:
        def __init__(self, label):
            self.label = label
    runs = [R('run'), R('run'), R('x'), R('run')]
    comparison.unique_labels(runs)
    assert [r.label for r in runs] == ['run', 'run_2', 'x', 'run_3']
