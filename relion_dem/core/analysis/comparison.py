"""The numbers of a comparison of refinements (no Markdown, no command line): the runs to
compare (:class:`Run`), what they are measured against (:class:`References`), and every metric
of each run and of each pair of runs (:func:`compute`); :mod:`.report` writes them out.
"""
import os

import numpy as np

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
