"""Across structures: the standard scale's results with repeats side by side, the paired
differences that matter (DEM against each peer, and the design's choices against the default),
and the gate the numbers support.

    python -m relion_dem_dev.bench.summary [--results benchmarks/results]

Reads every ``standard-*.json`` with repeats (``<id>`` or ``<id>-cone<deg>``); writes ``standard-summary.{md,json,png}``.
"""
import argparse
import glob
import json
import os

import numpy as np

from relion_dem.core.analysis import figures

from . import repeats
from .report import mean_sd_cell, nyquist
from .settings import REPO, SCALES, result_id, standard_result_ids

#: (arm, against) shown per structure, in this order
COMPARISONS = (('dem', 'relion'), ('dem', 'sidesplitter'), ('dem', 'oracle'), ('dem_from_first', 'dem'),
               ('dem_no_guards', 'dem'), ('dem', 'dem_classical'), ('dem_then_post', 'dem_post'),
               ('none_control', 'relion'))
ARMS = ('relion', 'none_control', 'sidesplitter', 'dem', 'dem_from_first', 'dem_no_guards', 'dem_classical',
        'dem_post', 'dem_then_post', 'oracle')


def load(results):
    """[result dict] of the standard results with repeats, in STANDARD_STRUCTURES order."""
    order = standard_result_ids()
    out = []
    for path in glob.glob(os.path.join(results, 'standard-*.json')):
        if os.path.basename(path) == 'standard-summary.json':
            continue
        with open(path) as f:
            res = json.load(f)
        if (res.get('extra') or {}).get('repeats'):
            out.append(res)
    return sorted(out, key=lambda r: order.index(name(r)) if name(r) in order else len(order))


def name(res):
    """The result's name: its structure, with ``-cone<deg>`` for tilt-cone data."""
    return result_id(res['structure'], res.get('cone_deg'))


def metric(res):
    """The resolution metric of a result: masked map-vs-truth when it has it."""
    arms = res['extra']['repeats']['arms']
    return 'truth_res_masked_A' if 'truth_res_masked_A' in arms.get('dem', {}) else 'truth_res_A'


def pair(res, arm, against, key):
    """The paired comparison ``arm − against`` on ``key`` of one result, with ``p_holm`` once
    :func:`correct` has run (None if absent)."""
    for r in res['extra']['repeats']['paired']:
        if (r['arm'], r['against'], r['metric']) == (arm, against, key):
            return r
    return None


def correct(results, alpha=0.05):
    """Holm-correct every paired test the summary shows (all structures, comparisons and both
    metrics: one family); each row gains ``p_holm`` and ``exceeds_after_holm``. Returns the family size."""
    rows = [pair(res, arm, against, key) for res in results for arm, against in COMPARISONS
            for key in (metric(res), 'ang_err_deg')]
    rows = [r for r in rows if r is not None]
    for r, p in zip(rows, repeats.holm([r['p'] for r in rows])):
        r['p_holm'], r['exceeds_after_holm'] = p, bool(p < alpha)
    return len(rows)


def describe(res):
    sym = res.get('symmetry', 'C1')
    bits = ['tilt cone 0-%g°' % res['cone_deg'] if res.get('cone_deg') else 'uniform']
    if sym != 'C1':
        bits.append(sym)
    data, standard = res['extra']['settings']['data'], SCALES['standard']['data']
    bits += ['%s %g' % (label, data[k]) for k, label in (('snr', 'SNR'), ('n_particles', 'particles'))
             if data.get(k) != standard[k]]
    return '%s (%s)' % (res['structure'], ', '.join(bits))


def gate_recommendation(results):
    """(recommended gate, reason): regularizing from the first iteration becomes the default only
    if it is finer beyond the scatter on at least half of the structures and coarser beyond it on
    none; otherwise the default (local searches) stays."""
    better, worse, n = [], [], 0
    for res in results:
        r = pair(res, 'dem_from_first', 'dem', metric(res))
        if r is None:
            continue
        n += 1
        if r.get('exceeds_after_holm', r['exceeds_scatter']):
            (better if r['mean_diff'] < 0 else worse).append(name(res))
    if n and len(better) * 2 >= n and not worse:
        return 'from_iteration', ('from the first iteration is finer beyond the scatter on %s of %d data sets '
                                    '(%s) and coarser on none' % (len(better), n, ', '.join(better)))
    return 'local_searches', ('from the first iteration is finer beyond the scatter on %d of %d data sets%s and '
                              'coarser beyond it on %d%s: it does not replace the `dem` arm\'s gate'
                              % (len(better), n, ' (%s)' % ', '.join(better) if better else '', len(worse),
                                 ' (%s)' % ', '.join(worse) if worse else ''))


#: the comparisons shown inside the truth's envelope
ENVELOPE_PAIRS = (('dem', 'relion'), ('dem', 'sidesplitter'), ('dem_no_guards', 'dem'))


def envelope_pair(res, arm, against):
    """(mean, sd) of ``arm − against`` seed by seed inside the truth's envelope, or None."""
    arms = res['extra']['repeats']['arms']
    a, b = (arms.get(x, {}).get('truth_res_envelope_A', {}).get('values') for x in (arm, against))
    if not a or not b or len(a) != len(b) or len(a) < 2:
        return None
    d = np.subtract(a, b)
    return float(np.mean(d)), float(np.std(d, ddof=1))


def dem_gate(res):
    """The gate of a result's ``dem`` arm: the runtime's default when it ran (recorded since the
    default became ``stalled``; ``local_searches`` before)."""
    return res['extra'].get('dem_gate', 'local_searches')


def markdown(results):
    d = SCALES['standard']['data']
    L = ['# Standard benchmark across structures', '',
         'Each structure: simulated particles (box %d at %g Å, %d particles, SNR %g unless its row says '
         'otherwise), %d seeds ' % (d['box'], d['voxel_size'], d['n_particles'], d['snr'],
                                    len(results[0]['extra']['repeats']['seeds'])) +
         '(each its own particles and RELION `--random_seed`; the arms of one seed share them). Resolution: '
         'map vs truth at FSC 0.5 inside a soft sphere of the particle diameter around the truth, solvent included '
         '(unmasked beside it in each structure\'s report; inside the truth\'s envelope below, where measured); '
         'mean ± sd over the seeds. Per-structure reports: `standard-<id>.md` (`standard-<id>-cone<deg>.md` '
         'for tilt-cone data).', '',
         '## Map vs truth (Å), mean ± sd', '',
         '| structure | ' + ' | '.join(ARMS) + ' |', '|---' * (len(ARMS) + 1) + '|']
    for res in results:
        arms, key = res['extra']['repeats']['arms'], metric(res)
        L.append('| %s | ' % describe(res) + ' | '.join(mean_sd_cell(arms.get(a, {}), key, nyquist(res)) for a in ARMS) + ' |')
    enveloped = [res for res in results if 'truth_res_envelope_A' in res['extra']['repeats']['arms'].get('dem', {})]
    if enveloped:
        L += ['', '## Map vs truth in the truth\'s envelope (Å), mean ± sd', '',
              'A soft mask of the molecule (`bench.data.envelope_mask`), measured by the runs made since it was '
              'added: %s.' % ', '.join(name(r) for r in enveloped), '',
              '| structure | ' + ' | '.join(ARMS) + ' |', '|---' * (len(ARMS) + 1) + '|']
        for res in enveloped:
            arms = res['extra']['repeats']['arms']
            L.append('| %s | ' % describe(res) + ' | '.join(mean_sd_cell(arms.get(a, {}), 'truth_res_envelope_A', nyquist(res))
                                                            for a in ARMS) + ' |')
        L += ['', 'Paired differences in the envelope (arm − against, mean ± sd over the seeds; not in the Holm '
              'family below, read as exploratory):', '',
              '| structure | ' + ' | '.join('%s − %s' % c for c in ENVELOPE_PAIRS) + ' |',
              '|---' * (len(ENVELOPE_PAIRS) + 1) + '|']
        for res in enveloped:
            cells = [envelope_pair(res, *c) for c in ENVELOPE_PAIRS]
            L.append('| %s | ' % name(res) + ' | '.join('%+.2f ± %.2f' % c if c else '–' for c in cells) + ' |')
    L += ['', '## Median angular error (°), mean ± sd', '',
          '| structure | ' + ' | '.join(a for a in ARMS if a != 'oracle') + ' |', '|---' * len(ARMS) + '|']
    for res in results:
        arms = res['extra']['repeats']['arms']
        L.append('| %s | ' % describe(res) + ' | '.join(mean_sd_cell(arms.get(a, {}), 'ang_err_deg')
                                                        for a in ARMS if a != 'oracle') + ' |')
    family = correct(results)
    L += ['', '## Paired differences (arm − against; negative: the arm is finer)', '',
          'Paired t-tests over %d seeds; p as tested, and Holm-corrected over the %d tests of this table '
          '(both metrics): a difference is called beyond the scatter only where the corrected p < 0.05.'
          % (len(results[0]['extra']['repeats']['seeds']), family), '',
          '| structure | arm − against | map vs truth (Å) | p | p (Holm) | beyond the scatter? | angular error (°) '
          '| p | p (Holm) |', '|---|---|---|---|---|---|---|---|---|']
    for res in results:
        key = metric(res)
        for arm, against in COMPARISONS:
            r, a = pair(res, arm, against, key), pair(res, arm, against, 'ang_err_deg')
            if r is None:
                continue
            L.append('| %s | %s − %s | %+.2f ± %.2f | %.3f | %.3f | %s | %s | %s | %s |' % (
                name(res), arm, against, r['mean_diff'], r['sd_diff'], r['p'], r['p_holm'],
                'yes' if r['exceeds_after_holm'] else 'no',
                '%+.2f ± %.2f' % (a['mean_diff'], a['sd_diff']) if a else '–', '%.3f' % a['p'] if a else '–',
                '%.3f' % a['p_holm'] if a else '–'))
    gate, why = gate_recommendation(results)
    gates = {}
    for res in results:
        gates.setdefault(dem_gate(res), []).append(name(res))
    L += ['', '## The gate', '', '`dem` is the runtime\'s default gate when the structure ran: %s. The shipped '
          'default is chosen by the gate benchmark over data where RELION struggles (`gate-summary.md`); here, '
          'regularizing from the first iteration against `dem`: `%s` — %s.' % (
              '; '.join('`%s` (%s)' % (g, ', '.join(v)) for g, v in sorted(gates.items())), gate, why), '',
          '## Wall time (× vanilla RELION)', '', '| structure | sidesplitter | dem | dem_from_first |', '|---|---|---|---|']
    for res in results:
        arms = res['extra']['repeats']['arms']
        base = arms['relion']['wall_s']['mean']
        L.append('| %s | %s |' % (name(res), ' | '.join(
            '%.2f' % (arms[a]['wall_s']['mean'] / base) if a in arms else '–'
            for a in ('sidesplitter', 'dem', 'dem_from_first'))))
    missing = [rid for rid in standard_result_ids() if rid not in {name(r) for r in results}]
    if missing:
        L += ['', 'Not yet run with repeats: %s.' % ', '.join(missing)]
    revisions = {}
    for res in results:
        revisions.setdefault(res['extra'].get('plain_path_revision', 1), []).append(name(res))
    if len(revisions) > 1:
        L += ['', 'The runtime\'s unregularized reconstruction (under every regularized arm and `none_control`) '
              'differs between these runs: %s (1: relion_external_reconstruct\'s prior at every Fourier shell; '
              '2: none below `--minres_map`, as RELION\'s own reconstruction).' % '; '.join(
                  'revision %s: %s' % (k, ', '.join(v)) for k, v in sorted(revisions.items()))]
    L += ['', '![paired differences](standard-summary.png)', '']
    return '\n'.join(L)


def plot(results, path):
    """Paired differences per structure (DEM against RELION and SIDESPLITTER, the first-iteration gate
    against the default): mean ± sd over the seeds."""
    fig, ax = figures.figure(size=(7.5, 1.0 + 0.35 * 3.5 * len(results)))
    y, labels = 0, []
    for res in results:
        key = metric(res)
        for k, (arm, against) in enumerate((('dem', 'relion'), ('dem', 'sidesplitter'), ('dem_from_first', 'dem'))):
            r = pair(res, arm, against, key)
            if r is None:
                continue
            ax.errorbar(r['mean_diff'], y, xerr=r['sd_diff'], fmt='o', color=figures.COLORS[k], capsize=3)
            labels.append('%s: %s − %s' % (name(res), arm, against))
            y += 1
        y += 0.5
    ax.axvline(0, color='k', lw=0.8)
    ticks = [i + 0.5 * (i // 3) for i in range(len(labels))]
    ax.set_yticks(ticks[:len(labels)])
    ax.set_yticklabels(labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel('paired difference in map-vs-truth resolution (Å; negative: finer)')
    fig.tight_layout()
    figures.save(fig, path, dpi=90)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--results', default=os.path.join(REPO, 'benchmarks', 'results'))
    a = p.parse_args(argv)
    results = load(a.results)
    if not results:
        raise SystemExit('no standard results with repeats in %s' % a.results)
    prefix = os.path.join(a.results, 'standard-summary')
    plot(results, prefix + '.png')
    with open(prefix + '.md', 'w') as f:
        f.write(markdown(results))
    correct(results)
    gate, why = gate_recommendation(results)
    with open(prefix + '.json', 'w') as f:
        json.dump(dict(structures=[describe(r) for r in results], gate=gate, gate_reason=why,
                       paired={name(r): r['extra']['repeats']['paired'] for r in results}), f, indent=1)
    print('wrote %s.{md,json,png}; gate: %s' % (prefix, gate))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
