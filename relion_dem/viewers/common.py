"""Helpers shared by the relion_dem viewers."""
import os

from pwem.viewers import EmPlotter


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
