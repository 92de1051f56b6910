"""Viewer of ``ProtRelionDemCompare``: FSCs, local resolution, angles, iterations, map-model."""
import os

import pyworkflow.protocol.params as params
from pyworkflow.viewer import TextView

from relion_dem.core.analysis import figures as plots, report
from relion_dem.protocols.protocol_compare import ProtRelionDemCompare

from relion_dem.viewers.common import DemViewer, plotter, redraw


class CompareViewer(DemViewer):
    """Figures of a comparison: the ``relion_dem compare`` report, interactively."""
    _label = 'viewer compare refinements'
    _targets = [ProtRelionDemCompare]

    _FORM = [
        ('Resolution', [
            ('displayFsc', 'Gold-standard FSCs (pwem FSC viewer)', '_showFsc'),
            ('displayFscOverlay', 'Corrected FSCs, 0.143 and 0.5', '_showFscOverlay'),
            ('displayFscParts', 'Phase-randomization correction of each run (with RELION\'s)', '_showFscParts'),
            ('displayFscTruth', 'FSC against the truth', '_showFscTruth'),
            ('displayLocres', 'Local-resolution histograms', '_showLocres')]),
        ('Particles', [
            ('displayAngles', 'Angular differences between runs', '_showHist'),
            ('displayShifts', 'Shift differences between runs', '_showHist'),
            ('displayAnglesTruth', 'Angular error against the truth', '_showHist'),
            ('displayShiftsTruth', 'Shift error against the truth', '_showHist')]),
        ('Iterations', [
            ('displayIterations', 'Resolution per iteration (regularized iterations marked)', '_showIterations'),
            ('iterationRun', 'Run for the detailed view (label; empty: first regularized)', params.StringParam),
            ('displayIterationRun', 'Resolution, healpix order, enhancer seconds of one run',
             '_showIterationRun')]),
        ('Map-model', [
            ('displayFscModel', 'Map-model FSC', '_showFscModel'),
            ('displayQscore', 'Q-score per atom', '_showHist'),
            ('displayFscq', 'FSC-Q per atom', '_showHist')]),
        ('Report', [
            ('displayReport', 'Numbers (report.md)', '_showReport')])]

    # ------------------------------------------------------------------ data
    def _data(self):
        out = self.protocol._getExtraPath()
        if not os.path.exists(os.path.join(out, 'data.json')):
            return None, None
        return report.load_data(out)

    def _missing(self, what):
        return self._message('No %s in this comparison.' % what)

    # ------------------------------------------------------------------ views
    def _showFsc(self, param=None):
        if not getattr(self.protocol, 'outputFSCs', None):
            return self._missing('FSC output')
        return self._fscViewer(self.protocol.outputFSCs)

    def _curvePlot(self, key, title, thresholds):
        result, data = self._data()
        if not data or not data.get(key):
            return self._missing(title)
        p, ax = plotter(title)
        curves = plots.fsc_curves(data[key], 'fsc_corrected' if key == 'fsc' else 'fsc')
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
        return [redraw('FSC correction', lambda fig: plots.fsc_parts_figure(data['fsc'], fig),
                       size=(4.6 * len(data['fsc']), 4))]

    #: histogram sections: (key in the figure data, title); x labels: ``figures.XLABELS``
    _HIST = dict(displayLocres=('locres', 'Local resolution in the mask'),
                 displayAngles=('angles', 'Angular difference between runs'),
                 displayShifts=('shifts', 'Shift difference between runs'),
                 displayAnglesTruth=('angles_truth', 'Angular error (truth)'),
                 displayShiftsTruth=('shifts_truth', 'Shift error (truth)'),
                 displayQscore=('qscore', 'Q-score'),
                 displayFscq=('fscq', 'FSC-Q'))

    def _showHist(self, param):
        key, title = self._HIST[param]
        result, data = self._data()
        if not data or not data.get(key):
            return self._missing(title.lower())
        p, ax = plotter(title)
        plots.histograms(list(data[key].items()), plots.XLABELS[key], ax=ax, title=title)
        return [p]

    def _showLocres(self, param=None):
        return self._showHist('displayLocres')

    def _showIterations(self, param=None):
        result, data = self._data()
        if not data or not data.get('iterations'):
            return self._missing('iterations')
        p, ax = plotter('Resolution per iteration')
        plots.iteration_overlay(data['iterations'], ax=ax, title=None)   # the plotter's title
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
        return [redraw(label, lambda fig: plots.iteration_panels(fig, its[label], label), size=(7, 5.5))]

    def _showReport(self, param=None):
        path = self.protocol.reportPath()
        if not os.path.exists(path):
            return self._missing('report')
        return [TextView([path], 'relion_dem comparison')]

