"""The gate benchmark: when should the network start regularizing? Gate policies compared seed
by seed on data where RELION struggles and on data where it aligns.

    python -m relion_dem_dev.bench.gate --dataset 1BD2-snr003 [--seeds 5] [--arms ...]

Each data set (:data:`DATASETS`) is simulated afresh per seed (particles and RELION's
``--random_seed`` both from the seed); every arm of a seed refines the same particles with
the same recipe. Arms: vanilla RELION (``relion``) and the regularized refinement under each
gate policy (``dem_<policy>``), both guards on; the oracle (the truth's angles) per seed.

Per seed and arm: masked map-vs-truth resolution (FSC 0.5, Å, capped at Nyquist),
median angular error, the fraction of particles within 10° of the truth, the iterations
regularized and the first one. A **rescue**: plain RELION's median error above 15° and the
arm's below 10°. A **break**: the reverse, or a masked resolution coarser than plain RELION's
by more than the scatter (two sd of the paired differences of the default gate, at least
one Fourier shell). Writes ``benchmarks/results/gate-<data set>.{json,md,png}``.
"""
import argparse
import json
import os
import time

import numpy as np

from relion_dem.core.analysis import angles, fsc, runinfo
from relion_dem.core.guards import harm
from relion_dem.core.runtime import runlog

from . import arms, data, summary
from .report import write_json_and_markdown
from .score import Scorer, score_oracle, score_refinement
from .settings import REPO, log, settings_for

#: name -> (structure id, scale, settings overrides, what it stands for); ``data`` in the
#: overrides replaces the scale's simulation settings (the simulator's defaults for the rest),
#: ``refine`` updates RELION's recipe; a 'diagnostic' data set is reported but not evidence for
#: the recommendations
DATASETS = {
    'adk_open-snr01': ('adk_open', 'standard',
                       dict(data=dict(box=40, voxel_size=3.0, n_particles=600, snr=0.1, cone_deg=None)),
                       'struggling: the demo\'s 23 kDa protein (40 px at 3 Å/px, 600 particles) at SNR 0.1, '
                       'uniform orientations'),
    'adk_open-cone40-snr01': ('adk_open', 'standard',
                              dict(data=dict(box=40, voxel_size=3.0, n_particles=600, snr=0.1, cone_deg=40.0)),
                              'struggling: the same 23 kDa protein and SNR in a 0-40° tilt cone'),
    'adk_open-cone40-snr01-minang': ('adk_open', 'standard',
                                     dict(data=dict(box=40, voxel_size=3.0, n_particles=600, snr=0.1, cone_deg=40.0),
                                          refine=dict(extra=['--minimum_angular_sampling', '1.875'])),
                                     'diagnostic: the adk cone with RELION kept refining to a 1.875° angular step '
                                     '(--minimum_angular_sampling, every arm): does the network help more when '
                                     'RELION\'s convergence test cannot stop at a coarse step?'),
    '1BD2-snr003': ('1BD2', 'standard', dict(snr=0.03),
                    'struggling: ~100 kDa complex at SNR 0.03, uniform orientations'),
    '1BD2-cone40-snr005': ('1BD2', 'standard', dict(snr=0.05, cone=40.0),
                           'struggling: the same complex in a 0-40° tilt cone at SNR 0.05'),
    '6Z6U-snr01': ('6Z6U', 'standard', dict(sym='O', snr=0.1),
                   'aligning, with failures: the 432 kDa apoferritin 24-mer refined with O at SNR 0.1 '
                   '(in the standard benchmark one seed in three failed to align in most arms)'),
    '1BD2-snr015': ('1BD2', 'standard', dict(),
                    'aligning: the standard benchmark\'s data (SNR 0.15, uniform)'),
}
#: arm -> runtime settings (None: vanilla RELION)
ARMS = {
    'relion': None,
    'dem_local_searches': dict(gate='local_searches'),
    'dem_stalled': dict(gate='stalled'),
    'dem_always': dict(gate='always'),
    # 'stalled' opened at the first iteration without resolution gain (trajectories: in the adk cone
    # RELION converged 3-5 iterations after the default 'stalled' opened, its error still falling)
    'dem_stalled_k1': dict(gate='stalled', gate_stall_iterations=1),
    # the do-no-harm guard's power bound |P|²/F instead of the plain map's power (core.guards.harm)
    'dem_stalled_data_bound': dict(gate='stalled', harm_power_bound='data'),
    # the do-no-harm guard judging each shell over the directions the half's data sampled
    'dem_stalled_sampled': dict(gate='stalled', harm_directions='sampled'),
}
RESCUE_PLAIN_DEG, RESCUE_ARM_DEG = 15.0, 10.0


def fraction_within(sc, data_star, degrees=10.0):
    """Fraction of the particles whose orientation is within ``degrees`` of the truth."""
    c = angles.compare(os.path.join(sc.dataset, sc.info['truth_particles']), data_star,
                       sym=sc.info.get('symmetry') or 'C1')
    return round(float(np.mean(np.asarray(c['angle_deg']) <= degrees)), 3)


def regularized_iterations(dataset, root):
    """Sorted iterations with at least one regularized call in the run log."""
    path = os.path.join(dataset, root) + '_relion_dem.jsonl'
    if not os.path.exists(path):
        return []
    return sorted({r['iteration'] for r in runlog.read(path) if r.get('regularized')})


def reached_local_searches(dataset, root):
    """Whether the finished run ``root`` reached its local-search healpix order."""
    from relion_dem.core.runtime import gate
    run = os.path.join(dataset, root)
    local = gate.local_search_order(run, 10 ** 6)
    orders = [r['healpix_order'] for r in runinfo.per_iteration(run) if r['healpix_order'] is not None]
    return bool(orders) and local is not None and max(orders) >= local


def dataset_settings(name):
    """The benchmark settings of data set ``name`` (:data:`DATASETS`): its scale's, with the overrides."""
    sid, scale, overrides, _ = DATASETS[name]
    overrides = dict(overrides)
    replaced = overrides.pop('data', None)
    refine = overrides.pop('refine', None)
    s = settings_for(scale, **overrides)
    if replaced:
        s['data'] = dict(replaced)
    if refine:
        s['refine'] = dict(s['refine'], **refine)
    return s


def run_seed(name, seed, arm_names, work, np_procs, enhancer):
    """Every arm on one seed's data set; {arm: metrics}."""
    sid = DATASETS[name][0]
    s = dataset_settings(name)
    structure = data.resolve_structure(sid)
    folder = data.main_dataset(structure, os.path.join(work, 'seed%d' % seed), s, seed)
    sc = Scorer(folder, structure)
    session = arms.Session(dict(s['refine'], seed=seed), enhancer, np_procs)
    voxel = s['data']['voxel_size']
    out, relion_root = {}, None
    for arm in arm_names:
        t = time.time()
        if arm == 'dem_local_searches' and relion_root and not reached_local_searches(folder, relion_root):
            # the runtime's unregularized path is vanilla RELION's (benchmarks/results/plain-path-1hvr.md:
            # identical refinements), so a run whose gate stays closed follows vanilla RELION's trajectory;
            # this gate opens only at local searches, which vanilla RELION never reached: the same run
            out[arm] = dict(out['relion'], regularized_iterations=0, first_regularized=None,
                            same_as='relion (never reached local searches: the gate stays closed)')
            log('%s seed %d %s: identical to relion, not run (%s)' % (name, seed, arm, out[arm]['same_as']))
            continue
        if ARMS[arm] is None:
            root, meta = session.vanilla(folder)
            relion_root = root
        else:
            root, meta = session.refine(folder, arm, settings=ARMS[arm])
        m, details = score_refinement(sc, folder, root, meta, locres=False, qscore=False)
        its = regularized_iterations(folder, root)
        out[arm] = dict(truth_res_masked_A=m['truth_res_masked_A'], at_nyquist=fsc.at_nyquist(m['truth_res_masked_A'], voxel),
                        gold_res_A=m['gold_res_A'], ang_err_deg=m['ang_err_deg'],
                        within_10deg=fraction_within(sc, os.path.join(folder, root) + '_data.star'),
                        iterations=m['iterations'], regularized_iterations=len(its),
                        first_regularized=its[0] if its else None, wall_s=m['wall_s'],
                        truth_res_envelope_A=m.get('truth_res_envelope_A'),
                        gold_res_envelope_A=m.get('gold_res_envelope_A'))
        log('%s seed %d %s: %s (%.0f s)' % (name, seed, arm, out[arm], time.time() - t))
    if relion_root:
        om, _ = score_oracle(sc, arms.oracle(folder, relion_root, os.path.join(folder, 'runs', 'oracle')),
                             os.path.join(folder, 'runs', 'oracle'))
        out['oracle'] = dict(truth_res_masked_A=om['truth_res_masked_A'], ang_err_deg=om['ang_err_deg'])
    return out


def verdicts(per_seed, arm, default='dem_local_searches'):
    """(rescues, breaks, the break threshold in Å) of ``arm`` against plain RELION over the seeds."""
    diffs = [s[default]['truth_res_masked_A'] - s['relion']['truth_res_masked_A']
             for s in per_seed if default in s and 'relion' in s]
    shell = max(s['relion']['truth_res_masked_A'] for s in per_seed) / 12.0   # ~ one shell near there
    scatter = max(2.0 * float(np.std(diffs, ddof=1)) if len(diffs) > 1 else 0.0, shell)
    rescues = breaks = 0
    for s in per_seed:
        if arm not in s:
            continue
        p, a = s['relion'], s[arm]
        if p['ang_err_deg'] > RESCUE_PLAIN_DEG and a['ang_err_deg'] < RESCUE_ARM_DEG:
            rescues += 1
        if (p['ang_err_deg'] < RESCUE_ARM_DEG and a['ang_err_deg'] > RESCUE_PLAIN_DEG) or \
                a['truth_res_masked_A'] - p['truth_res_masked_A'] > scatter:
            breaks += 1
    return rescues, breaks, round(scatter, 2)


def summarize(name, per_seed, arm_names):
    """The result dict: per seed, per arm means and sd, rescues and breaks. Per run also how far
    the gold standard claims beyond the map-vs-truth resolution (``gold_beyond_truth_A``: map vs
    truth at FSC 0.5 minus the half-maps' FSC 0.143, both in Å; > 0: the claim is finer)."""
    for s in per_seed:
        for arm, r in s.items():
            if isinstance(r, dict) and r.get('gold_res_A') and r.get('truth_res_masked_A'):
                r['gold_beyond_truth_A'] = round(r['truth_res_masked_A'] - r['gold_res_A'], 2)
    stats = {}
    for arm in arm_names + ['oracle']:
        rows = [s[arm] for s in per_seed if arm in s]
        stats[arm] = {k: dict(mean=round(float(np.mean([r[k] for r in rows if r.get(k) is not None])), 3),
                              sd=round(float(np.std([r[k] for r in rows if r.get(k) is not None], ddof=1)), 3)
                              if len(rows) > 1 else None)
                      for k in ('truth_res_masked_A', 'ang_err_deg', 'within_10deg', 'regularized_iterations',
                                'wall_s', 'gold_res_A', 'gold_beyond_truth_A') if any(r.get(k) is not None for r in rows)}
    counts = counts_of(per_seed, arm_names)
    sid, scale, overrides, what = DATASETS[name]
    return dict(dataset=name, structure=sid, scale=scale, overrides=overrides, what=what,
                seeds=[s['seed'] for s in per_seed], per_seed=per_seed, arms=stats, counts=counts,
                date=time.strftime('%Y-%m-%d %H:%M'))


def markdown(res):
    """The result as Markdown: the per-seed table, then the means and the counts."""
    arm_names = [a for a in res['arms'] if a != 'oracle']
    lines = ['# Gate benchmark: %s' % res['dataset'], '',
             '%s (%s scale, %s). Masked map-vs-truth resolution (FSC 0.5, Å; "≤ X (Nyquist)" where capped), '
             'median angular error (°), fraction of particles within 10°, iterations regularized (first); '
             'the gold standard (FSC 0.143 of the final half-maps, unmasked, computed here) and how far it claims '
             'beyond the map-vs-truth resolution (Å; > 0: finer than the truth supports). '
             'Both guards on in every DEM arm.' % (res['what'], res['scale'], json.dumps(res['overrides'])), '',
             '| seed | arm | map vs truth (Å) | gold std (Å) | claimed beyond truth (Å) | median error (°) | within 10° '
             '| regularized (first) | wall (s) |',
             '|---|---|---|---|---|---|---|---|---|']
    for s in res['per_seed']:
        for arm in arm_names + ['oracle']:
            r = s.get(arm)
            if not r:
                continue
            res_a = fsc.resolution_text(r['truth_res_masked_A'], r.get('at_nyquist'))
            lines.append('| %d | %s | %s | %s | %s | %.1f | %s | %s | %s |' % (
                s['seed'], arm + (' (= relion, not run)' if r.get('same_as') else ''), res_a,
                '%.2f' % r['gold_res_A'] if r.get('gold_res_A') else '-',
                '%+.2f' % r['gold_beyond_truth_A'] if r.get('gold_beyond_truth_A') is not None else '-', r['ang_err_deg'],
                '%.2f' % r['within_10deg'] if r.get('within_10deg') is not None else '-',
                '%d (%s)' % (r['regularized_iterations'], r['first_regularized'])
                if r.get('regularized_iterations') is not None else '-',
                '%.0f' % r['wall_s'] if r.get('wall_s') is not None else '-'))
    lines += ['', '| arm | seeds | map vs truth (Å) | claimed beyond truth (Å) | median error (°) | within 10° | rescues '
                  '| breaks |',
              '|---|---|---|---|---|---|---|---|']
    for arm in arm_names + ['oracle']:
        st, c = res['arms'][arm], res['counts'].get(arm, {})

        def f(k, fmt='%.2f'):
            v = st.get(k)
            return '-' if not v else (fmt % v['mean']) + (' ± ' + fmt.replace('+', '') % v['sd']
                                                          if v['sd'] is not None else '')
        n = sum(1 for s in res['per_seed'] if arm in s)
        lines.append('| %s | %d | %s | %s | %s | %s | %s | %s |' % (arm, n, f('truth_res_masked_A'),
                                                                   f('gold_beyond_truth_A', '%+.2f'), f('ang_err_deg', '%.1f'),
                                                              f('within_10deg'), c.get('rescues', '-'),
                                                              c.get('breaks', '-')))
    thr = {c['break_threshold_A'] for c in res['counts'].values()}
    if any(r.get('same_as') for s in res['per_seed'] for r in s.values() if isinstance(r, dict)):
        lines += ['', '"= relion, not run": vanilla RELION never reached local searches in that seed, so the '
                      'default gate would never have opened; with the gate closed the runtime\'s path is vanilla '
                      'RELION\'s (identical refinements, `plain-path-1hvr.md`), so that arm is the relion run.']
    lines += ['', 'Rescue: plain RELION\'s median error > %g° and the arm\'s < %g°. Break: the reverse, or the arm\'s '
                  'map-vs-truth coarser than plain RELION\'s by more than %s Å (two sd of the default gate\'s paired '
                  'differences, at least about one shell). %d seeds: exploratory, no test corrected for multiplicity.'
              % (RESCUE_PLAIN_DEG, RESCUE_ARM_DEG, ', '.join('%.2f' % t for t in sorted(thr)), len(res['seeds']))]
    return '\n'.join(lines) + '\n'


def figure(res, path):
    """Per-seed map-vs-truth resolution of each arm (lines join one seed's arms)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    arm_names = [a for a in res['arms'] if any(a in s for s in res['per_seed'])]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for s in res['per_seed']:
        for ax, key in zip(axes, ('truth_res_masked_A', 'ang_err_deg')):
            ax.plot(range(len(arm_names)), [s.get(a, {}).get(key, np.nan) for a in arm_names], 'o-', alpha=0.7,
                    label='seed %d' % s['seed'])      # an arm not run on this seed: a gap
    for ax, label in zip(axes, ('map vs truth, masked (Å)', 'median angular error (°)')):
        ax.set_xticks(range(len(arm_names)))
        ax.set_xticklabels(arm_names, rotation=20, fontsize=8)
        ax.set_ylabel(label)
    axes[0].legend(fontsize=7)
    fig.suptitle('Gate policies: %s' % res['dataset'])
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(res, out):
    """Write ``gate-<data set>.{json,md,png}`` into ``out``; the path prefix."""
    prefix = os.path.join(out, 'gate-%s' % res['dataset'])
    write_json_and_markdown(prefix, res, markdown(res))
    figure(res, prefix + '.png')
    return prefix


#: the policies, least aggressive first (a tie goes to the earlier one)
POLICIES = ('local_searches', 'stalled', 'always')


#: the evidence a policy needs to replace the paper's gate as the default: it ran with at least
#: MIN_SEEDS seeds on at least MIN_DATASETS data sets where it acted differently (the issue's bar:
#: alignment failure is a per-seed event)
MIN_SEEDS, MIN_DATASETS = 5, 2


def recommendation(results):
    """(gate, reason) from gate results: among the policies that break no seed on any data set,
    the one with the most rescues, then the finest mean map-vs-truth difference from the
    ``local_searches`` gate over the data sets where both ran (paired); ``local_searches`` (the
    paper's) when no other policy does better without a break."""
    tally, evidence = {}, {}
    for policy in POLICIES:
        arm = 'dem_' + policy
        runs = [r for r in results if arm in r['counts']]
        paired = [r['counts'][arm].get('mean_diff_A', 0.0) - r['counts']['dem_local_searches'].get('mean_diff_A', 0.0)
                  for r in runs if 'dem_local_searches' in r['counts']]
        if runs:
            evidence[policy] = sum(1 for r in runs if r['counts'][arm].get('seeds', len(r.get('seeds', []))) >= MIN_SEEDS
                                   and r['counts'][arm].get('mean_diff_A', 0.0)
                                   != r['counts'].get('dem_local_searches', {}).get('mean_diff_A', 0.0))
            tally[policy] = (sum(r['counts'][arm]['rescues'] for r in runs),
                             sum(r['counts'][arm]['breaks'] for r in runs), len(runs),
                             round(float(np.mean(paired)), 2) if paired else 0.0, len(paired))
    text = '; '.join('%s: %d rescues and %d breaks over %d data sets, %+.2f Å against local_searches over the %d '
                     'where both ran' % ((p,) + tally[p]) for p in POLICIES if p in tally)
    safe = [p for p in POLICIES if p in tally and tally[p][1] == 0]
    if not safe:
        return 'local_searches', 'every policy breaks a seed (%s): the paper\'s gate stays' % text
    best = max(safe, key=lambda p: (tally[p][0], -tally[p][3], -POLICIES.index(p)))
    if best != 'local_searches' and 'local_searches' in tally and \
            (tally[best][0], -tally[best][3]) <= (tally['local_searches'][0], 0.0):
        best = 'local_searches'
    if best != 'local_searches' and evidence.get(best, 0) < MIN_DATASETS:
        return 'local_searches', ('%s does best (no break, then most rescues, then finest against local_searches), '
                                  'but on %d data set(s) with >= %d seeds where it acted, fewer than the %d a new '
                                  'default needs: the paper\'s gate stays, %s is an option (%s)'
                                  % (best, evidence.get(best, 0), MIN_SEEDS, MIN_DATASETS, best, text))
    return best, 'no break, then most rescues, then finest against local_searches (%s)' % text


#: the do-no-harm guard's settings the gate benchmark compares: setting -> (arm, its value there,
#: the shipped value's arm, the shipped value)
GUARD_VARIANTS = {'harm_power_bound': ('dem_stalled_data_bound', 'data', 'dem_stalled', 'plain'),
                  'harm_directions': ('dem_stalled_sampled', 'sampled', 'dem_stalled', 'all')}


def guard_recommendation(results, setting):
    """(value, reason): the value of the do-no-harm guard's ``setting`` (:data:`GUARD_VARIANTS`) the
    gate results support. The variant replaces the shipped value (the same gate) only with no
    break, on at least ``MIN_DATASETS`` data sets with ``MIN_SEEDS`` seeds, finer on average over
    the paired seeds by more than the sd of the mean."""
    arm, value, against, shipped = GUARD_VARIANTS[setting]
    diffs, breaks, datasets = [], 0, 0
    for r in results:
        rows = [s for s in r.get('per_seed', []) if arm in s and against in s]
        if not rows:
            continue
        datasets += len(rows) >= MIN_SEEDS
        breaks += r['counts'].get(arm, {}).get('breaks', 0)
        diffs += [s[arm]['truth_res_masked_A'] - s[against]['truth_res_masked_A'] for s in rows]
    if not diffs:
        return shipped, 'no paired runs of %s %s and %s yet' % (setting, value, shipped)
    mean, sem = float(np.mean(diffs)), float(np.std(diffs, ddof=1) / np.sqrt(len(diffs))) if len(diffs) > 1 else 0.0
    text = ('%s %s − %s %+.2f ± %.2f Å (mean ± sem, %d paired seeds, %d data set(s) with >= %d seeds), '
            '%d break(s) with %s' % (setting, value, shipped, mean, sem, len(diffs), datasets, MIN_SEEDS, breaks,
                                      value))
    if breaks == 0 and datasets >= MIN_DATASETS and mean < -sem:
        return value, text
    return shipped, text


def power_bound_recommendation(results):
    """(bound, reason): :func:`guard_recommendation` of ``harm_power_bound``."""
    return guard_recommendation(results, 'harm_power_bound')


def sampling_coverage(star_path, shells):
    """Fraction of the coefficients of Fourier shells 1 .. ``shells`` that the call's data sampled
    (:func:`relion_dem.core.guards.harm.sampled_coefficients`, from the request's weight map:
    RELION's back-projected CTF² sums, ``_rlnExtReconsWeight``); None when the map is gone."""
    from relion_dem.core.io import star as star_io
    from relion_dem.core.maths import fourier
    from relion_dem.core.runtime import extrec
    weight_path = os.path.splitext(star_path)[0] + '_weight.mrc'
    if shells < 1 or not os.path.exists(weight_path) or not os.path.exists(star_path):
        return None
    box = star_io.first_value(star_path, '_rlnOriginalImageSize', int)
    w = extrec.read_weight(weight_path, box)          # as the runtime reads it
    idx = fourier.radial_index((box,) * 3)
    sampled = harm.sampled_coefficients(w, shells + 1)
    return float(sampled[(idx >= 1) & (idx <= shells)].mean())


def guard_activity(log_path):
    """What the guards did in a run's regularized half calls (its run log): calls, mean shells the
    do-no-harm guard checked, replaced and scaled per call, whole-call fallbacks, mean FSC-guard
    cutoff shell, and the mean :func:`sampling_coverage` of the shells checked (where the
    requests' weight maps are still there)."""
    from relion_dem.core.runtime import runlog
    calls = [r for r in runlog.read(log_path) if r.get('half') != 'final' and r.get('gate')]
    harm = [r['harm_guard'] for r in calls if r.get('harm_guard')]
    mean = lambda v: round(float(np.mean(v)), 2) if v else None
    dataset = os.path.dirname(os.path.dirname(os.path.dirname(log_path)))     # <seed>/runs/<arm>/
    coverage = [sampling_coverage(os.path.join(dataset, r['star']), r['harm_guard']['shells_checked'])
                for r in calls if r.get('harm_guard') and r.get('star')]
    return dict(calls=len(calls), regularized=sum(1 for r in calls if r.get('regularized')),
                fallbacks=sum(1 for r in calls if r.get('fallback')),
                checked=mean([h['shells_checked'] for h in harm]),
                replaced=mean([len(h['shells_replaced']) for h in harm]),
                scaled=mean([h['shells_scaled'] for h in harm]),
                fsc_cutoff=mean([r['fsc_guard_shell'] for r in calls if r.get('fsc_guard_shell') is not None]),
                sampled=mean([c for c in coverage if c is not None]))


#: what RELION's convergence test reads, per iteration (optimiser STAR): auto-refine stops once its
#: angular step is finer than its own accuracy estimate and both counters reach 1-2
CONVERGENCE = dict(accuracy_deg='_rlnOverallAccuracyRotations', changes_deg='_rlnChangesOptimalOrientations',
                   no_gain='_rlnNumberOfIterWithoutResolutionGain',
                   no_change='_rlnNumberOfIterWithoutChangingAssignments')


def trajectory(dataset, root, sym='C1'):
    """Per iteration of the run ``root`` of ``dataset``: the median angular error against the truth,
    RELION's resolution, whether the iteration was regularized, and what RELION's convergence test
    read (:data:`CONVERGENCE`: its angular accuracy estimate and the changes of the orientations in
    degrees, its counts of iterations without resolution gain and without changing assignments)."""
    from relion_dem.core.io.layout import RelionRun
    run = RelionRun(os.path.join(dataset, root))
    res = {r['iteration']: r['resolution_A'] for r in runinfo.per_iteration(run.root)}
    regularized = set(regularized_iterations(dataset, root))
    truth = os.path.join(dataset, 'truth_particles.star')
    optimisers = run.iteration_files(run.OPTIMISER)
    out = []
    for it, path in sorted(run.iteration_files(run.DATA).items()):
        c = angles.compare(truth, path, sym=sym)
        row = dict(iteration=it, ang_err_deg=round(c['angle_median_deg'], 1),
                   resolution_A=round(res[it], 1) if res.get(it) else None, regularized=it in regularized)
        row.update(convergence_state(optimisers.get(it)))
        out.append(row)
    return out


def convergence_state(optimiser_path):
    """:data:`CONVERGENCE` read from one optimiser STAR (each None where the STAR or the label is absent)."""
    from relion_dem.core.io import star
    blocks = star.read(optimiser_path) if optimiser_path else []
    values = {key: star.lookup(blocks, label, float) for key, label in CONVERGENCE.items()}
    return {key: None if v is None else round(v, 1) for key, v in values.items()}


def write_trajectories(name, work, out):
    """``gate-<data set>-trajectories.{json,md}``: :func:`trajectory` of every arm of every seed under
    ``work`` (where a break or a rescue began: the first iteration an arm's error leaves RELION's)."""
    import glob
    sym = dataset_settings(name)['data'].get('symmetry') or 'C1'
    runs = {}
    for folder in sorted(glob.glob(os.path.join(work, 'seed*')), key=lambda f: int(f.rsplit('seed', 1)[1])):
        for arm in ARMS:
            if os.path.exists(os.path.join(folder, 'runs', arm, 'run_bench.json')):
                runs.setdefault(os.path.basename(folder), {})[arm] = trajectory(folder, os.path.join('runs', arm, 'run'), sym)
    lines = ['# Gate benchmark %s: the median angular error per iteration' % name, '',
             'Per seed and arm, the median angular error against the truth (°) of each iteration\'s particles, '
             'then RELION\'s resolution of that iteration (Å); `*`: regularized '
             '(`python -m relion_dem_dev.bench.gate --trajectories %s`). Then what RELION\'s convergence '
             'test read at the iteration: its own estimate of the angular accuracy (°), and its counts of '
             'iterations without resolution gain / without changing assignments (auto-refine stops once '
             'its angular step is finer than its accuracy estimate and both counts have reached their '
             'limits).' % name, '']
    show = lambda v, fmt='%g': '–' if v is None else fmt % v
    for seed, arms_ in runs.items():
        lines += ['## %s' % seed, '', '| arm | error (°) per iteration | resolution (Å) | RELION\'s accuracy '
                  'estimate (°) | no gain / no change |', '|---|---|---|---|---|']
        for arm, t in arms_.items():
            lines.append('| %s | %s | %s | %s | %s |' % (
                arm, ' '.join('%g%s' % (r['ang_err_deg'], '*' if r['regularized'] else '') for r in t),
                ' '.join(show(r['resolution_A']) for r in t),
                ' '.join(show(r.get('accuracy_deg')) for r in t),
                ' '.join('%s/%s' % (show(r.get('no_gain'), '%d'), show(r.get('no_change'), '%d')) for r in t)))
        lines.append('')
    write_json_and_markdown(os.path.join(out, 'gate-%s-trajectories' % name), dict(dataset=name, runs=runs),
                            '\n'.join(lines))
    return runs


def write_guard_report(work, out):
    """``gate-guards.{json,md}``: :func:`guard_activity` of every regularized arm of every seed
    under ``work`` (``benchmarks/work``), and the mean per data set and arm. Runs measured earlier
    (``gate-guards.json`` in ``out``) whose folders are gone are kept as they were measured."""
    import glob
    rows = []
    for log_path in sorted(glob.glob(os.path.join(work, 'gate-*', 'seed*', 'runs', 'dem_*', 'run_relion_dem.jsonl'))):
        parts = log_path.split(os.sep)
        act = guard_activity(log_path)
        if act['calls']:
            rows.append(dict(dataset=parts[-5][len('gate-'):], seed=int(parts[-4][4:]), arm=parts[-2], **act))
    earlier = os.path.join(out, 'gate-guards.json')
    if os.path.exists(earlier):
        with open(earlier) as f:
            measured = {(r['dataset'], r['seed'], r['arm']) for r in rows}
            rows += [r for r in json.load(f)['per_run'] if (r['dataset'], r['seed'], r['arm']) not in measured]
    groups = {}
    for r in rows:
        groups.setdefault((r['dataset'], r['arm']), []).append(r)
    lines = ['# What the guards did in the gate benchmark\'s regularized calls', '',
             'Per data set and arm, over the seeds whose run folders were in `%s` when measured: regularized half calls, '
             'and per call the mean number of shells the do-no-harm guard checked, replaced by the plain map '
             'and scaled down to its power bound, whole-call fallbacks, and the FSC guard\'s first plain '
             'shell (`relion_dem_dev.bench.gate --guards`). *sampled*: the fraction of the coefficients of '
             'the checked shells whose back-projected weight (the request\'s `_rlnExtReconsWeight`) is at least '
             '%g of its shell\'s 90th percentile, i.e. the directions the half-map\'s data reached as RELION '
             'assigned them and the coefficients `harm_directions` `sampled` judges (where the weight maps are '
             'still in the run folders).' % (os.path.relpath(work, REPO), harm.SAMPLED_WEIGHT), '',
             '| data set | arm | seeds | calls | regularized | fallbacks | checked | replaced | scaled | FSC cutoff | sampled |',
             '|---|---|---|---|---|---|---|---|---|---|---|']
    summary = []
    for (dataset, arm), g in sorted(groups.items()):
        m = lambda k: round(float(np.mean([r[k] for r in g if r[k] is not None])), 2) \
            if any(r[k] is not None for r in g) else None
        summary.append(dict(dataset=dataset, arm=arm, seeds=sorted(r['seed'] for r in g),
                            calls=sum(r['calls'] for r in g), regularized=sum(r['regularized'] for r in g),
                            fallbacks=sum(r['fallbacks'] for r in g),
                            **{k: m(k) for k in ('checked', 'replaced', 'scaled', 'fsc_cutoff', 'sampled')}))
        s = summary[-1]
        lines.append('| %s | %s | %s | %d | %d | %d | %s | %s | %s | %s | %s |' % (
            dataset, arm, ','.join(map(str, s['seeds'])), s['calls'], s['regularized'], s['fallbacks'],
            s['checked'], s['replaced'], s['scaled'], s['fsc_cutoff'], s['sampled']))
    with open(os.path.join(out, 'gate-guards.md'), 'w') as f:
        f.write('\n'.join(lines) + '\n')
    with open(os.path.join(out, 'gate-guards.json'), 'w') as f:
        json.dump(dict(per_run=rows, summary=summary), f, indent=1)
    return summary


def standard_results(out):
    """The standard benchmark's repeats (``standard-<id>.json``) as gate results: its ``dem`` arm is
    the runtime's default gate when it ran (``extra.dem_gate``; ``local_searches`` before it was
    recorded) and ``dem_from_first`` the ``always`` gate (every half call from iteration 1), seed by seed."""
    import glob
    found = []
    for path in sorted(glob.glob(os.path.join(out, 'standard-*.json'))):
        with open(path) as f:
            res = json.load(f)
        rep = (res.get('extra') or {}).get('repeats')
        if not rep:
            continue
        arms_ = rep['arms']
        dem = 'dem_' + summary.dem_gate(res)
        per_seed = []
        for k, sd in enumerate(rep['seeds']):
            row = dict(seed=sd)
            for src, dst in (('relion', 'relion'), ('dem', dem), ('dem_from_first', 'dem_always')):
                vals = {m: arms_.get(src, {}).get(m, {}).get('values') for m in ('truth_res_masked_A', 'ang_err_deg')}
                if all(v and len(v) == len(rep['seeds']) for v in vals.values()):
                    row[dst] = {m: v[k] for m, v in vals.items()}
            per_seed.append(row)
        if all('relion' in r for r in per_seed):
            name = os.path.basename(path)[:-5]
            arm_names = [a for a in ('relion', dem, 'dem_always') if all(a in r for r in per_seed)]
            found.append(dict(dataset=name, seeds=rep['seeds'], counts=counts_of(per_seed, arm_names),
                              plain_path_revision=res['extra'].get('plain_path_revision', 1),
                              scale=res.get('scale'), structure=res.get('structure'), snr=res.get('snr'),
                              cone_deg=res.get('cone_deg')))
    return found


def rerun_of(standard, results):
    """The gate data set in ``results`` that reruns a standard result made before the unregularized
    path was RELION's own (revision 1) on the same data, with at least :data:`MIN_SEEDS` seeds; or None."""
    if standard.get('plain_path_revision', 2) != 1:
        return None
    for r in results:
        if r['dataset'] not in DATASETS or len(r.get('seeds', [])) < MIN_SEEDS:
            continue
        sid, scale = DATASETS[r['dataset']][:2]
        s = dataset_settings(r['dataset'])
        if (scale, sid, s['data']['snr'], s['data'].get('cone_deg')) == \
                (standard.get('scale'), standard.get('structure'), standard.get('snr'), standard.get('cone_deg')):
            return 'gate-' + r['dataset']
    return None


def counts_of(per_seed, arm_names):
    """{arm: rescues, breaks, break threshold, mean paired difference from plain RELION (Å)}."""
    out = {}
    for arm in arm_names:
        if arm == 'relion':
            continue
        c = dict(zip(('rescues', 'breaks', 'break_threshold_A'), verdicts(per_seed, arm)))
        ran = [s for s in per_seed if arm in s]
        c['mean_diff_A'] = round(float(np.mean([s[arm]['truth_res_masked_A'] - s['relion']['truth_res_masked_A']
                                                for s in ran])), 2)
        c['seeds'] = len(ran)
        out[arm] = c
    return out


#: the issue's targets on data where plain RELION struggles: the default at least this much finer
#: than plain RELION, and at most this multiple of the oracle's map-vs-truth resolution
TARGET_FINER, TARGET_ORACLE_RATIO = 0.25, 1.5


def targets(results, gate):
    """Per gate data set whose description starts 'struggling' and which ran the ``gate`` arm:
    mean masked map vs truth of plain RELION, the gate and the oracle; how much finer than plain
    RELION (fraction) and the multiple of the oracle; each target met or not."""
    rows = []
    for r in results:
        spec = DATASETS.get(r['dataset'])
        arm = 'dem_' + gate
        if not spec or not spec[3].startswith('struggling') or arm not in r.get('arms', {}):
            continue
        mean = lambda a: r['arms'][a]['truth_res_masked_A']['mean']
        oracle = float(np.mean([s['oracle']['truth_res_masked_A'] for s in r['per_seed'] if 'oracle' in s]))
        finer = (mean('relion') - mean(arm)) / mean('relion')
        ratio = mean(arm) / oracle
        rows.append(dict(dataset=r['dataset'], seeds=r['counts'][arm]['seeds'], relion_A=round(mean('relion'), 2),
                         gate_A=round(mean(arm), 2), oracle_A=round(oracle, 2), finer=round(finer, 3),
                         finer_met=bool(finer >= TARGET_FINER), oracle_ratio=round(ratio, 2),
                         oracle_met=bool(ratio <= TARGET_ORACLE_RATIO), rescues=r['counts'][arm]['rescues'],
                         breaks=r['counts'][arm]['breaks']))
    return rows


#: the artifact controls of the standard benchmark (``bench.controls``), by the name report.targets gives them
CONTROLS = ('no run beats a low-pass cutoff', 'less signal gives no closer map (extreme noise)',
            'nothing emerges from pure noise')


def controls(out):
    """[dict(dataset, control, met, detail, gate)]: the standard benchmark's artifact controls, read
    from the standard results with repeats in ``out`` (:func:`summary.load`) that ran them, with the
    gate each ran under: the low-pass and pure-noise controls with the gate open from the first
    iteration (``always``, which bounds every policy) since that was recorded, before it and in the
    noise sweep the default of the time."""
    from .report import targets as report_targets
    rows = []
    for res in summary.load(out):
        ran = res['extra'].get('controls') or {}
        gates = {CONTROLS[0]: ((ran.get('lowpass') or [{}])[0]).get('gate'),
                 CONTROLS[2]: (ran.get('pure_noise') or {}).get('gate')}
        for name, met, detail in report_targets(res):
            if name in CONTROLS:
                rows.append(dict(dataset='standard-' + summary.name(res), control=name, met=bool(met), detail=detail,
                                 gate=gates.get(name) or summary.dem_gate(res)))
    return rows


def write_summary(out):
    """``gate-summary.{json,md}`` over every ``gate-<data set>.json`` in ``out`` and the standard
    benchmark's repeats (:func:`standard_results`); the recommendation."""
    import glob
    results = []
    for path in sorted(glob.glob(os.path.join(out, 'gate-*.json'))):
        if not path.endswith(('gate-summary.json', 'gate-guards.json', '-trajectories.json')):
            with open(path) as f:
                results.append(json.load(f))
    standard, superseded = [], []
    for r in standard_results(out):
        newer = rerun_of(r, results)
        if newer:
            superseded.append('%s (revision %d) by %s' % (r['dataset'], r['plain_path_revision'], newer))
        else:
            standard.append(r)
    results += standard
    # a diagnostic data set re-runs another's particles with a changed recipe: shown, not evidence
    evidence = [r for r in results if not DATASETS.get(r['dataset'], ('',) * 4)[3].startswith('diagnostic')]
    gate, why = recommendation(evidence)
    bound, bound_why = power_bound_recommendation(evidence)
    directions, directions_why = guard_recommendation(evidence, 'harm_directions')
    rows = ['# Gate benchmark: summary', '',
            '`gate-<data set>.md`: the gate benchmark (struggling data); `standard-<id>`: the standard '
            'benchmark\'s repeats, whose `dem` arm is the runtime\'s default gate when it ran and `dem_from_first` '
            'the `always` gate (runs made before the unregularized path was made RELION\'s own are marked '
            'revision 1).', '',
            '**Recommended default gate: `%s`** — %s.' % (gate, why), '']
    if superseded:
        rows += ['Standard-benchmark results made before the unregularized path was RELION\'s own, superseded by a '
                 'gate data set of the same data (same structure, scale, SNR and cone, >= %d seeds) run with '
                 'today\'s runtime, and left out: %s.' % (MIN_SEEDS, '; '.join(superseded)), '']
    rows += [
            '**Recommended power bound of the do-no-harm guard: `%s`** — %s.' % (bound, bound_why), '',
            '**Recommended directions of the do-no-harm guard: `%s`** — %s.' % (directions, directions_why), '',
            '| data set | seeds | arm | rescues | breaks | mean Δ map vs truth (Å) |', '|---|---|---|---|---|---|']
    for r in results:
        label = r['dataset'] + (' (revision 1)' if r.get('plain_path_revision', 2) == 1 else '')
        for arm, c in r['counts'].items():
            rows.append('| %s | %d | %s | %d | %d | %+.2f |' % (label, c.get('seeds', len(r['seeds'])), arm, c['rescues'],
                                                              c['breaks'], c.get('mean_diff_A', 0.0)))
    goals = targets(results, gate)
    rows += ['', '## Targets of the recommended gate where plain RELION struggles', '',
             'At least %d %% finer than plain RELION and at most %g× the oracle (mean masked map vs truth over the '
             'seeds; a rescue needs plain RELION\'s median error above %g° and the arm\'s below %g°).'
             % (TARGET_FINER * 100, TARGET_ORACLE_RATIO, RESCUE_PLAIN_DEG, RESCUE_ARM_DEG), '',
             '| data set | seeds | relion (Å) | %s (Å) | oracle (Å) | finer than relion | × oracle | rescues | breaks |'
             % gate, '|---|---|---|---|---|---|---|---|---|']
    for g in goals:
        rows.append('| %s | %d | %.2f | %.2f | %.2f | %.0f %% %s | %.2f %s | %d | %d |' % (
            g['dataset'], g['seeds'], g['relion_A'], g['gate_A'], g['oracle_A'], g['finer'] * 100,
            'met' if g['finer_met'] else 'missed', g['oracle_ratio'], 'met' if g['oracle_met'] else 'missed',
            g['rescues'], g['breaks']))
    every = [dict(g, arm=arm) for arm in ARMS if arm != 'relion' for g in targets(results, arm[len('dem_'):])]
    every.sort(key=lambda g: g['dataset'])
    rows += ['', 'Every arm on the same data sets (`dem_stalled_k1`: opened at the first iteration without '
             'resolution gain; `dem_stalled_data_bound`: the do-no-harm guard\'s data power bound; '
             '`dem_stalled_sampled`: the do-no-harm guard judging each shell over the sampled directions):', '',
             '| data set | arm | seeds | map vs truth (Å) | finer than relion | × oracle | rescues | breaks |',
             '|---|---|---|---|---|---|---|---|']
    for g in every:
        rows.append('| %s | %s | %d | %.2f | %.0f %% | %.2f | %d | %d |' % (
            g['dataset'], g['arm'], g['seeds'], g['gate_A'], g['finer'] * 100, g['oracle_ratio'], g['rescues'],
            g['breaks']))
    checks = controls(out)
    rows += ['', '## Controls', '',
             'From the standard benchmark (`standard-<id>.md`), each under the gate it ran with (`always`: the '
             'network from the first iteration, which bounds every policy).', '',
             '| data set | control | gate | held | measured |', '|---|---|---|---|---|']
    rows += ['| %s | %s | %s | %s | %s |' % (c['dataset'], c['control'], c['gate'], 'yes' if c['met'] else '**NO**',
                                             c['detail']) for c in checks]
    write_json_and_markdown(os.path.join(out, 'gate-summary'), dict(controls=checks,
        recommended=gate, reason=why, recommended_power_bound=bound, power_bound_reason=bound_why,
        recommended_directions=directions, directions_reason=directions_why,
        datasets=[r['dataset'] for r in results], superseded=superseded,
        counts={r['dataset']: r['counts'] for r in results}, targets=goals,
        targets_every_arm=every), '\n'.join(rows) + '\n')
    return gate, why


def main(argv=None):
    p = argparse.ArgumentParser(prog='python -m relion_dem_dev.bench.gate', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--dataset', choices=sorted(DATASETS))
    p.add_argument('--summary', action='store_true', help='only write gate-summary.{json,md} from the results')
    p.add_argument('--trajectories', action='store_true', help='only write gate-<data set>-trajectories.{json,md}: '
                                                               'the median angular error per iteration of every run')
    p.add_argument('--guards', action='store_true', help='only write gate-guards.{json,md}: what the guards did '
                                                         'in the regularized calls of the runs under --work')
    p.add_argument('--rewrite', metavar='JSON', help='recompute a gate-<data set>.json\'s counts, Markdown and '
                                                     'figure from its per-seed values')
    p.add_argument('--seeds', type=int, default=5)
    p.add_argument('--first-seed', type=int, default=1)
    p.add_argument('--append', action='store_true',
                   help='keep what gate-<data set>.json already holds: its other seeds, and the other '
                        'arms of this run\'s seeds (each seed simulates the same particles again)')
    p.add_argument('--arms', nargs='+', default=list(ARMS), choices=list(ARMS))
    p.add_argument('--np', type=int, default=3)
    p.add_argument('--enhancer', help='default: the bundled network')
    p.add_argument('--work', help='default benchmarks/work/gate-<data set>')
    p.add_argument('--out', default=os.path.join(REPO, 'benchmarks', 'results'))
    a = p.parse_args(argv)
    if a.rewrite:
        with open(a.rewrite) as f:
            old = json.load(f)
        arm_names = [arm for arm in ARMS if any(arm in s for s in old['per_seed'])]
        res = dict(summarize(old['dataset'], old['per_seed'], arm_names), enhancer=old.get('enhancer'), date=old['date'])
        print('rewrote %s' % write(res, os.path.dirname(os.path.abspath(a.rewrite))))
        return 0
    if a.trajectories:
        write_trajectories(a.dataset, os.path.abspath(a.work or os.path.join(REPO, 'benchmarks', 'work', 'gate-' + a.dataset)),
                           a.out)
        print('wrote %s' % os.path.join(a.out, 'gate-%s-trajectories.md' % a.dataset))
        return 0
    if a.guards:
        for row in write_guard_report(os.path.abspath(a.work or os.path.join(REPO, 'benchmarks', 'work')), a.out):
            print(row)
        return 0
    if a.summary or not a.dataset:
        gate, why = write_summary(a.out)
        print('recommended gate: %s (%s)' % (gate, why))
        return 0
    enhancer, note = arms.pick_enhancer(a.enhancer)
    log('enhancer %s (%s)' % (enhancer, note))
    work = os.path.abspath(a.work or os.path.join(REPO, 'benchmarks', 'work', 'gate-' + a.dataset))
    seeds = range(a.first_seed, a.first_seed + a.seeds)
    kept, arm_names = {}, list(a.arms)
    earlier = os.path.join(a.out, 'gate-%s.json' % a.dataset)
    if a.append and os.path.exists(earlier):
        with open(earlier) as f:
            old = json.load(f)
        kept = {s['seed']: s for s in old['per_seed']}
        arm_names = [arm for arm in ARMS if arm in a.arms or arm in old['arms']]
        log('kept seeds %s from %s' % (sorted(kept), earlier))
    if 'relion' not in arm_names:
        raise SystemExit('gate benchmark: every seed needs the relion arm (run it, or --append to results holding it)')
    for seed in seeds:
        got = run_seed(a.dataset, seed, a.arms, work, a.np, enhancer)
        kept[seed] = dict(kept.get(seed, {}), **got, seed=seed)
        per_seed = [kept[k] for k in sorted(kept)]
        res = summarize(a.dataset, per_seed, [arm for arm in arm_names if any(arm in s for s in per_seed)])
        res['enhancer'] = enhancer
        prefix = write(res, a.out)          # after every seed: a stopped run keeps what it has
    print(markdown(res))
    print('results: %s.{json,md,png}' % prefix)
    print('recommended gate over every data set so far: %s (%s)' % write_summary(a.out))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
