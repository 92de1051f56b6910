"""``relion_dem compare``: did regularization help? A Markdown + PNG report, no Scipion.

    relion_dem compare RUN [RUN ...] [--label NAME ...] [--model PDB [--centre-model]]
                       [--truth MAP] [--truth-particles STAR] [--mask MAP] [--sym SYM]
                       --out DIR

Each RUN is a run root (``Refine/run``) or a folder holding one (``Refine/``). For each
finished run it reads the unfiltered half maps ``<root>_half{1,2}_class001_unfil.mrc``,
the particles ``<root>_data.star``, the per-iteration STARs and the run log, and
computes (``relion_dem.core.analysis``):

* gold-standard FSC with one common mask, corrected by phase randomization, resolution
  at 0.143, and RELION's own number from ``relion_postprocess`` on the same maps;
* local resolution (``relion_postprocess --locres``): median and histogram in the mask;
* with ``--truth``: FSC of each full map against the truth, resolution at 0.5;
* angular and shift differences per particle, against the first run and, with
  ``--truth-particles`` (found beside ``--truth`` when simulated), against the truth;
* with ``--model``: map-model FSC (0.5), Q-score and FSC-Q per atom;
* the per-iteration view (resolution, healpix order, regularized iterations, enhancer s).

Writes ``DIR/report.md``, ``DIR/metrics.json`` and ``DIR/*.png``. Missing or corrupt
inputs stop it with a message naming the file and exit status 2.
"""
import argparse
import json
import os
import sys

import numpy as np

from relion_dem.core.simulation import density
from relion_dem.core.io import mrc, star
from relion_dem.core.io.layout import RelionRun
from relion_dem.core.analysis import runinfo
from relion_dem.core.io.relion import RelionError, run as run_relion


class ReportError(ValueError):
    """An input of the report is missing or unusable (the message names it)."""


# ----------------------------------------------------------------------------- inputs

class Run:
    """One finished refinement: its root, label, half maps and particles."""

    def __init__(self, spec, label=None):
        self.spec = spec
        self.root = resolve_root(spec)
        self.label = label or default_label(self.root)
        run = RelionRun(self.root)
        self.half1, self.half2 = run.half_map(1), run.half_map(2)
        for p in (self.half1, self.half2):
            if not os.path.exists(p):
                raise ReportError('%s: unfiltered half map missing: has run %s finished?'
                                  % (p, self.root))
        self.data_star = run.latest_data()

    def maps(self):
        a, apix = mrc.read(self.half1, cubic=True)
        b, apix2 = mrc.read(self.half2, cubic=True)
        if a.shape != b.shape:
            raise ReportError('%s: shape %s differs from %s: %s' % (self.half2, b.shape, self.half1, a.shape))
        if abs(apix - apix2) > 1e-3:
            raise ReportError('%s: voxel size %.4f differs from %s: %.4f' % (self.half2, apix2, self.half1, apix))
        return a, b, apix

    def symmetry(self):
        samplings = RelionRun(self.root).iteration_files(RelionRun.SAMPLING)
        for path in (samplings[k] for k in sorted(samplings, reverse=True)):
            for b in star.read(path):
                if b.has('_rlnSymmetryGroup'):
                    return b.get('_rlnSymmetryGroup')
        return 'C1'


def resolve_root(spec):
    """Run root of ``spec``: a root itself, or the finished root in a folder."""
    spec = os.path.normpath(spec)
    if os.path.isdir(spec):
        roots = RelionRun.find_roots(spec)
        done = [r for r in roots if RelionRun(r).is_finished()]
        if not roots:
            raise ReportError('%s: no RELION auto-refine run in this folder (no *_itNNN_sampling.star)' % spec)
        if not done:
            raise ReportError('%s: no finished run in this folder (no <root>_half1_class001_unfil.mrc; '
                              'roots: %s)' % (spec, ', '.join(roots)))
        return max(done, key=lambda r: os.path.getmtime(RelionRun(r).half_map(1)))
    why = RelionRun(spec).problem()
    if why:
        raise ReportError(why)
    return spec


def default_label(root):
    folder = os.path.basename(os.path.dirname(os.path.abspath(root)))
    base = os.path.basename(root)
    return folder if folder and base == 'run' else '%s/%s' % (folder, base) if folder else base


def unique_labels(runs):
    """Make the labels of ``runs`` unique: a repeated label gets ``_2``, ``_3``, ... (in place)."""
    seen = {}
    for r in runs:
        if r.label in seen:
            seen[r.label] += 1
            r.label = '%s_%d' % (r.label, seen[r.label])
        else:
            seen[r.label] = 1


def _safe(label):
    return ''.join(c if c.isalnum() or c in '-_.' else '_' for c in label)


# ----------------------------------------------------------------------------- metrics

def relion_postprocess(half1, half2, mask_path, voxel_size, out_root):
    """RELION's corrected FSC and resolution on the same maps and mask (``relion_postprocess``)."""
    from relion_dem.core.analysis import fsc as fsc_metrics
    os.makedirs(os.path.dirname(out_root), exist_ok=True)
    run_relion(['relion_postprocess', '--i', os.path.abspath(half1), '--i2', os.path.abspath(half2),
                '--mask', os.path.abspath(mask_path), '--angpix', '%g' % voxel_size,
                '--o', os.path.abspath(out_root), '--force_mask'],
               cwd=os.path.dirname(out_root), check=False)
    path = out_root + '.star'
    if not os.path.exists(path):
        raise RelionError('relion_postprocess wrote no %s' % path)
    return fsc_metrics.read_postprocess_star(path)


def compute(runs, out, mask_path=None, truth_path=None, truth_particles=None, model=None,
            centre_model=False, sym=None, locres=True, relion_check=True, fscq_step=2, seed=0,
            log=print):
    """All numbers of the report (a JSON-able dict plus arrays for the figures): the maps
    (:func:`load_maps`) and what they are measured against (:func:`load_references`), the
    numbers of each run (:func:`score_run`), its particles against the first run's
    (:func:`compare_pairs`). ``runs`` have unique labels (:func:`unique_labels`)."""
    work = os.path.join(out, 'work')
    os.makedirs(work, exist_ok=True)
    maps = load_maps(runs)
    refs = load_references(runs[0], maps[runs[0].label], work, mask_path=mask_path, truth_path=truth_path,
                           model=model, centre_model=centre_model)
    result = dict(box=refs.box, voxel_size=refs.apix, mask=refs.mask_source, runs=[], pairs=[],
                  truth=truth_path, model=os.fspath(model) if model else None)
    arrays = dict(fsc={}, fsc_truth={}, fsc_model={}, locres={}, angles={}, shifts={},
                  angles_truth={}, shifts_truth={}, qscore={}, fscq={}, iterations={})
    for r in runs:
        log('relion_dem compare: %s (%s)' % (r.label, r.root))
        result['runs'].append(score_run(r, maps[r.label], refs, work, arrays, truth_particles=truth_particles,
                                        sym=sym, locres=locres, relion_check=relion_check,
                                        fscq_step=fscq_step, seed=seed))
    result['pairs'] = compare_pairs(runs, arrays, sym=sym)
    return result, arrays


def load_maps(runs):
    """{label: (half map 1, half map 2, voxel size)} of every run; all must share box and voxel size."""
    maps = {r.label: r.maps() for r in runs}
    shapes = {v[0].shape for v in maps.values()}
    apixes = {round(v[2], 3) for v in maps.values()}
    if len(shapes) > 1 or len(apixes) > 1:
        raise ReportError('runs differ in box or voxel size: %s' % ', '.join(
            '%s %s %.3f' % (k, v[0].shape, v[2]) for k, v in maps.items()))
    return maps


class References:
    """What every run is measured against: box and voxel size, the common mask (array, file
    and where it came from), the truth map and the atomic model (atoms, placed in the box, and
    the map computed from them); absent ones are None."""

    def __init__(self, box, apix, mask, mask_path, mask_source, truth=None, atoms=None, model_map=None):
        self.box, self.apix = box, apix
        self.mask, self.mask_path, self.mask_source = mask, mask_path, mask_source
        self.truth, self.atoms, self.model_map = truth, atoms, model_map


def load_references(first, first_maps, work, mask_path=None, truth_path=None, model=None, centre_model=False):
    """:class:`References` of a comparison whose first run is ``first`` (maps ``first_maps``):
    the truth map, the mask (``mask_path``, else a soft mask made from the truth or from the
    first run, written to ``work/mask.mrc``), the model and its map (``work/model_map.mrc``)."""
    from relion_dem.core.analysis import atomic_model as model_metrics
    from relion_dem.core.maths import masks
    a0, b0, apix = first_maps
    box = a0.shape[0]
    truth = None
    if truth_path:
        truth, _ = mrc.read(truth_path, cubic=True)
        if truth.shape != a0.shape:
            raise ReportError('%s: truth shape %s differs from the runs %s' % (truth_path, truth.shape, a0.shape))
    if mask_path:
        mask, _ = mrc.read(mask_path, cubic=True)
        if mask.shape != a0.shape:
            raise ReportError('%s: mask shape %s differs from the runs %s' % (mask_path, mask.shape, a0.shape))
        if mask.min() < -1e-3 or mask.max() > 1 + 1e-3:
            raise ReportError('%s: mask values must lie in [0, 1] (found %.3g .. %.3g)'
                              % (mask_path, mask.min(), mask.max()))
        mask_source = mask_path
    else:
        base = truth if truth is not None else (a0 + b0) / 2
        mask = masks.soft_mask(base, apix)
        mask_path = os.path.join(work, 'mask.mrc')
        mrc.write(mask_path, mask, apix)
        mask_source = 'automatic, from the %s' % ('truth map' if truth is not None else
                                                   'first run (%s)' % first.label)
    atoms = model_map = None
    if model:
        atoms, placed = model_metrics.load(model, box, apix, centre=centre_model)
        model_map = model_metrics.model_map(placed, box, apix)
        mrc.write(os.path.join(work, 'model_map.mrc'), model_map, apix)
    return References(box, apix, mask, mask_path, mask_source, truth=truth, atoms=atoms, model_map=model_map)


def score_run(r, halves, refs, work, arrays, truth_particles=None, sym=None, locres=True, relion_check=True,
              fscq_step=2, seed=0):
    """The row of run ``r`` (half maps ``halves``) in ``metrics.json``; what its figures show is
    added to ``arrays`` under its label: gold-standard FSC (with relion_postprocess's), run
    summary, local resolution, FSC against the truth and the model, Q-score and FSC-Q, the
    iteration table, particles against the truth."""
    from relion_dem.core.analysis import angles, fsc as fsc_metrics
    from relion_dem.core.analysis import locres as locres_metrics
    a, b, _ = halves
    row = dict(label=r.label, root=r.root, half1=r.half1, half2=r.half2)
    f = fsc_metrics.masked_fsc(a, b, refs.apix, refs.mask, seed=seed, strict=False)
    arrays['fsc'][r.label] = f
    row.update(resolution_0143=f['resolution_0143'], resolution_0143_relion_def=f['resolution_0143_relion'],
               randomize_at_A=f['randomize_at_A'])
    if relion_check:
        pp = relion_postprocess(r.half1, r.half2, refs.mask_path, refs.apix,
                                os.path.join(work, _safe(r.label), 'postprocess'))
        row['relion_postprocess_resolution'] = pp['final_resolution']
        arrays['fsc'][r.label]['relion'] = pp
    row.update(runinfo.summary(r.root))
    row['final_resolution_model_star'] = row.pop('relion_reported_resolution_A')
    if locres:
        lr, _, _ = locres_metrics.relion_locres(
            r.half1, r.half2, os.path.join(work, _safe(r.label), 'relion'))
        st = locres_metrics.statistics(lr, refs.mask)
        arrays['locres'][r.label] = st.pop('values')
        row['locres'] = {k: v for k, v in st.items() if k not in ('histogram', 'bin_edges')}
    row.update(score_full_map(r.label, a, b, refs, arrays, fscq_step=fscq_step))
    rows = runinfo.iteration_table(r.root)
    arrays['iterations'][r.label] = rows
    row['iterations_table'] = rows
    if truth_particles and r.data_star:
        d = angles.compare(r.data_star, truth_particles, sym or r.symmetry())
        arrays['angles_truth'][r.label] = d['angle_deg']
        arrays['shifts_truth'][r.label] = d['shift_A']
        row['vs_truth'] = {k: v for k, v in d.items() if k not in ('names', 'angle_deg', 'shift_A')}
    return row


def score_full_map(label, a, b, refs, arrays, fscq_step=2):
    """Numbers of the full (unfiltered, averaged) map of half maps ``a``, ``b`` against the truth
    map and the atomic model of ``refs``, where given: FSC at 0.5, Q-score, FSC-Q."""
    from relion_dem.core.analysis import fsc as fsc_metrics, fscq as fscq_metrics, qscore
    full = (a.astype(np.float64) + b) / 2
    row = {}
    if refs.truth is not None:
        ft = fsc_metrics.reference_fsc(full, refs.truth, refs.apix, refs.mask)
        arrays['fsc_truth'][label] = ft
        row['truth_resolution_05'] = ft['resolution_05']
    if refs.model_map is not None:
        fm = fsc_metrics.reference_fsc(full, refs.model_map, refs.apix, refs.mask)
        arrays['fsc_model'][label] = fm
        row['model_resolution_05'] = fm['resolution_05']
        q = qscore.qscores(full, refs.apix, refs.atoms.xyz)
        arrays['qscore'][label] = q
        row['qscore'] = qscore.summary(q, refs.atoms)
        fq = fscq_metrics.fscq(full, a, b, refs.model_map, refs.apix, refs.atoms.xyz, step=fscq_step)
        arrays['fscq'][label] = fq['fscq']
        row['fscq'] = {k: fq[k] for k in ('mean', 'mean_abs', 'mean_r', 'fraction_above',
                                          'fraction_below', 'atoms')}
    return row


def compare_pairs(runs, arrays, sym=None):
    """Angular and shift differences of the particles of each run against the first run's
    (``pairs`` of ``metrics.json``); the per-particle values go to ``arrays``."""
    from relion_dem.core.analysis import angles
    pairs = []
    ref = runs[0]
    for r in runs[1:]:
        if not (ref.data_star and r.data_star):
            continue
        d = angles.compare(r.data_star, ref.data_star, sym or r.symmetry())
        key = '%s vs %s' % (r.label, ref.label)
        arrays['angles'][key] = d['angle_deg']
        arrays['shifts'][key] = d['shift_A']
        pairs.append(dict(pair=key, **{k: v for k, v in d.items() if k not in ('names', 'angle_deg', 'shift_A')}))
    return pairs


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
            save('iterations_' + label, plots.iterations(rows, title=label), 'iterations_%s.png' % _safe(label))
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


# ----------------------------------------------------------------------------- command line

def build_parser():
    p = argparse.ArgumentParser(prog='relion_dem compare', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('runs', nargs='+', metavar='RUN', help='run root (Refine/run) or its folder')
    p.add_argument('--label', action='append', default=[], help='name of each run, in order (repeatable)')
    p.add_argument('--out', required=True, help='output folder of the report')
    p.add_argument('--mask', help='soft mask (values 0..1) for FSC and local resolution '
                                  '(default: made from the truth, or the first run)')
    p.add_argument('--truth', help='ground-truth map (simulated data)')
    p.add_argument('--truth-particles', help='ground-truth particle STAR (default: truth_particles.star '
                                             'beside --truth, if there)')
    p.add_argument('--model', help='atomic model (pdb, cif, gz): map-model FSC, Q-score, FSC-Q')
    p.add_argument('--centre-model', action='store_true',
                   help='centre the model as relion_dem simulate did (model used to simulate the data)')
    p.add_argument('--sym', help='point group for angular differences (default: each run\'s own)')
    p.add_argument('--no-locres', action='store_true', help='skip relion_postprocess --locres')
    p.add_argument('--no-relion-check', action='store_true',
                   help='skip relion_postprocess on the half maps (RELION\'s own FSC)')
    p.add_argument('--fscq-step', type=int, default=2, help='FSC-Q sliding-window step, voxels (default 2)')
    p.add_argument('--seed', type=int, default=0, help='seed of the phase randomization')
    return p


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


def main(argv=None):
    a = build_parser().parse_args(argv)
    try:
        runs = []
        for i, spec in enumerate(a.runs):
            runs.append(Run(spec, a.label[i] if i < len(a.label) else None))
        unique_labels(runs)
        truth_particles = a.truth_particles
        if truth_particles and not os.path.exists(truth_particles):
            raise ReportError('%s: truth particle STAR does not exist' % truth_particles)
        if not truth_particles and a.truth:
            cand = os.path.join(os.path.dirname(os.path.abspath(a.truth)), 'truth_particles.star')
            truth_particles = cand if os.path.exists(cand) else None
        for p, what in ((a.mask, 'mask'), (a.truth, 'truth map'), (a.model, 'atomic model')):
            if p and not os.path.exists(p):
                raise ReportError('%s: %s does not exist' % (p, what))
        os.makedirs(a.out, exist_ok=True)
        result, arrays = compute(runs, a.out, mask_path=a.mask, truth_path=a.truth,
                                 truth_particles=truth_particles, model=a.model,
                                 centre_model=a.centre_model, sym=a.sym, locres=not a.no_locres,
                                 relion_check=not a.no_relion_check, fscq_step=a.fscq_step, seed=a.seed)
        path, made = write(result, arrays, a.out)
    except (ReportError, mrc.MapError, star.StarError, density.ModelError, RelionError, ValueError,
            OSError) as e:
        sys.stderr.write('relion_dem compare: ERROR: %s\n' % e)
        return 2
    print('relion_dem compare: report %s (%d figures)' % (path, len(made)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
