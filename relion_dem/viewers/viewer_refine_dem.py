"""Viewer of the regularized refinement (``ProtRelionDemRefine``): per-iteration view,
run-log table and FSC. The protocol module is imported guardedly: without it (or without
scipion-em-relion) this viewer targets nothing."""
import os

from pyworkflow.viewer import TextView

from relion_dem.core.analysis import figures as plots, runinfo
from relion_dem.core.runtime import runlog

from relion_dem.viewers.common import DemViewer, redraw, text_file

from relion_dem.protocols.protocol_refine_dem import ProtRelionDemRefine


class RefineDemViewer(DemViewer):
    """Per-iteration view of a regularized refinement: resolution, healpix order,
    regularized iterations, enhancer seconds; the run log; the gold-standard FSC."""
    _label = 'viewer regularized refinement'
    _targets = [ProtRelionDemRefine]

    _FORM = [
        ('Regularization', [
            ('displayIterations', 'Resolution, healpix order, regularized iterations, enhancer seconds',
             '_showIterations'),
            ('displayLog', 'Run log: one line per reconstruction', '_showLog')]),
        ('Resolution', [
            ('displayFsc', 'Gold-standard FSC (pwem FSC viewer)', '_showFsc')])]

    def _root(self):
        return self.protocol.relionRun().root

    def _logPath(self):
        return self.protocol.relionRun().log

    def _showIterations(self, param=None):
        rows = runinfo.iteration_table(self._root(), self._logPath())
        if not rows:
            return self._message('No iteration written yet under %s.' % self._root())
        title = self.protocol.getRunName()
        return [redraw('Regularized refinement', lambda fig: plots.iteration_panels(fig, rows, title),
                       size=(7, 5.5))]

    def _showLog(self, param=None):
        records = runlog.read(self._logPath())
        if not records:
            return self._message('The run log %s is empty or missing.' % self._logPath())
        lines = plots.run_log_table(records)
        s = runinfo.summary(self._root(), self._logPath())
        lines += ['', 'final resolution: %s A, iterations: %s, regularized: %s, enhancer: %s s, '
                      'fallbacks: %s' % (s['final_resolution_A'], s['iterations'],
                                         s['regularized_iterations'], s['enhancer_s'], s['fallbacks'])]
        if s['resolution_note']:
            lines.append('note: ' + s['resolution_note'])
        path = text_file(os.path.join(self.getProject().getTmpPath(), 'relion_dem_log_%s.txt'
                                      % self.protocol.getObjId()), lines)
        return [TextView([path], 'Run log')]

    def _showFsc(self, param=None):
        fsc = getattr(self.protocol, 'outputFSC', None)
        if fsc is None:
            return self._message('No FSC output yet.')
        return self._fscViewer(fsc)
