"""The written report of a comparison (:mod:`.comparison` computes it): the PNG figures,
``report.md``, ``metrics.json`` and ``data.json``, and reading the last two back.
"""
import json
import os

import numpy as np

from relion_dem.core.analysis import comparison


# ----------------------------------------------------------------------------- figures

#: histogram figures of the report: (key in the figure data, file name, title), x labels
#: ``figures.XLABELS``; the model's come after the iteration figures, in the report's order.
_HISTOGRAMS = (('locres', 'locres_hist.png', 'Local resolution inside the mask (relion_postprocess --locres)'),
               ('angles', 'angles_hist.png', 'Angular difference between runs'),
               ('shifts', 'shifts_hist.png', 'Shift difference between runs'),
               ('angles_truth', 'angles_truth_hist.png', 'Angular error against the truth'),
               ('shifts_truth', 'shifts_truth_hist.png', 'Shift error against the truth'))
_MODEL_HISTOGRAMS = (('qscore', 'qscore_hist.png', 'Q-score'), ('fscq', 'fscq_hist.png', 'FSC-Q'))


def figures(result, arrays, out):
    """The PNG figures of the report in ``out``: {key: path}, in the report's order."""
    from relion_dem.core.analysis import figures as plots
    made = {}

    def save(key, fig, name):
        made[key] = plots.save(fig, os.path.join(out, name))

    def histograms(table):
        for key, name, title in table:
            if arrays[key]:
                save(key, plots.histograms(list(arrays[key].items()), plots.XLABELS[key], title=title), name)

    if arrays['fsc']:
        save('fsc', plots.fsc_overlay(plots.fsc_curves(arrays['fsc'], suffix=' corrected'),
                                      title='Gold-standard FSC (masked, phase-randomization corrected)'), 'fsc.png')
        save('fsc_parts', plots.fsc_parts_figure(arrays['fsc']), 'fsc_parts.png')
    for key, name, title in (('fsc_truth', 'fsc_truth.png', 'FSC of each map against the truth'),
                             ('fsc_model', 'fsc_model.png', 'Map-model FSC')):
        if arrays[key]:
            save(key, plots.fsc_overlay(plots.fsc_curves(arrays[key], 'fsc'), title=title, thresholds=(0.5,)), name)
    histograms(_HISTOGRAMS)
    for label, rows in arrays['iterations'].items():
        if rows:
            save('iterations_' + label, plots.iterations(rows, title=label),
                 'iterations_%s.png' % comparison._safe(label))
    if len(arrays['iterations']) > 1:
        save('iterations_all', plots.iteration_overlay(arrays['iterations']), 'iterations_all.png')
    histograms(_MODEL_HISTOGRAMS)
    return made


# ----------------------------------------------------------------------------- markdown

def _f(v, fmt='%.2f'):
    if v is None:
        return '-'
    try:
        if not np.isfinite(v):
            return '-'
    except TypeError:
        return str(v)
    return fmt % v


def markdown(result, made, out):
    L = ['# relion_dem comparison', '',
         'Box %d, voxel %.3f Å. Mask: %s.' % (result['box'], result['voxel_size'], result['mask']), '']
    if result.get('truth'):
        L.append('Truth map: `%s`.' % result['truth'])
    if result.get('model'):
        L.append('Atomic model: `%s`.' % result['model'])
    L += ['', '## Numbers', '',
          '| run | FSC 0.143 (Å) | RELION postprocess (Å) | model.star (Å) | local res. median (Å) '
          '| vs truth 0.5 (Å) | angle err. median (°) | within 10° | shift err. median (Å) | iterations '
          '| regularized | enhancer (s) |',
          '|---|---|---|---|---|---|---|---|---|---|---|---|']
    for r in result['runs']:
        vt = r.get('vs_truth') or {}
        within = vt.get('angle_within_10deg')
        L.append('| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |' % (
            r['label'], _f(r['resolution_0143']), _f(r.get('relion_postprocess_resolution')),
            _f(r.get('final_resolution_model_star')) + (' (isolated shell; last shell before FSC < 0.143: %s)' % _f(
                r.get('final_resolution_A')) if r.get('resolution_note') else ''),
            _f((r.get('locres') or {}).get('median_A')),
            _f(r.get('truth_resolution_05')), _f(vt.get('angle_median_deg')),
            _f(100 * within, '%.0f%%') if within is not None else '-', _f(vt.get('shift_median_A')),
            r.get('iterations'), r.get('regularized_iterations'), _f(r.get('enhancer_s'), '%.1f')))
    if any('qscore' in r for r in result['runs']):
        L += ['', '| run | map-model FSC 0.5 (Å) | mean Q | median Q | FSC-Q mean (Å) | mean abs. FSC-Q (Å) '
              '| atoms FSC-Q > +0.5 | atoms FSC-Q < -0.5 |', '|---|---|---|---|---|---|---|---|']
        for r in result['runs']:
            q, fq = r.get('qscore') or {}, r.get('fscq') or {}
            L.append('| %s | %s | %s | %s | %s | %s | %s | %s |' % (
                r['label'], _f(r.get('model_resolution_05')), _f(q.get('q_mean'), '%.3f'),
                _f(q.get('q_median'), '%.3f'), _f(fq.get('mean')), _f(fq.get('mean_abs')),
                _f(100 * fq['fraction_above'], '%.1f%%') if 'fraction_above' in fq else '-',
                _f(100 * fq['fraction_below'], '%.1f%%') if 'fraction_below' in fq else '-'))
    if result['pairs']:
        L += ['', '## Angular and shift differences between runs', '',
              '| pair | particles | angle median (°) | angle 90% (°) | within 10° | shift median (Å) '
              '| shift 90% (Å) |', '|---|---|---|---|---|---|---|']
        for p in result['pairs']:
            L.append('| %s | %d | %s | %s | %s | %s | %s |' % (
                p['pair'], p['matched'], _f(p['angle_median_deg']), _f(p['angle_p90_deg']),
                _f(100 * p['angle_within_10deg'], '%.0f%%'), _f(p['shift_median_A']), _f(p['shift_p90_A'])))
    L += ['', '## Figures', '']
    captions = dict(fsc='Gold-standard FSC of each run (common mask, corrected by phase randomization).',
                    fsc_parts='Parts of the correction per run, with RELION\'s corrected FSC (dashed).',
                    fsc_truth='FSC of each full (unfiltered) map against the truth; 0.5 threshold.',
                    fsc_model='FSC of each full map against the map computed from the model.',
                    locres='Local-resolution histograms inside the mask (relion_postprocess --locres).',
                    angles='Per-particle angular differences between each run and the first.',
                    shifts='Per-particle shift differences between each run and the first.',
                    angles_truth='Per-particle angular error against the simulated truth.',
                    shifts_truth='Per-particle shift error against the simulated truth.',
                    iterations_all='Resolution per iteration of every run.',
                    qscore='Q-score per atom.', fscq='FSC-Q per atom.')
    for key, path in made.items():
        cap = captions.get(key) or ('Per-iteration view of %s: resolution, healpix order, regularized '
                                    'iterations (shaded), enhancer seconds.' % key[len('iterations_'):])
        L += ['### %s' % cap, '', '![%s](%s)' % (key, os.path.basename(path)), '']
    for r in result['runs']:
        rows = r.get('iterations_table') or []
        if rows:
            L += ['## Iterations of %s' % r['label'], '',
                  '| iteration | resolution (Å) | healpix order | regularized | enhancer (s) | fallbacks |',
                  '|---|---|---|---|---|---|']
            for it in rows:
                L.append('| %d | %s | %s | %s | %s | %s |' % (
                    it['iteration'], _f(it.get('resolution_A')), it.get('healpix_order'),
                    'yes' if it.get('regularized') else 'no', _f(it.get('enhancer_s'), '%.1f'),
                    it.get('fallbacks', 0)))
            L.append('')
    L += ['## How the numbers were made', '',
          '* FSC: unfiltered half maps, one mask for every run; phases randomized beyond the shell '
          'where the unmasked FSC drops below 0.8, corrected FSC = (FSC_t - FSC_n) / (1 - FSC_n) '
          '(Chen et al. 2013), resolution at 0.143 interpolated between shells. "RELION postprocess" '
          'is relion_postprocess --force_mask on the same maps and mask (its own random phases: '
          'expect differences of a shell or two where the curve hovers near 0.143).',
          '* Local resolution: relion_postprocess --locres, statistics over mask > 0.5.',
          '* vs truth / model: FSC of the average of the two unfiltered half maps, 0.5 threshold.',
          '* Angles: geodesic angle between RELION rotation matrices, minimum over the point '
          'group; shifts: length of the in-plane difference (Å); particles matched by image name.',
          '* Q-score (Pintilie et al. 2020, sigma 0.6 Å) and FSC-Q (Ramirez-Aportela et al. 2021: '
          'local resolution map-model at 0.67 minus half-half at 0.5, 20-voxel windows) on the '
          'unfiltered average map.', '']
    path = os.path.join(out, 'report.md')
    with open(path, 'w') as fh:
        fh.write('\n'.join(L) + '\n')
    return path


def _jsonable(o):
    if isinstance(o, dict):
        return {k: _jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_jsonable(v) for v in o]
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (np.floating, np.integer, np.bool_)):
        return o.item()
    return o


def write(result, arrays, out):
    """Figures, ``metrics.json`` (numbers), ``data.json`` (what the figures show, for the
    Scipion viewers) and ``report.md``; returns the report's path and the figures."""
    made = figures(result, arrays, out)
    result['figures'] = {k: os.path.basename(v) for k, v in made.items()}
    with open(os.path.join(out, 'metrics.json'), 'w') as fh:
        json.dump(_jsonable(result), fh, indent=1)
    with open(os.path.join(out, 'data.json'), 'w') as fh:
        json.dump(_jsonable(arrays), fh)
    return markdown(result, made, out), made


def load_data(out):
    """(metrics, figure data) written by :func:`write` into ``out``."""
    with open(os.path.join(out, 'metrics.json')) as fh:
        result = json.load(fh)
    with open(os.path.join(out, 'data.json')) as fh:
        arrays = json.load(fh)
    return result, arrays
