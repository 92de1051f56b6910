"""Viewer of ``ProtRelionDemCompare``: FSCs, local resolution, angles, iterations, map-model."""
import os

import pyworkflow.protocol.params as params
from pyworkflow.viewer import DESKTOP_TKINTER, WEB_DJANGO, ProtocolViewer, TextView
from pwem.viewers import FscViewer

from relion_dem.core.analysis import figures as plots, report
from relion_dem.protocols.protocol_compare import ProtRelionDemCompare

from relion_dem.viewers.common import plotter, redraw


class CompareViewer(ProtocolViewer):
    """Figures of a comparison: the ``relion_dem compare`` report, interactively."""
    _label = 'viewer compare refinements'
    _targets = [ProtRelionDemCompare]
    _environments = [DESKTOP_TKINTER, WEB_DJANGO]

    def _defineParams(self, form):
        form.addSection(label='Resolution')
        form.addParam('displayFsc', params.LabelParam, label='Gold-standard FSCs (pwem FSC viewer)')
        form.addParam('displayFscOverlay', params.LabelParam, label='Corrected FSCs, 0.143 and 0.5')
        form.addParam('displayFscParts', params.LabelParam,
                      label='Phase-randomization correction of each run (with RELION\'s)')
        form.addParam('displayFscTruth', params.LabelParam, label='FSC against the truth')
        form.addParam('displayLocres', params.LabelParam, label='Local-resolution histograms')
        form.addSection(label='Particles')
        form.addParam('displayAngles', params.LabelParam, label='Angular differences between runs')
        form.addParam('displayShifts', params.LabelParam, label='Shift differences between runs')
        form.addParam('displayAnglesTruth', params.LabelParam, label='Angular error against the truth')
        form.addParam('displayShiftsTruth', params.LabelParam, label='Shift error against the truth')
        form.addSection(label='Iterations')
        form.addParam('displayIterations', params.LabelParam,
                      label='Resolution per iteration (regularized iterations marked)')
        form.addParam('iterationRun', params.StringParam, default='',
                      label='Run for the detailed view (label; empty: first regularized)')
        form.addParam('displayIterationRun', params.LabelParam,
                      label='Resolution, healpix order, enhancer seconds of one run')
        form.addSection(label='Map-model')
        form.addParam('displayFscModel', params.LabelParam, label='Map-model FSC')
        form.addParam('displayQscore', params.LabelParam, label='Q-score per atom')
        form.addParam('displayFscq', params.LabelParam, label='FSC-Q per atom')
        form.addSection(label='Report')
        form.addParam('displayReport', params.LabelParam, label='Numbers (report.md)')

    def _getVisualizeDict(self):
        return dict(displayFsc=self._showFsc, displayFscOverlay=self._showFscOverlay,
                    displayFscParts=self._showFscParts, displayFscTruth=self._showFscTruth,
                    displayLocres=self._showLocres, displayAngles=self._showHist,
                    displayShifts=self._showHist, displayAnglesTruth=self._showHist,
                    displayShiftsTruth=self._showHist, displayIterations=self._showIterations,
                    displayIterationRun=self._showIterationRun, displayFscModel=self._showFscModel,
                    displayQscore=self._showHist, displayFscq=self._showHist,
                    displayReport=self._showReport)

    # ------------------------------------------------------------------ data
    def _data(self):
        out = self.protocol._getExtraPath()
        if not os.path.exists(os.path.join(out, 'data.json')):
            return None, None
        return report.load_data(out)

    def _missing(self, what):
        return [self.errorMessage('No %s in this comparison.' % what, title='relion_dem')]

    def errorMessage(self, msg, title=''):
        from pyworkflow.viewer import MessageView
        return MessageView(msg, title=title, tkParent=self.getTkRoot())

    # ------------------------------------------------------------------ views
    def _showFsc(self, param=None):
        if not getattr(self.protocol, 'outputFSCs', None):
            return self._missing('FSC output')
        viewer = FscViewer(project=self.getProject(), threshold=0.143, protocol=self.protocol,
                           figure=None, addButton=True)
        viewer.visualize(self.protocol.outputFSCs)
        return []

    def _curvePlot(self, key, title, thresholds):
        result, data = self._data()
        if not data or not data.get(key):
            return self._missing(title)
        p, ax = plotter(title)
        if key == 'fsc':
            curves = [(label, f['resolution_A'], f['fsc_corrected'], None) for label, f in data[key].items()]
        else:
            curves = [(label, f['resolution_A'], f['fsc'], None) for label, f in data[key].items()]
        plots.fsc_overlay(curves, ax=ax, thresholds=thresholds, title=title)
        return [p]

    def _showFscOverlay(self, param=None):
        return self._curvePlot('fsc', 'Gold-standard FSC (corrected)', (0.143, 0.5))

    def _showFscTruth(self, param=None):
        return self._curvePlot('fsc_truth', 'FSC against the truth', (0.5,))

    def _showFscModel(self, param=None):
        return self._curvePlot('fsc_model', 'Map-model FSC', (0.5,))

    def _showFscParts(self, param=None):
        result, data = self._data()
        if not data or not data.get('fsc'):
            return self._missing('FSC')
        runs = list(data['fsc'].items())

        def draw(fig):
            for i, (label, f) in enumerate(runs):
                ax = fig.add_subplot(1, len(runs), i + 1)
                parts = [('unmasked', f['resolution_A'], f['fsc_unmasked'], None),
                         ('masked', f['resolution_A'], f['fsc_masked'], None),
                         ('phase-randomized', f['resolution_A'], f['fsc_random_masked'], None),
                         ('corrected', f['resolution_A'], f['fsc_corrected'], dict(lw=2.4, color='k'))]
                if f.get('relion', {}).get('fsc_corrected'):
                    parts.append(('RELION corrected', f['resolution_A'], f['relion']['fsc_corrected'],
                                  dict(ls='--', color='#e377c2')))
                plots.fsc_overlay(parts, ax=ax, title=label, thresholds=(0.143,))
        return [redraw('FSC correction', draw, size=(4.6 * len(runs), 4))]

    _HIST = dict(displayLocres=('locres', 'local resolution (Å)', 'Local resolution in the mask'),
                 displayAngles=('angles', 'angular difference (°)', 'Angular difference between runs'),
                 displayShifts=('shifts', 'shift difference (Å)', 'Shift difference between runs'),
                 displayAnglesTruth=('angles_truth', 'angular error (°)', 'Angular error (truth)'),
                 displayShiftsTruth=('shifts_truth', 'shift error (Å)', 'Shift error (truth)'),
                 displayQscore=('qscore', 'Q-score per atom', 'Q-score'),
                 displayFscq=('fscq', 'FSC-Q per atom (Å)', 'FSC-Q'))

    def _showHist(self, param):
        key, xlabel, title = self._HIST[param]
        result, data = self._data()
        if not data or not data.get(key):
            return self._missing(title.lower())
        p, ax = plotter(title)
        plots.histograms(list(data[key].items()), xlabel, ax=ax, title=title)
        return [p]

    def _showLocres(self, param=None):
        return self._showHist('displayLocres')

    def _showIterations(self, param=None):
        result, data = self._data()
        if not data or not data.get('iterations'):
            return self._missing('iterations')
        p, ax = plotter('Resolution per iteration')
        for i, (label, rows) in enumerate(data['iterations'].items()):
            c = plots.COLORS[i % len(plots.COLORS)]
            pts = [r for r in rows if r.get('resolution_A')]
            ax.plot([r['iteration'] for r in pts], [r['resolution_A'] for r in pts], 'o-', color=c, label=label)
            reg = [r for r in pts if r.get('regularized')]
            ax.plot([r['iteration'] for r in reg], [r['resolution_A'] for r in reg], 's', mfc='none', ms=10,
                    color=c)
        ax.invert_yaxis()
        ax.set_xlabel('iteration')
        ax.set_ylabel('resolution (Å)')
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        return [p]

    def _showIterationRun(self, param=None):
        result, data = self._data()
        if not data or not data.get('iterations'):
            return self._missing('iterations')
        its = data['iterations']
        label = self.iterationRun.get() or next(
            (k for k, rows in its.items() if any(r.get('regularized') for r in rows)), next(iter(its)))
        if label not in its:
            return self._missing('run called %r (runs: %s)' % (label, ', '.join(its)))
        return [redraw(label, lambda fig: _iterations_into(fig, its[label], label), size=(7, 5.5))]

    def _showReport(self, param=None):
        path = self.protocol.reportPath()
        if not os.path.exists(path):
            return self._missing('report')
        return [TextView([path], 'relion_dem comparison')]


def _iterations_into(fig, rows, title):
    ax = fig.add_subplot(2, 1, 1)
    plots.iterations(rows, ax=ax, title=title)
    ax.set_xlabel('')
    ax2 = fig.add_subplot(2, 1, 2, sharex=ax)
    ax2.bar([r['iteration'] for r in rows], [r.get('enhancer_s') or 0 for r in rows], color=plots.COLORS[2])
    ax2.set_ylabel('enhancer (s)')
    ax2.set_xlabel('iteration')
    ax2.grid(alpha=0.3)
