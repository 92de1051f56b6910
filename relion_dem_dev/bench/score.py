"""Scoring against the simulation's truth, the same way for every arm: :class:`Scorer` (map vs
truth, half map vs half map, angles, local resolution, Q-score, correlation beyond a resolution)
and the metrics of a finished refinement, of post-processed half maps and of the oracle."""
import os

import numpy as np

from relion_dem.core.analysis import fsc as fsc_mod
from relion_dem.core.analysis import runinfo
from relion_dem.core.maths import fourier
from relion_dem.core.io import mrc
from relion_dem.core.io.layout import RelionRun
from relion_dem.core.simulation import simulate

from .data import dataset_mask, envelope_mask
from .settings import METRIC_KEYS, log


class Scorer:
    """Scores maps and particle STARs of one data set against its truth."""

    def __init__(self, dataset, structure):
        self.dataset = dataset
        self.info = simulate.load(dataset)
        self.truth, self.voxel = mrc.read(os.path.join(dataset, self.info['truth']))
        self.box = self.truth.shape[0]
        self.mask = mrc.read(dataset_mask(dataset))[0]
        self.envelope = mrc.read(envelope_mask(dataset))[0]
        # the model the truth was made from (a symmetric data set's is its own model.pdb)
        self.structure = self.info.get('model') if self.info.get('source_model') else structure
        self._atoms = None

    def fsc_truth(self, map_path):
        """FSC per shell of the map at ``map_path`` against the truth."""
        data = mrc.read(map_path, cubic=True)[0]
        return fsc_mod.fsc(data, self.truth)

    def truth_res(self, map_path):
        """Map-vs-truth resolution (Å, FSC 0.5), unmasked."""
        return round(float(fsc_mod.resolution(self.fsc_truth(map_path), self.voxel, 0.5)), 2)

    def _truth_res_in(self, map_path, mask, threshold):
        data = mrc.read(map_path, cubic=True)[0]
        return round(float(fsc_mod.resolution(fsc_mod.fsc(data, self.truth, mask), self.voxel, threshold)), 2)

    def truth_res_masked(self, map_path, threshold=0.5):
        """Map-vs-truth resolution (FSC ``threshold``) inside the data set's soft mask around the
        truth, so that flattening the solvent alone earns nothing."""
        return self._truth_res_in(map_path, self.mask, threshold)

    def truth_res_envelope(self, map_path, threshold=0.5):
        """Map-vs-truth resolution (FSC ``threshold``) inside the truth's envelope mask (the molecule only)."""
        return self._truth_res_in(map_path, self.envelope, threshold)

    def gold_envelope(self, half1, half2):
        """Gold-standard resolution (Å, FSC 0.143) of two half-maps inside the truth's envelope mask,
        corrected for the mask by phase randomization (as ``relion_postprocess``)."""
        a = mrc.read(half1, cubic=True)[0]
        b = mrc.read(half2, cubic=True)[0]
        r = fsc_mod.masked_fsc(a, b, self.voxel, self.envelope, strict=False)
        return round(float(r['resolution_0143']), 2)

    def gold(self, half1, half2):
        """Gold-standard resolution (Å, FSC 0.143) of two half-maps, and the FSC curve."""
        a = mrc.read(half1, cubic=True)[0]
        b = mrc.read(half2, cubic=True)[0]
        curve = fsc_mod.fsc(a, b)
        return round(float(fsc_mod.resolution(curve, self.voxel, 0.143)), 2), curve

    def angles(self, data_star):
        """Median angular (°) and shift (Å) error of the particles against the truth (None, None: no metric)."""
        try:
            from relion_dem.core.analysis import angles
        except ImportError:
            return None, None
        c = angles.compare(os.path.join(self.dataset, self.info['truth_particles']), data_star,
                           sym=self.info.get('symmetry') or 'C1')
        return round(c['angle_median_deg'], 2), round(c['shift_median_A'], 2)

    def locres(self, half1, half2, out_root):
        """Median local resolution (Å, RELION's --locres) inside the data set's mask; None if unavailable."""
        try:
            from relion_dem.core.analysis import locres
            # RELION's defaults: local windows of radius sampling/2; sampling 25 Å (capped at box/4)
            with open(os.devnull, 'w') as devnull:
                m, _, _ = locres.relion_locres(half1, half2, out_root, voxel_size=self.voxel,
                                               log=devnull, timeout=900)
            return round(locres.statistics(m, self.mask)['median_A'], 2)
        except Exception as e:  # noqa: BLE001 - a missing metric is reported as null
            log('locres unavailable: %s' % e)
            return None

    def qscore(self, map_path):
        """Mean Q-score of the map at ``map_path`` at the truth model's atoms; None if unavailable."""
        try:
            from relion_dem.core.analysis import atomic_model as model_mod, qscore
            if self._atoms is None:
                self._atoms = model_mod.load(self.structure, self.box, self.voxel, centre=True)[0]
            data = mrc.read(map_path, cubic=True)[0]
            q = qscore.qscores(data, self.voxel, self._atoms.xyz)
            return round(qscore.summary(q)['q_mean'], 3)
        except Exception as e:  # noqa: BLE001
            log('Q-score unavailable: %s' % e)
            return None

    def band_corr(self, map_path, finer_than_A, n_random=20, seed=0):
        """Correlation of a map with the truth over Fourier shells finer than ``finer_than_A``,
        and the chance level: mean and sd of the same correlation with phase-randomized truths."""
        data = mrc.read(map_path, cubic=True)[0]
        r = fourier.radial_frequency(data.shape)
        band = (r >= self.box * self.voxel / finer_than_A) & (r <= self.box // 2)
        fa, ft = np.fft.rfftn(data)[band], np.fft.rfftn(self.truth)[band]

        def corr(x, y):
            return float((x * np.conj(y)).real.sum() / np.sqrt((np.abs(x) ** 2).sum() * (np.abs(y) ** 2).sum()))
        rng = np.random.default_rng(seed)
        chance = [corr(fa, np.abs(ft) * np.exp(2j * np.pi * rng.random(ft.shape))) for _ in range(n_random)]
        return corr(fa, ft), float(np.mean(chance)), float(np.std(chance)), int(band.sum())


def empty_metrics():
    """One run's metrics with every key of ``METRIC_KEYS`` None."""
    return {k: None for k in METRIC_KEYS}


def metrics(**values):
    """One run's metrics: every key of ``METRIC_KEYS`` (None unless given), in that order."""
    m = empty_metrics()
    unknown = set(values) - set(m)
    if unknown:
        raise KeyError('not benchmark metrics: %s' % sorted(unknown))
    m.update(values)
    return m


def _rounded(curve):
    return [round(float(v), 4) for v in curve]


def score_maps(sc, half1, half2, final, locres_root, locres=True, qscore=True):
    """(metrics of the maps alone: gold-standard and map-vs-truth resolution, local resolution,
    Q-score; details: both FSC curves)."""
    gold, gold_curve = sc.gold(half1, half2)
    masked = sc.truth_res_masked(final)
    # FSC 0.143 between halves and 0.5 against the truth mean the same signal (Rosenthal & Henderson):
    # a positive gap is a gold standard claiming more than the map holds
    envelope, gold_envelope = sc.truth_res_envelope(final), sc.gold_envelope(half1, half2)
    m = dict(gold_res_A=gold, truth_res_A=sc.truth_res(final), truth_res_masked_A=masked,
             honesty_gap_A=round(masked - gold, 2), truth_res_envelope_A=envelope,
             gold_res_envelope_A=gold_envelope, honesty_gap_envelope_A=round(envelope - gold_envelope, 2),
             locres_median_A=sc.locres(half1, half2, locres_root) if locres else None,
             qscore=sc.qscore(final) if qscore else None)
    return m, dict(fsc_truth=_rounded(sc.fsc_truth(final)), fsc_gold=_rounded(gold_curve))


def score_refinement(sc, dataset, root, meta, regularized=None, locres=True, qscore=True):
    """(metrics, details) of the finished refinement ``root`` of ``dataset``; ``regularized``:
    its regularized iterations when relion_dem's run log does not count them (SIDESPLITTER)."""
    run = RelionRun(os.path.join(dataset, root))
    s = runinfo.summary(run.root)
    maps, curves = score_maps(sc, run.half_map(1), run.half_map(2), run.final_map, run.root + '_locres/post',
                              locres, qscore)
    ang, shift = sc.angles(run.final_data)
    m = metrics(ang_err_deg=ang, shift_err_A=shift, iterations=s['iterations'],
                regularized_iterations=s['regularized_iterations'] if regularized is None else regularized,
                wall_s=meta['wall_s'], enhancer_s=s['enhancer_s'] if regularized is None else None, **maps)
    extra = dict(relion_reported_res_A=s['relion_reported_resolution_A'], resolution_note=s['resolution_note'],
                 cpu_s=meta.get('cpu_s'), fallbacks=s['fallbacks'], enhancer=meta.get('enhancer'),
                 per_iteration=runinfo.per_iteration(run.root), **curves)
    return m, extra


def score_post(sc, outputs, folder, base, enhancer):
    """(metrics, details) of post-processed half maps ``outputs`` (half1, half2, average, seconds)
    of a run whose metrics ``base`` give the angles, the iterations and the wall time."""
    h1, h2, final, secs = outputs
    maps, curves = score_maps(sc, h1, h2, final, os.path.join(folder, 'locres', 'post'))
    m = metrics(ang_err_deg=base['ang_err_deg'], shift_err_A=base['shift_err_A'], iterations=base['iterations'],
                regularized_iterations=base['regularized_iterations'], wall_s=round(base['wall_s'] + secs, 1),
                enhancer_s=round((base['enhancer_s'] or 0.0) + secs, 2), **maps)
    return m, dict(curves, enhancer=enhancer, post_s=secs)


def score_oracle(sc, outputs, folder):
    """(metrics, details) of the oracle's maps ``outputs`` (half1, half2, full, seconds)."""
    h1, h2, full, secs, particles = outputs
    maps, curves = score_maps(sc, h1, h2, full, os.path.join(folder, 'locres', 'post'))
    ang, shift = sc.angles(particles)        # the truth's own angles: measured, not assumed
    return metrics(ang_err_deg=ang, shift_err_A=shift, wall_s=secs, **maps), curves


def max_healpix(dataset, root):
    """The finest healpix order the refinement ``root`` of ``dataset`` reached."""
    orders = [r['healpix_order'] for r in runinfo.per_iteration(os.path.join(dataset, root))
              if r['healpix_order'] is not None]
    return max(orders) if orders else None
