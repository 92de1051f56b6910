"""Figures and tables of the comparison (matplotlib, no display needed): shared by the
``relion_dem compare`` report, the Scipion viewers and ``relion_dem log``.

Every figure function draws into a given ``matplotlib.axes.Axes`` (``ax``) or
``matplotlib.figure.Figure`` (``fig``), or a new figure, and returns the figure;
:func:`save` writes it as PNG. :func:`run_log_table` returns text lines.

* :func:`fsc_overlay`, :func:`fsc_curves`: FSC curves of several runs;
* :func:`fsc_parts`, :func:`fsc_parts_figure`: the phase-randomization correction of a run
  (unmasked, masked, phase-randomized, corrected, RELION's corrected);
* :func:`iterations`, :func:`iteration_panels`, :func:`enhancer_seconds`: the per-iteration
  view of one run; :func:`iteration_overlay`: resolution per iteration of several runs;
* :func:`histograms`, :func:`bars`;
* :func:`run_log_table`: the per-call table of a run log.
"""
import numpy as np

COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f']

#: x label of the histogram of each per-voxel, per-particle or per-atom quantity (the keys of
#: the report's figure data, ``data.json``)
XLABELS = dict(locres='local resolution (Å)', angles='angular difference (°)', shifts='shift difference (Å)',
               angles_truth='angular error (°)', shifts_truth='shift error (Å)', qscore='Q-score per atom',
               fscq='FSC-Q per atom (Å)')


def _pyplot():
    import matplotlib
    if matplotlib.get_backend().lower() not in ('agg', 'module://matplotlib_inline.backend_inline'):
        try:
            import matplotlib.pyplot as plt  # noqa: F401
        except Exception:
            matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt


def figure(nrows=1, ncols=1, size=(6.4, 4.2)):
    """A new figure and its axes (``nrows`` × ``ncols``), without a display."""
    plt = _pyplot()
    fig, ax = plt.subplots(nrows, ncols, figsize=size)
    return fig, ax


def save(fig, path, dpi=110):
    """Write ``fig`` to ``path`` (tight layout) and close it; returns ``path``."""
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    _pyplot().close(fig)
    return path


def _ax(ax, size=(6.4, 4.2)):
    if ax is None:
        fig, ax = figure(size=size)
        return fig, ax
    return ax.figure, ax


def fsc_overlay(curves, ax=None, thresholds=(0.143, 0.5), title='FSC'):
    """``curves``: [(label, resolution_A per shell or spatial frequency (1/Å), fsc values,
    style dict or None)]. x axis: spatial frequency (1/Å), labelled with Å."""
    fig, ax = _ax(ax)
    for i, item in enumerate(curves):
        label, res, values = item[:3]
        style = dict(color=COLORS[i % len(COLORS)], lw=1.6)
        if len(item) > 3 and item[3]:
            style.update(item[3])
        res = np.asarray(res, float)
        freq = np.where(np.isfinite(res) & (res > 0) & (res < 900), 1.0 / np.where(res > 0, res, 1), 0.0)
        ax.plot(freq, values, label=label, **style)
    for t in thresholds:
        ax.axhline(t, color='0.5', ls=':', lw=1)
        ax.text(0.0, t + 0.01, ' %.3g' % t, color='0.4', fontsize=8)
    ax.set_ylim(-0.1, 1.05)
    ax.set_xlabel('spatial frequency (1/Å)')
    ax.set_ylabel('FSC')
    ax.set_title(title)
    ax.set_xlim(left=0)
    from matplotlib.ticker import FuncFormatter
    ax.xaxis.set_major_formatter(FuncFormatter(_freq_label))   # as pwem's FscViewer: 1/Å
    ax.legend(fontsize=8, loc='upper right')
    ax.grid(alpha=0.3)
    return fig


def _freq_label(value, pos=None):
    return '1/%0.1f' % (1.0 / value) if value > 1e-9 else '0'


def fsc_curves(fscs, key='fsc_corrected', suffix=''):
    """Curves for :func:`fsc_overlay` from ``fscs`` {label: FSC dict}: the column ``key``
    of each run (``fsc_corrected`` of a gold-standard FSC, ``fsc`` of a reference FSC)."""
    return [(label + suffix, f['resolution_A'], f[key], None) for label, f in fscs.items()]


def fsc_parts(ax, label, f):
    """The phase-randomization correction of one run (``f``: a gold-standard FSC dict of
    ``relion_dem.core.analysis.fsc.masked_fsc``, with ``relion`` from relion_postprocess when
    computed): unmasked, masked, phase-randomized and corrected FSC, RELION's corrected dashed."""
    res = f['resolution_A']
    parts = [('unmasked', res, f['fsc_unmasked'], None),
             ('masked', res, f['fsc_masked'], None),
             ('phase-randomized', res, f['fsc_random_masked'], None),
             ('corrected', res, f['fsc_corrected'], dict(lw=2.4, color='k'))]
    relion = (f.get('relion') or {}).get('fsc_corrected')
    if relion is not None and len(relion):
        parts.append(('RELION corrected', res, relion, dict(ls='--', color='#e377c2')))
    return fsc_overlay(parts, ax=ax, title=label, thresholds=(0.143,))


def fsc_parts_figure(fscs, fig=None):
    """:func:`fsc_parts` of every run of ``fscs`` {label: FSC dict}, side by side, in ``fig``
    (its subplots are added) or a new figure."""
    n = len(fscs)
    if fig is None:
        fig, axes = figure(1, n, size=(4.6 * n, 3.8))
        axes = np.atleast_1d(axes)
    else:
        axes = [fig.add_subplot(1, n, i + 1) for i in range(n)]
    for ax, (label, f) in zip(axes, fscs.items()):
        fsc_parts(ax, label, f)
    return fig


def histograms(series, xlabel, ax=None, bins=30, title=None, medians=True, log=False):
    """Overlaid step histograms of ``series`` [(label, values)] with medians marked."""
    fig, ax = _ax(ax)
    allv = np.concatenate([np.asarray(v, float).ravel() for _, v in series if len(v)]) if series else []
    if len(allv) == 0:
        ax.text(0.5, 0.5, 'no data', ha='center', transform=ax.transAxes)
        return fig
    edges = np.histogram_bin_edges(allv[np.isfinite(allv)], bins=bins)
    for i, (label, v) in enumerate(series):
        v = np.asarray(v, float).ravel()
        v = v[np.isfinite(v)]
        c = COLORS[i % len(COLORS)]
        med = np.median(v) if v.size else np.nan
        ax.hist(v, bins=edges, histtype='step', lw=1.6, color=c, density=True,
                label='%s (median %.2f)' % (label, med) if medians else label)
        if medians and v.size:
            ax.axvline(med, color=c, ls='--', lw=1)
    ax.set_xlabel(xlabel)
    ax.set_ylabel('fraction (density)')
    if log:
        ax.set_yscale('log')
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def iterations(rows, ax=None, title='Per-iteration'):
    """Resolution (left axis) and healpix order (right axis) per iteration; regularized
    iterations shaded; enhancer seconds as bars on a third scale in the lower panel."""
    plt = _pyplot()
    if ax is None:
        fig, (ax, ax2) = plt.subplots(2, 1, figsize=(6.4, 5.2), sharex=True,
                                      gridspec_kw=dict(height_ratios=[3, 1.2]))
    else:
        fig, ax2 = ax.figure, None
    its = [r['iteration'] for r in rows]
    res = [r.get('resolution_A') if r.get('resolution_A') else np.nan for r in rows]
    hp = [r.get('healpix_order') if r.get('healpix_order') is not None else np.nan for r in rows]
    for r in rows:
        if r.get('regularized'):
            ax.axvspan(r['iteration'] - 0.5, r['iteration'] + 0.5, color='#2ca02c', alpha=0.15, lw=0)
    ax.plot(its, res, 'o-', color=COLORS[0], label='resolution (Å)')
    ax.set_ylabel('resolution (Å)', color=COLORS[0])
    ax.invert_yaxis()
    axh = ax.twinx()
    axh.step(its, hp, where='mid', color=COLORS[1], label='healpix order')
    axh.set_ylabel('healpix order', color=COLORS[1])
    from matplotlib.ticker import MaxNLocator
    axh.yaxis.set_major_locator(MaxNLocator(integer=True))
    axh.set_ylim(min([h for h in hp if np.isfinite(h)] or [0]) - 0.5,
                 max([h for h in hp if np.isfinite(h)] or [1]) + 0.5)
    ax.set_title(title + ('  (shaded: regularized)' if any(r.get('regularized') for r in rows) else ''))
    ax.grid(alpha=0.3)
    if ax2 is not None:
        enhancer_seconds(ax2, rows)
    else:
        ax.set_xlabel('iteration')
    return fig


def enhancer_seconds(ax, rows):
    """Enhancer seconds per iteration (bars) of an iteration table
    (``relion_dem.core.analysis.runinfo.iteration_table``)."""
    ax.bar([r['iteration'] for r in rows], [r.get('enhancer_s') or 0 for r in rows], color=COLORS[2])
    ax.set_ylabel('enhancer (s)')
    ax.set_xlabel('iteration')
    ax.grid(alpha=0.3)
    return ax.figure


def iteration_panels(fig, rows, title):
    """The per-iteration view of one run in ``fig`` (two equal panels, as in the viewers):
    :func:`iterations` above, :func:`enhancer_seconds` below."""
    ax = fig.add_subplot(2, 1, 1)
    iterations(rows, ax=ax, title=title)
    ax.set_xlabel('')
    enhancer_seconds(fig.add_subplot(2, 1, 2, sharex=ax), rows)
    return fig


def iteration_overlay(tables, ax=None, title='Resolution per iteration (open squares: regularized)'):
    """Resolution per iteration of several runs (``tables``: {label: iteration table}),
    regularized iterations as open squares; ``title`` None keeps the axes' title."""
    fig, ax = _ax(ax)
    for i, (label, rows) in enumerate(tables.items()):
        c = COLORS[i % len(COLORS)]
        pts = [r for r in rows if r.get('resolution_A')]
        ax.plot([r['iteration'] for r in pts], [r['resolution_A'] for r in pts], 'o-', color=c, label=label)
        reg = [r for r in pts if r.get('regularized')]
        if reg:
            ax.plot([r['iteration'] for r in reg], [r['resolution_A'] for r in reg], 's', mfc='none', ms=10,
                    color=c)
    ax.invert_yaxis()
    ax.set_xlabel('iteration')
    ax.set_ylabel('resolution (Å)')
    if title is not None:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def bars(labels, values, ylabel, ax=None, title=None, fmt='%.2f'):
    """Bar chart of ``values`` per label, each bar annotated with its value."""
    fig, ax = _ax(ax)
    x = np.arange(len(labels))
    ax.bar(x, values, color=[COLORS[i % len(COLORS)] for i in range(len(labels))])
    for i, v in enumerate(values):
        if v is not None and np.isfinite(v):
            ax.text(i, v, fmt % v, ha='center', va='bottom', fontsize=8)
    ax.set_xticks(x)
    ax.set_xticklabels(labels, rotation=15)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3, axis='y')
    return fig


# ----------------------------------------------------------------------------- tables

def run_log_table(records, reason=False):
    """The per-call table of a run log (records of ``relion_dem.core.runtime.runlog``):
    a header, then one line per external-reconstruct call (iteration, half, healpix order,
    resolution, gate, enhancer seconds, result); ``reason``: with the gate's reason too."""
    fmt = '%4s %5s %5s %8s %-6s ' + ('%-44s ' if reason else '')
    lines = [(fmt + '%7s %s') % (('it', 'half', 'hpx', 'res(A)', 'gate') + (('reason',) if reason else ())
                                 + ('enh(s)', 'result'))]
    for r in records:
        res = r.get('resolution_A')
        cells = (r.get('iteration'), r.get('half'), r.get('healpix_order'), '%.2f' % res if res else '-',
                 'open' if r.get('gate') else 'closed')
        if reason:
            cells += ((r.get('gate_reason') or '')[:44],)
        result = ('regularized' if r.get('regularized') else
                  'FALLBACK: ' + str(r['fallback']) if r.get('fallback') else 'plain')
        lines.append((fmt + '%7.1f %s') % (cells + (r.get('enhancer_s') or 0.0, result)))
    return lines


def provenance_slices(fig, density, provenance, voxel_size, threshold=3.0, title=None, truth=None, plain=None):
    """Central orthogonal slices of ``density`` (grey) with the voxels where ``provenance``
    (relion_dem denoise's provenance map) exceeds ``threshold`` coloured; with the ``truth``
    and the ``plain`` map the denoiser started from, a flagged voxel is green where the change
    moved it toward the truth and red where it moved it away, and a second row shows the
    truth. Draws into ``fig``; returns it."""
    from matplotlib.colors import ListedColormap
    rows = 2 if truth is not None else 1
    n = density.shape[0] // 2
    cut = [lambda m: m[n], lambda m: m[:, n], lambda m: m[:, :, n]]
    extent = [0, density.shape[0] * voxel_size] * 2
    if truth is not None and plain is not None:
        verdict = np.where(np.abs(density - truth) < np.abs(plain - truth), 1.0, 2.0)
        colours = ListedColormap(['#2ca02c', '#d62728'])
    else:
        verdict = np.full(density.shape, 2.0)
        colours = ListedColormap(['#2ca02c', '#ff7f0e'])
    for i, (slicer, name) in enumerate(zip(cut, ('z', 'y', 'x'))):
        ax = fig.add_subplot(rows, 3, i + 1)
        ax.imshow(slicer(density), cmap='gray', extent=extent, origin='lower')
        flag = np.ma.masked_where(slicer(provenance) <= threshold, slicer(verdict))
        ax.imshow(flag, cmap=colours, alpha=0.75, extent=extent, origin='lower', vmin=1, vmax=2,
                  interpolation='nearest')
        ax.set_title('central %s slice' % name, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        if truth is not None:
            ax2 = fig.add_subplot(rows, 3, i + 4)
            ax2.imshow(slicer(truth), cmap='gray', extent=extent, origin='lower')
            ax2.set_title('truth, %s slice' % name, fontsize=9)
            ax2.set_xticks([])
            ax2.set_yticks([])
    fig.suptitle(title or 'Denoised map; coloured: moved by more than %g sigma of the local noise' % threshold,
                 fontsize=10)
    return fig
