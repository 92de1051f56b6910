"""Helpers shared by the relion_dem viewers."""
import os

import pyworkflow.protocol.params as params
from pyworkflow.viewer import DESKTOP_TKINTER, WEB_DJANGO, MessageView, ProtocolViewer
from pwem.viewers import EmPlotter, FscViewer


class DemViewer(ProtocolViewer):
    """Base of the relion_dem viewers (targets nothing itself): the form from ``_FORM``,
    environments, messages, pwem's FSC viewer."""
    _environments = [DESKTOP_TKINTER, WEB_DJANGO]
    #: the form, [(section, [(parameter, label, what)])]; ``what``: the name of the method that
    #: shows it (a display button), or a Param class (an input of the views, default '')
    _FORM = []

    def _defineParams(self, form):
        for section, rows in self._FORM:
            form.addSection(label=section)
            for name, label, what in rows:
                if isinstance(what, str):
                    form.addParam(name, params.LabelParam, label=label)
                else:
                    form.addParam(name, what, default='', label=label)

    def _getVisualizeDict(self):
        return {name: getattr(self, what) for _, rows in self._FORM for name, _, what in rows
                if isinstance(what, str)}

    def _message(self, msg):
        return [MessageView(msg, title='relion_dem', tkParent=self.getTkRoot())]

    def _fscViewer(self, fsc):
        """Show ``fsc`` (an FSC or a set of FSCs) with pwem's ``FscViewer``, 0.143 threshold."""
        FscViewer(project=self.getProject(), threshold=0.143, protocol=self.protocol,
                  figure=None, addButton=True).visualize(fsc)
        return []


def plotter(title, size=(7, 5)):
    """An ``EmPlotter`` with one empty subplot (axes) to draw into."""
    p = EmPlotter(x=1, y=1, windowTitle=title, figsize=size)
    ax = p.createSubPlot(title, '', '')
    return p, ax


def redraw(title, draw, size=(7, 5)):
    """An EmPlotter whose figure is drawn by ``draw(figure)`` (for multi-panel figures)."""
    p = EmPlotter(x=1, y=1, windowTitle=title, figsize=size)
    fig = p.getFigure()
    fig.clf()
    draw(fig)
    return p


def text_file(path, lines):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, 'w') as fh:
        fh.write('\n'.join(lines) + '\n')
    return os.path.abspath(path)
