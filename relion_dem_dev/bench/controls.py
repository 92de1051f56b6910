"""The artifact controls, each a regularized refinement of its own data set:

- low-pass: particles from the truth low-passed at each of the scale's cutoffs, refined with the
  gate open from the first iteration (the strictest policy: it bounds every other), must not
  claim a finer resolution;
- noise sweep: the main SNR, then lower ones, with the default gate: where it opens, and that
  less signal never gives a map closer to the truth;
- pure noise: particles without signal, refined with the gate forced open (the network applied
  at every iteration): the final map's correlation with the truth beyond the initial reference's
  resolution stays at chance.

Each returns (entries of the JSON's ``controls``, details for ``extra.controls``).
"""
import os

import numpy as np

from relion_dem.core.analysis import runinfo
from relion_dem.core.io import mrc
from relion_dem.core.io.layout import RelionRun

from . import data
from .score import Scorer, max_healpix

#: the pure-noise control compares the map with the truth in Fourier shells finer than this (Å);
#: the initial reference is the truth low-passed at 40 Å
PURE_NOISE_BAND_A = 30.0


def empty():
    """The controls of a run without them."""
    return dict(lowpass=[], noise=[], pure_noise=dict(truth_corr=None)), dict(lowpass=[], noise=[], pure_noise={})


def lowpass(session, structure, work, s, seed):
    entries, details = [], []
    for cut in s['lowpass_A']:
        d = data.lowpass_dataset(structure, os.path.join(work, 'lowpass_%g' % cut), s, cut, seed + 10)
        root, meta = session.refine(d, settings=dict(gate='always'))
        run = RelionRun(os.path.join(d, root))
        summ = runinfo.summary(run.root)
        rc = runinfo.resolution_check(run.root)
        sc = Scorer(d, structure)
        gold, _ = sc.gold(run.half_map(1), run.half_map(2))
        final = summ['final_resolution_A']
        entries.append(dict(cutoff_A=cut, final_res_A=final))
        details.append(dict(
            cutoff_A=cut, final_res_A=final, gold_res_A=gold,
            relion_reported_res_A=rc['relion_reported_A'], fsc_first_crossing_A=rc['fsc_first_crossing_A'],
            isolated_shell=rc['isolated_shell'], aligned_up_to_shell=rc['aligned_up_to_shell'],
            truth_res_A=sc.truth_res(run.final_map),
            source_lowpass_A=round(data.source_lowpass(cut, s['data']['box'], s['data']['voxel_size']), 2),
            regularized_iterations=summ['regularized_iterations'], gate='always', wall_s=meta['wall_s']))
    return entries, details


def _sweep_point(snr, dataset, root):
    return dict(snr=snr, max_healpix=max_healpix(dataset, root),
                regularized_iterations=runinfo.summary(os.path.join(dataset, root))['regularized_iterations'])


def noise_sweep(session, structure, work, s, seed, main, dem_root):
    """The main data set's regularized run ``dem_root`` is the sweep's first point."""
    entries, details = [_sweep_point(s['data']['snr'], main, dem_root)], []
    for snr in s['noise_snr']:
        d = data.noise_dataset(structure, os.path.join(work, 'noise_%g' % snr), s, snr, seed + 20)
        root, meta = session.refine(d)
        entries.append(_sweep_point(snr, d, root))
        details.append(dict(snr=snr, final_res_A=runinfo.summary(os.path.join(d, root))['final_resolution_A'],
                            truth_res_A=Scorer(d, structure).truth_res(RelionRun(os.path.join(d, root)).final_map),
                            wall_s=meta['wall_s']))
    return entries, details


def pure_noise(session, structure, work, s, seed):
    """No structure may emerge beyond what the 40 Å reference already held."""
    d = data.pure_noise_dataset(structure, os.path.join(work, 'pure_noise'), s, seed + 30)
    root, meta = session.refine(d, settings=dict(gate='always'))
    run = RelionRun(os.path.join(d, root))
    sc = Scorer(d, structure)
    corr, chance_mean, chance_sd, n_coef = sc.band_corr(run.final_map, PURE_NOISE_BAND_A)
    full_corr = float(np.corrcoef(mrc.read(run.final_map)[0].ravel(), sc.truth.ravel())[0, 1])
    summ = runinfo.summary(run.root)
    return dict(truth_corr=round(corr, 4)), dict(
        truth_corr=round(corr, 4), band='Fourier shells finer than %g Å (the initial reference '
                                        'is the truth low-passed at 40 Å)' % PURE_NOISE_BAND_A,
        chance_mean=round(chance_mean, 4), chance_sd=round(chance_sd, 4), coefficients=n_coef,
        full_band_corr=round(full_corr, 4), final_res_A=summ['final_resolution_A'], gate='always',
        regularized_iterations=summ['regularized_iterations'], fallbacks=summ['fallbacks'],
        calls=summ['calls'], wall_s=meta['wall_s'])


def run_controls(session, structure, work, s, seed, main, dem_root):
    """Every control; (``controls`` of the JSON, ``extra.controls``)."""
    ctl, details = empty()
    ctl['lowpass'], details['lowpass'] = lowpass(session, structure, work, s, seed)
    ctl['noise'], details['noise'] = noise_sweep(session, structure, work, s, seed, main, dem_root)
    ctl['pure_noise'], details['pure_noise'] = pure_noise(session, structure, work, s, seed)
    return ctl, details
