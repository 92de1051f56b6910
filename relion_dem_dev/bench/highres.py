"""The high-resolution benchmark: a local refinement from a consensus, near 1 Å per pixel.

    python -m relion_dem_dev.bench.highres [--seeds 3] [--arms ...] [--append]

The job users run most at high resolution: RELION auto-refine started with local searches
(``--healpix_order`` = ``--auto_local_healpix_order`` = 4; RELION then puts a prior of
2 × its angular step on the poses the particle STAR carries) from a reference low-passed to
8 Å. The particles (:data:`DATASETS`) are simulated per seed from a held-out structure, with
per-particle defocus, and carry the true poses perturbed as a consensus refinement would
hand them over (rotation vectors of 2° sd per axis: median 3.1°; origins 0.7 Å sd).

Arms (:data:`ARMS`): vanilla RELION, RELION + SIDESPLITTER, DEM with the shipped defaults,
DEM without the do-no-harm guard, and the oracle (``relion_reconstruct`` at the true poses).
Per seed and arm: map-vs-truth FSC 0.5 and 0.143 in the particle sphere and in the truth's
envelope (the truth is the atomic model's potential, so this is the map-model FSC), the
gold standard and its over-claim, median angular error and the fraction within 2°, the
Q-score at the model's atoms, wall time, enhancer seconds per regularized iteration; per
regularized call, the shells the do-no-harm guard replaced and scaled and the FSC guard's
cutoff (the figure). Writes ``benchmarks/results/highres-<data set>.{json,md,png}``.
"""
import argparse
import json
import os
import time

import numpy as np

from relion_dem.core.analysis import fsc
from relion_dem.core.io.layout import RelionRun
from relion_dem.core.runtime import runlog
from relion_dem.tests import sidesplitter_home

from . import arms, data
from .gate import fraction_within
from .report import write_json_and_markdown
from .score import Scorer, score_oracle, score_refinement
from .settings import REPO, log

#: held out from training and from every other benchmark structure (relion_dem_dev.bench.structures:
#: no chain ≥ 40 % identical); a 54 kDa homodimer (its near-C2 mate is 180° away: local searches
#: from a consensus a few degrees off never reach it)
STRUCTURE = '1a28'
_BASE = dict(box=80, voxel_size=1.5, n_particles=1000, bfactor=50.0, defocus_um=(0.8, 2.5), max_shift_A=3.0,
             initial_lowpass_A=8.0, start_angle_sd_deg=2.0, start_shift_sd_A=0.7)
#: name -> simulation settings. SNR 0.2: the oracle reaches 3.39 Å (truth's envelope, FSC 0.5);
#: SNR 0.05: 3.87 Å, with 4x less signal per particle to align on (Nyquist 3.0 Å; at box 96,
#: 1.25 Å and 2000 particles one local-search iteration took 2 min on 2 cores)
DATASETS = {'1a28-local': dict(_BASE, snr=0.2), '1a28-local-snr005': dict(_BASE, snr=0.05)}
REFINE = dict(healpix_order=4, local_healpix_order=4, offset_range=3, offset_step=1, ini_high=8.0)
#: arm -> runtime settings ('vanilla' and 'sidesplitter': not through relion_dem)
ARMS = {'relion': 'vanilla', 'sidesplitter': 'sidesplitter', 'dem': {},
        'dem_no_harm_guard': dict(harm_guard=False)}


def guard_calls(dataset, root):
    """Per regularized half call of a run: iteration, half, shells the do-no-harm guard checked,
    replaced and scaled, the FSC guard's cutoff (Å) and the enhancer's seconds."""
    path = os.path.join(dataset, root) + '_relion_dem.jsonl'
    out = []
    for r in runlog.read(path) if os.path.exists(path) else []:
        if r.get('half') == 'final' or not r.get('regularized'):
            continue
        h = r.get('harm_guard') or {}
        out.append(dict(iteration=r['iteration'], half=r['half'], checked=h.get('shells_checked'),
                        replaced=len(h.get('shells_replaced') or []), scaled=h.get('shells_scaled'),
                        fsc_cutoff_A=r.get('fsc_guard_resolution_A'), enhancer_s=r.get('enhancer_s')))
    return out


def score(sc, folder, root, meta, name):
    """One refinement's row."""
    m, extra = score_refinement(sc, folder, root, meta, locres=False,
                                regularized=arms.sidesplitter_iterations(folder, root) if name == 'sidesplitter'
                                else None)
    final = RelionRun(os.path.join(folder, root)).final_map
    its = m['iterations'] or 1
    regularized = m['regularized_iterations'] or 0
    row = dict((k, m[k]) for k in ('truth_res_masked_A', 'truth_res_envelope_A', 'gold_res_A', 'gold_res_envelope_A',
                                   'honesty_gap_envelope_A', 'ang_err_deg', 'qscore', 'iterations', 'wall_s'))
    row.update(truth_res_masked_0143_A=sc.truth_res_masked(final, 0.143),
               truth_res_envelope_0143_A=sc.truth_res_envelope(final, 0.143),
               within_2deg=fraction_within(sc, os.path.join(folder, root) + '_data.star', 2.0),
               regularized_iterations=regularized, wall_per_iteration_s=round(m['wall_s'] / its, 1),
               enhancer_s_per_regularized_iteration=round(m['enhancer_s'] / regularized, 1)
               if regularized and m['enhancer_s'] else None)
    return row, guard_calls(folder, root)


def run_seed(name, seed, arm_names, work, np_procs, enhancer, sidesplitter=None):
    """Every arm on one seed's particles of data set ``name``; ({arm: row}, {arm: guard calls})."""
    structure = data.resolve_structure(STRUCTURE)
    folder = os.path.join(work, 'seed%d' % seed)
    data.make_dataset(structure, folder, seed=seed, **DATASETS[name])
    sc = Scorer(folder, structure)
    session = arms.Session(dict(REFINE, seed=seed), enhancer, np_procs)
    rows, guards, relion_root = {}, {}, None
    for arm in arm_names:
        t = time.time()
        if ARMS[arm] == 'vanilla':
            root, meta = session.vanilla(folder)
            relion_root = root
        elif ARMS[arm] == 'sidesplitter':
            home = sidesplitter_home(sidesplitter, log=log)
            if not home:
                log('seed %d: SIDESPLITTER not built: arm skipped' % seed)
                continue
            root, meta = session.sidesplitter(folder, home)
        else:
            root, meta = session.refine(folder, arm, settings=ARMS[arm])
        rows[arm], guards[arm] = score(sc, folder, root, meta, arm)
        log('seed %d %s: %s (%.0f s)' % (seed, arm, rows[arm], time.time() - t))
    if relion_root:
        ofolder = os.path.join(folder, 'runs', 'oracle')
        h1, h2, full, secs, particles = arms.oracle(folder, relion_root, ofolder)
        om, _ = score_oracle(sc, (h1, h2, full, secs, particles), ofolder)
        rows['oracle'] = dict(truth_res_masked_A=om['truth_res_masked_A'], truth_res_envelope_A=om['truth_res_envelope_A'],
                              truth_res_masked_0143_A=sc.truth_res_masked(full, 0.143),
                              truth_res_envelope_0143_A=sc.truth_res_envelope(full, 0.143),
                              gold_res_A=om['gold_res_A'], qscore=om['qscore'])
    return rows, guards


# ----------------------------------------------------------------------------------------------
# results

COLUMNS = (('truth_res_envelope_A', 'vs truth 0.5, envelope (Å)'), ('truth_res_envelope_0143_A', '0.143, envelope'),
           ('truth_res_masked_A', '0.5, sphere'), ('gold_res_A', 'gold std (Å)'),
           ('honesty_gap_envelope_A', 'truth − gold, envelope (Å)'), ('ang_err_deg', 'median ang err (°)'),
           ('within_2deg', 'within 2°'), ('qscore', 'Q-score'), ('iterations', 'its'),
           ('regularized_iterations', 'regularized'), ('wall_per_iteration_s', 'wall/it (s)'),
           ('enhancer_s_per_regularized_iteration', 'enhancer/reg. it (s)'))


def _mean(values):
    v = [x for x in values if x is not None]
    return (float(np.mean(v)), float(np.std(v, ddof=1)) if len(v) > 1 else None) if v else (None, None)


def summarize(per_seed, arm_names):
    """Means over seeds per arm, and DEM's paired differences with vanilla RELION and SIDESPLITTER."""
    means = {}
    for arm in arm_names + ['oracle']:
        means[arm] = {k: _mean([s['rows'].get(arm, {}).get(k) for s in per_seed]) for k, _ in COLUMNS}
    paired = {}
    for arm in arm_names:
        for ref in ('relion', 'sidesplitter'):
            if arm == ref:
                continue
            d = [s['rows'][arm]['truth_res_envelope_A'] - s['rows'][ref]['truth_res_envelope_A'] for s in per_seed
                 if arm in s['rows'] and ref in s['rows']]
            if d:
                paired['%s - %s' % (arm, ref)] = dict(n=len(d), mean=round(float(np.mean(d)), 3),
                                                      sd=round(float(np.std(d, ddof=1)), 3) if len(d) > 1 else None)
    return dict(means=means, paired=paired)


def markdown(res):
    title = [t for _, t in COLUMNS]
    nyquist = 2 * res['data']['voxel_size']

    def fmt(v, k):
        if v is None:
            return '–'
        if k in ('within_2deg', 'qscore'):
            return '%.3f' % v
        if k in ('iterations', 'regularized_iterations'):
            return '%g' % round(v, 1)
        return fsc.resolution_text(v, k.endswith('_A') and k != 'honesty_gap_envelope_A'
                                   and fsc.at_nyquist(v, res['data']['voxel_size']))
    lines = ['# High-resolution benchmark: local refinement of %s (%s)' % (res['structure'], res['dataset']), '',
             res['description'], '',
             '- data: %s' % ', '.join('%s=%s' % kv for kv in res['data'].items()),
             '- refinement: %s (RELION %s, %d MPI ranks, 2 cores), enhancer %s' % (
                 ', '.join('%s=%s' % kv for kv in res['refine'].items()), res['relion_version'], res['np'],
                 res['enhancer']),
             '- Nyquist %.2f Å; lower is better for every resolution; *truth − gold* > 0: the gold standard '
             'claims more than the map holds' % nyquist, '',
             '## Per seed', '', '| seed | arm | ' + ' | '.join(title) + ' |', '|---|---|' + '---|' * len(title)]
    for s in res['per_seed']:
        for arm, row in s['rows'].items():
            lines.append('| %d | %s | %s |' % (s['seed'], arm, ' | '.join(fmt(row.get(k), k) for k, _ in COLUMNS)))
    lines += ['', '## Mean ± sd over %d seed(s)' % len(res['per_seed']), '',
              '| arm | ' + ' | '.join(title) + ' |', '|---|' + '---|' * len(title)]
    for arm, m in res['summary']['means'].items():
        cell = lambda k: fmt(m[k][0], k) + ('' if m[k][1] is None else ' ± ' + fmt(m[k][1], 'sd'))
        lines.append('| %s | %s |' % (arm, ' | '.join(cell(k) for k, _ in COLUMNS)))
    lines += ['', 'Paired differences of the envelope map-vs-truth resolution (Å, negative: finer): ' +
              '; '.join('%s %+.2f%s (n=%d)' % (k, v['mean'], '' if v['sd'] is None else ' ± %.2f' % v['sd'], v['n'])
                        for k, v in res['summary']['paired'].items()), '']
    lines += ['## What the guards did', '',
              'Per regularized half call (mean over calls and seeds): shells the do-no-harm guard checked, '
              'replaced by the plain map and scaled to its power bound; the FSC guard\'s cutoff (the finest '
              'shell where the network\'s map is kept).', '',
              '| arm | calls | checked | replaced | scaled | FSC cutoff (Å) |', '|---|---|---|---|---|---|']
    for arm, g in res['guards'].items():
        lines.append('| %s | %d | %s | %s | %s | %s |' % (arm, g['calls'], *(
            '–' if g[k] is None else '%.1f' % g[k] for k in ('checked', 'replaced', 'scaled', 'fsc_cutoff_A'))))
    lines += [''] + cost_lines(res.get('cost_at_real_size'))
    return '\n'.join(lines) + '\n'


def guard_means(per_seed):
    out = {}
    for s in per_seed:
        for arm, calls in s.get('guards', {}).items():
            out.setdefault(arm, []).extend(calls)
    mean = lambda v: float(np.mean(v)) if v else None
    return {arm: dict(calls=len(c), **{k: mean([x[k] for x in c if x[k] is not None])
                                       for k in ('checked', 'replaced', 'scaled', 'fsc_cutoff_A')})
            for arm, c in out.items() if c}


def figure(res, path):
    """Per regularized arm: shells replaced and scaled, and the FSC guard's cutoff, over iterations."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    armnames = sorted({a for s in res['per_seed'] for a, c in s.get('guards', {}).items() if c})
    if not armnames:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for i, arm in enumerate(armnames):
        for s in res['per_seed']:
            c = s['guards'].get(arm) or []
            its = [x['iteration'] + (0.15 if x['half'] == 2 else 0) + 0.05 * i for x in c]
            lab = '%s seed %d' % (arm, s['seed'])
            axes[0].plot(its, [x['replaced'] for x in c], 'o', ms=3, color='C%d' % i, label=lab + ' replaced')
            axes[0].plot(its, [x['scaled'] for x in c], 'x', ms=3, color='C%d' % i, alpha=0.6)
            axes[1].plot(its, [x['fsc_cutoff_A'] for x in c], '.-', lw=0.6, color='C%d' % i, label=lab)
    axes[0].set(xlabel='iteration', ylabel='shells (o replaced, x scaled)', title='do-no-harm guard')
    axes[1].set(xlabel='iteration', ylabel='Å', title='FSC guard cutoff')
    axes[1].invert_yaxis()
    axes[1].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def cost_at_real_size(res, realsize_path, particles=(1000, 10000, 100000)):
    """relion_dem's in-loop cost against RELION's own iteration at the real sizes of
    ``realsize.json``, extrapolated: vanilla RELION's wall time per iteration here, per particle,
    scaled by the box area ((box / this box)²: each particle's Fourier-space work at a fixed
    angular and translational sampling), against the measured in-loop call (both halves) at that
    box. Rough either way: at the same resolution in Å a finer pixel uses less of its box than
    box² says (RELION works up to its current resolution), while the finer angular sampling of a
    higher resolution costs more; None without the files."""
    relion = res['summary']['means'].get('relion', {}).get('wall_per_iteration_s', (None,))[0]
    if not relion or not os.path.exists(realsize_path):
        return None
    with open(realsize_path) as f:
        real = json.load(f)
    per_particle = relion / res['data']['n_particles']
    rows = []
    for b in real['boxes']:
        if b.get('in_loop_s') is None:
            continue
        scale = (b['box'] / float(res['data']['box'])) ** 2
        rows.append(dict(box=b['box'], in_loop_s=b['in_loop_s'],
                         relion_s={n: round(per_particle * n * scale, 1) for n in particles},
                         percent={n: round(100.0 * b['in_loop_s'] / (per_particle * n * scale), 2) for n in particles}))
    return dict(relion_wall_per_iteration_s=relion, particles=res['data']['n_particles'], box=res['data']['box'],
                rows=rows)


def cost_lines(cost):
    if not cost:
        return []
    ns = sorted(cost['rows'][0]['percent'], key=int) if cost['rows'] else []
    lines = ['## Cost at real sizes (extrapolated)', '',
             'Vanilla RELION here: %.1f s per iteration for %d particles at box %d on 2 cores. Scaled per '
             'particle by the box area to the boxes of `realsize.json`, against relion_dem\'s measured in-loop '
             'call there (both halves, network on the CPU). Rough either way (a finer pixel uses less of its box '
             'at the same resolution in Å; finer angular sampling costs RELION more).' % (
                 cost['relion_wall_per_iteration_s'], cost['particles'], cost['box']), '',
             '| box | relion_dem in-loop (s) | ' + ' | '.join('RELION, %s particles (s) | share' % n for n in ns) + ' |',
             '|---|---|' + '---|---|' * len(ns)]
    for r in cost['rows']:
        lines.append('| %d | %.1f | %s |' % (r['box'], r['in_loop_s'], ' | '.join(
            '%.0f | %.2f %%' % (r['relion_s'][n], r['percent'][n]) for n in ns)))
    return lines + ['']


def write(res, out):
    prefix = os.path.join(out, 'highres-%s' % res['dataset'])
    res['guards'] = guard_means(res['per_seed'])
    res['cost_at_real_size'] = cost_at_real_size(res, os.path.join(out, 'realsize.json'))
    write_json_and_markdown(prefix, res, markdown(res))
    figure(res, prefix + '.png')
    return prefix


def main(argv=None):
    p = argparse.ArgumentParser(prog='python -m relion_dem_dev.bench.highres', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--dataset', choices=sorted(DATASETS), default='1a28-local')
    p.add_argument('--seeds', type=int, default=3)
    p.add_argument('--first-seed', type=int, default=1)
    p.add_argument('--arms', nargs='+', default=list(ARMS), choices=list(ARMS))
    p.add_argument('--append', action='store_true', help='keep the seeds and arms highres-<data set>.json holds')
    p.add_argument('--np', type=int, default=3)
    p.add_argument('--enhancer', help='default: the bundled network')
    p.add_argument('--sidesplitter', help='SIDESPLITTER build folder (default: built from shared/third_party)')
    p.add_argument('--work', help='default benchmarks/work/highres-<data set>')
    p.add_argument('--out', default=os.path.join(REPO, 'benchmarks', 'results'))
    a = p.parse_args(argv)
    from relion_dem.core.io import relion
    enhancer, note = arms.pick_enhancer(a.enhancer)
    log('enhancer %s (%s)' % (enhancer, note))
    kept = {}
    work = os.path.abspath(a.work or os.path.join(REPO, 'benchmarks', 'work', 'highres-' + a.dataset))
    earlier = os.path.join(a.out, 'highres-%s.json' % a.dataset)
    if a.append and os.path.exists(earlier):
        with open(earlier) as f:
            kept = {s['seed']: s for s in json.load(f)['per_seed']}
    for seed in range(a.first_seed, a.first_seed + a.seeds):
        rows, guards = run_seed(a.dataset, seed, a.arms, work, a.np, enhancer, a.sidesplitter)
        old = kept.get(seed, dict(seed=seed, rows={}, guards={}))
        kept[seed] = dict(seed=seed, rows=dict(old['rows'], **rows), guards=dict(old['guards'], **guards))
        per_seed = [kept[k] for k in sorted(kept)]
        arm_names = [arm for arm in ARMS if any(arm in s['rows'] for s in per_seed)]
        res = dict(dataset=a.dataset, structure=STRUCTURE, description=__doc__.split('\n\n')[2].replace('\n', ' '),
                   data=dict(DATASETS[a.dataset], defocus_um=list(DATASETS[a.dataset]['defocus_um'])), refine=REFINE, np=a.np, enhancer=enhancer,
                   relion_version='.'.join(map(str, relion.version() or ())), date=time.strftime('%Y-%m-%d'),
                   per_seed=per_seed, summary=summarize(per_seed, arm_names))
        prefix = write(res, a.out)
    print(open(prefix + '.md').read())
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
