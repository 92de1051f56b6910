"""Viewer of the regularized refinement (``ProtRelionDemRefine``): per-iteration view,
run-log table and FSC. The protocol module is imported guardedly: without it (or without
scipion-em-relion) this viewer targets nothing."""
import os

import pyworkflow.protocol.params as params
from pyworkflow.viewer import DESKTOP_TKINTER, WEB_DJANGO, ProtocolViewer, TextView, MessageView
from pwem.viewers import FscViewer

from relion_dem.core.analysis import figures as plots, runinfo
from relion_dem.core.runtime import runlog
from relion_dem.core.analysis import iterations

from relion_dem.viewers.common import redraw, text_file

from relion_dem.protocols.protocol_refine_dem import ProtRelionDemRefine


class RefineDemViewer(ProtocolViewer):
    """Per-iteration view of a regularized refinement: resolution, healpix order,
    regularized iterations, enhancer seconds; the run log; the gold-standard FSC."""
    _label = 'viewer regularized refinement'
    _targets = [ProtRelionDemRefine]
    _environments = [DESKTOP_TKINTER, WEB_DJANGO]

    def _defineParams(self, form):
        form.addSection(label='Regularization')
        form.addParam('displayIterations', params.LabelParam,
                      label='Resolution, healpix order, regularized iterations, enhancer seconds')
        form.addParam('displayLog', params.LabelParam, label='Run log: one line per reconstruction')
        form.addSection(label='Resolution')
        form.addParam('displayFsc', params.LabelParam, label='Gold-standard FSC (pwem FSC viewer)')

    def _getVisualizeDict(self):
        return dict(displayIterations=self._showIterations, displayLog=self._showLog,
                    displayFsc=self._showFsc)

    def _root(self):
        return self.protocol.relionRun().root

    def _logPath(self):
        return self.protocol.relionRun().log

    def _message(self, msg):
        return [MessageView(msg, title='relion_dem', tkParent=self.getTkRoot())]

    def _showIterations(self, param=None):
        rows = iterations.table(self._root(), self._logPath())
        if not rows:
            return self._message('No iteration written yet under %s.' % self._root())

        def draw(fig):
            ax = fig.add_subplot(2, 1, 1)
            plots.iterations(rows, ax=ax, title=self.protocol.getRunName())
            ax.set_xlabel('')
            ax2 = fig.add_subplot(2, 1, 2, sharex=ax)
            ax2.bar([r['iteration'] for r in rows], [r.get('enhancer_s') or 0 for r in rows],
                    color=plots.COLORS[2])
            ax2.set_ylabel('enhancer (s)')
            ax2.set_xlabel('iteration')
            ax2.grid(alpha=0.3)
        return [redraw('Regularized refinement', draw, size=(7, 5.5))]

    def _showLog(self, param=None):
        records = runlog.read(self._logPath())
        if not records:
            return self._message('The run log %s is empty or missing.' % self._logPath())
        lines = ['%4s %5s %5s %8s %-6s %7s %s' % ('it', 'half', 'hpx', 'res(A)', 'gate', 'enh(s)', 'result')]
        for r in records:
            res = r.get('resolution_A')
            lines.append('%4s %5s %5s %8s %-6s %7.1f %s' % (
                r.get('iteration'), r.get('half'), r.get('healpix_order'), '%.2f' % res if res else '-',
                'open' if r.get('gate') else 'closed', r.get('enhancer_s') or 0.0,
                'regularized' if r.get('regularized') else
                ('FALLBACK: ' + str(r['fallback']) if r.get('fallback') else 'plain')))
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
        FscViewer(project=self.getProject(), threshold=0.143, protocol=self.protocol,
                  figure=None, addButton=True).visualize(fsc)
        return []
