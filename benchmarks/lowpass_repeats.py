"""Is a low-pass control that fails once chance or an effect of regularization? Repeat it.

    python benchmarks/lowpass_repeats.py [--structure 3PWP] [--cone 40] [--sym O] [--snr 0.1]
                                         [--cutoff 14] [--seeds 11 ... 22] [--scale standard]
                                         [--conclusion TEXT]

For each seed: particles simulated (as ``relion_dem bench`` does for its low-pass control:
same scale settings, same source filter, symmetry and SNR) from the truth low-passed at the
cutoff, then vanilla ``relion_refine_mpi`` (no external reconstruction) and the regularized
refinement (the shipped network) on the same particles with the same refinement recipe.
(Reports written before 2026-11-27, 3PWP's, ran the plain arm through relion_dem's runtime
unregularized, enhancer ``none``.) Per run it records RELION's reported resolution
(``_rlnCurrentResolution`` of the converged model), where RELION's own gold-standard FSC
first falls below 0.143 (what relion_dem reports: ``runinfo.resolution_check``), the FSC
of the final half maps computed here, the map-vs-truth resolution, the largest FSC value
RELION's final curve shows beyond the cutoff (with its shell) and the half maps' FSC in
that shell. Writes ``benchmarks/results/lowpass-repeats-<structure>.{json,md}``.
"""
import argparse
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from relion_dem_dev.bench import arms, data, settings  # noqa: E402
from relion_dem_dev.bench.report import write_json_and_markdown  # noqa: E402
from relion_dem_dev.bench.score import Scorer  # noqa: E402
from relion_dem.core.analysis import runinfo  # noqa: E402
from relion_dem.core.io import star  # noqa: E402
from relion_dem.core.io.layout import RelionRun  # noqa: E402

RESULTS = os.path.join(ROOT, 'benchmarks', 'results')
ARMS = (('relion', 'vanilla'), ('dem', None))


def beyond_cutoff(res, cutoff_A):
    """Shells finer than ``cutoff_A`` up to the one before Nyquist (RELION never examines Nyquist)."""
    shells = [i for i in range(1, len(res) - 1) if res[i] < cutoff_A]
    if not shells:
        raise SystemExit('lowpass_repeats: the cutoff %g Å is finer than every shell before Nyquist' % cutoff_A)
    return shells


def measure(d, root, meta, structure, cutoff_A):
    run = RelionRun(os.path.join(d, root))
    full = run.root
    summ = runinfo.summary(full)
    check = runinfo.resolution_check(full)
    sc = Scorer(d, structure)
    gold, half_curve = sc.gold(run.half_map(1), run.half_map(2))
    _, res, fsc = runinfo.final_model(full)
    beyond = beyond_cutoff(res, cutoff_A)
    shell = max(beyond, key=lambda k: fsc[k])
    peak, peak_res = round(fsc[shell], 3), round(res[shell], 2)
    noise = [fsc[i] for i in beyond]
    aligned = runinfo.aligned_up_to_shell(full)
    if aligned is None:
        raise SystemExit('lowpass_repeats: %s has no iteration model STARs' % full)
    # beyond the cutoff: shells the alignment used (references compared with the particles)
    # and shells no iteration before the final one ever compared
    used = np.array([fsc[i] for i in beyond if i <= aligned])
    unused = np.array([fsc[i] for i in beyond if i > aligned])
    return dict(reported_res_A=check['relion_reported_A'], final_res_A=check['final_A'],
                fsc_first_crossing_A=check['fsc_first_crossing_A'],
                aligned_up_to_shell=aligned,
                rms_fsc_aligned=round(float(np.sqrt(np.mean(used ** 2))), 4) if used.size else None,
                mean_fsc_aligned=round(float(used.mean()), 4) if used.size else None,
                rms_fsc_unaligned=round(float(np.sqrt(np.mean(unused ** 2))), 4) if unused.size else None,
                mean_fsc_unaligned=round(float(unused.mean()), 4) if unused.size else None,
                half_map_fsc_at_peak=round(float(half_curve[shell]), 3),
                half_map_gold_res_A=gold,
                truth_res_A=sc.truth_res(run.final_map),
                peak_fsc_beyond_cutoff=peak, peak_shell=shell, peak_res_A=peak_res,
                sd_fsc_beyond_cutoff=round(float(np.std(noise)), 3),
                average_pmax=star.first_value(run.final_model, '_rlnAveragePmax', float),
                regularized_iterations=summ['regularized_iterations'],
                iterations=summ['iterations'], wall_s=meta['wall_s'])


def run(structure, s, cutoff_A, seeds, work, enhancer):
    rows = []
    for seed in seeds:
        session = arms.Session(dict(s['refine'], seed=seed), enhancer)  # RELION's seed: the data set's
        d = data.lowpass_dataset(structure, os.path.join(work, 'cut%g_seed%d' % (cutoff_A, seed)), s, cutoff_A, seed)
        row = dict(seed=seed)
        for name, enh in ARMS:
            root, meta = session.vanilla(d, name) if enh == 'vanilla' else session.refine(d, name, enh)
            row[name] = measure(d, root, meta, structure, cutoff_A)
        rows.append(row)
        settings.log('seed %d: reported RELION %s Å, DEM %s Å' % (
            seed, row['relion']['reported_res_A'], row['dem']['reported_res_A']))
    return rows


def paired(rows, key):
    """DEM minus RELION per seed for ``key``: (mean difference, runs with DEM higher, Wilcoxon p)."""
    from scipy import stats
    d = np.array([r['dem'][key] - r['relion'][key] for r in rows
                  if r['dem'][key] is not None and r['relion'][key] is not None])
    if d.size < 2 or not np.any(d):
        return dict(mean_diff=float(d.mean()) if d.size else None, dem_higher=int((d > 0).sum()), p=None)
    return dict(mean_diff=round(float(d.mean()), 4), dem_higher=int((d > 0).sum()), runs=int(d.size),
                p=round(float(stats.wilcoxon(d).pvalue), 3))


def fisher_p(a, n_a, b, n_b):
    """Two-sided Fisher exact p for a/n_a vs b/n_b."""
    from scipy import stats
    return round(float(stats.fisher_exact([[a, n_a - a], [b, n_b - b]])[1]), 3)


def summarize(rows, cutoff_A):
    out = {}
    for name, _ in ARMS:
        runs = [r[name] for r in rows]
        out[name] = dict(
            runs=len(runs),
            reported_finer_than_cutoff=sum(1 for m in runs if m['reported_res_A'] < cutoff_A),
            final_finer_than_cutoff=sum(1 for m in runs if m['final_res_A'] < cutoff_A),
            half_maps_finer_than_cutoff=sum(1 for m in runs if m['half_map_gold_res_A'] < cutoff_A),
            truth_finer_than_cutoff=sum(1 for m in runs if m['truth_res_A'] < cutoff_A),
            peak_fsc_mean=round(float(np.mean([m['peak_fsc_beyond_cutoff'] for m in runs])), 3),
            peak_fsc_max=round(float(np.max([m['peak_fsc_beyond_cutoff'] for m in runs])), 3),
            sd_fsc_mean=round(float(np.mean([m['sd_fsc_beyond_cutoff'] for m in runs])), 3))
        for key in ('rms_fsc_aligned', 'mean_fsc_aligned', 'rms_fsc_unaligned', 'mean_fsc_unaligned'):
            vals = [m[key] for m in runs if m[key] is not None]
            out[name][key] = round(float(np.mean(vals)), 4) if vals else None
    out['paired'] = {key: paired(rows, key) for key in ('rms_fsc_aligned', 'mean_fsc_aligned',
                                                         'rms_fsc_unaligned', 'mean_fsc_unaligned',
                                                         'sd_fsc_beyond_cutoff', 'average_pmax')}
    for name, _ in ARMS:
        out[name]['average_pmax'] = round(float(np.mean([r[name]['average_pmax'] for r in rows])), 3)
    r, d = out['relion'], out['dem']
    out['reported_finer_fisher_p'] = fisher_p(d['reported_finer_than_cutoff'], d['runs'],
                                              r['reported_finer_than_cutoff'], r['runs'])
    return out


def markdown(res):
    cut = res['cutoff_A']
    what = [('tilt cone 0-%g°' % res['cone_deg']) if res.get('cone_deg') else '',
            ('refined with %s' % res['symmetry']) if res.get('symmetry', 'C1') != 'C1' else '',
            ('SNR %g' % res['snr']) if res.get('snr') else '']
    what = ', '.join(w for w in what if w)
    lines = ['# Low-pass control repeated: %s%s, particles low-passed at %g Å' % (
        res['structure'], ' (%s)' % what if what else '', cut), '',
        'Generated by `%s` on %s (refinements: %d s in all; the closing paragraph is the author\'s, '
        'given with `--conclusion`). Scale `%s` settings '
        '(%d particles per data set, as the benchmark\'s low-pass control); one data set per seed; '
        '%s and the regularized refinement (`%s`) on the same particles with the same recipe. '
        'No run may claim a resolution finer than %g Å.' % (
            res.get('command', 'python benchmarks/lowpass_repeats.py'), res['date'],
            sum(r[n]['wall_s'] for r in res['rows'] for n, _ in ARMS), res['scale'], res['particles'],
            res.get('plain', 'plain RELION (relion_dem\'s runtime, enhancer `none`)'), res['enhancer'], cut), '',
        '| seed | run | RELION reported (Å) | final: RELION FSC 0.143, first crossing (Å) | half maps FSC 0.143 (Å) '
        '| map vs truth FSC 0.5 (Å) | largest RELION FSC beyond %g Å, before Nyquist (shell, Å) | half maps\' FSC there '
        '| sd of RELION FSC beyond | shells aligned | regularized it. |' % cut,
        '|---|---|---|---|---|---|---|---|---|---|---|']
    for r in res['rows']:
        for name, _ in ARMS:
            m = r[name]
            flag = ' **finer than cutoff**' if m['reported_res_A'] < cut else ''
            lines.append('| %d | %s | %.2f%s | %.2f | %.2f | %.2f | %.2f (%d, %.2f) | %.2f | %.3f | %s | %d |' % (
                r['seed'], name, m['reported_res_A'], flag, m['final_res_A'], m['half_map_gold_res_A'],
                m['truth_res_A'], m['peak_fsc_beyond_cutoff'], m['peak_shell'], m['peak_res_A'],
                m['half_map_fsc_at_peak'], m['sd_fsc_beyond_cutoff'], m['aligned_up_to_shell'],
                m['regularized_iterations']))
    lines += ['', '## Summary', '',
              '| run | runs | RELION reported finer than cutoff | final finer | half maps finer '
              '| map vs truth finer | largest RELION FSC beyond cutoff: mean / max | sd of RELION FSC beyond cutoff (mean) |',
              '|---|---|---|---|---|---|---|---|']
    for name, _ in ARMS:
        s = res['summary'][name]
        lines.append('| %s | %d | %d | %d | %d | %d | %.3f / %.3f | %.3f |' % (
            name, s['runs'], s['reported_finer_than_cutoff'], s['final_finer_than_cutoff'],
            s['half_maps_finer_than_cutoff'], s['truth_finer_than_cutoff'], s['peak_fsc_mean'],
            s['peak_fsc_max'], s['sd_fsc_mean']))
    lines += ['', 'RELION\'s final FSC beyond the cutoff, split into the shells the alignment used (up to half '
              'the largest image size of the iterations before the final one) and the shells it never used '
              '(up to Nyquist, which RELION does not examine): mean over runs of the per-run RMS and mean; '
              'paired DEM - RELION per seed with a Wilcoxon signed-rank p.', '',
              '| shells | RELION RMS | DEM RMS | DEM higher (runs) | p | RELION mean | DEM mean | p |',
              '|---|---|---|---|---|---|---|---|']
    sm = res['summary']
    for label, part in (('aligned, beyond the cutoff', 'aligned'), ('never aligned', 'unaligned')):
        pr, pm = sm['paired']['rms_fsc_' + part], sm['paired']['mean_fsc_' + part]
        lines.append('| %s | %.3f | %.3f | %d of %d | %s | %.3f | %.3f | %s |' % (
            label, sm['relion']['rms_fsc_' + part], sm['dem']['rms_fsc_' + part], pr['dem_higher'],
            pr.get('runs', 0), pr['p'], sm['relion']['mean_fsc_' + part], sm['dem']['mean_fsc_' + part], pm['p']))
    ps = sm['paired']['sd_fsc_beyond_cutoff']
    lines += ['', 'All shells beyond the cutoff (before Nyquist): sd of RELION\'s FSC higher in the regularized run '
              'in %d of %d seeds (mean difference %+.3f, Wilcoxon p = %s).' % (
                  ps['dem_higher'], ps.get('runs', 0), ps['mean_diff'], ps['p'])]
    pp = sm['paired']['average_pmax']
    lines += ['', 'RELION\'s average Pmax in the final iteration (how peaked each particle\'s orientation '
              'posterior is): RELION %.3f, DEM %.3f (DEM higher in %d of %d seeds, Wilcoxon p = %s).' % (
                  sm['relion']['average_pmax'], sm['dem']['average_pmax'], pp['dem_higher'], pp.get('runs', 0), pp['p'])]
    lines += ['', 'RELION reported a resolution finer than the cutoff in %d of %d regularized runs and %d of %d '
              'plain runs (Fisher exact p = %s).' % (
                  sm['dem']['reported_finer_than_cutoff'], sm['dem']['runs'], sm['relion']['reported_finer_than_cutoff'],
                  sm['relion']['runs'], sm['reported_finer_fisher_p'])]
    lines += ['', res.get('conclusion', ''), '']
    return '\n'.join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--structure', default='3PWP')
    p.add_argument('--cone', type=float, default=None, help='tilt-cone half angle (°; default uniform)')
    p.add_argument('--sym', default=None, help='symmetry, as relion_dem bench --sym (default C1)')
    p.add_argument('--snr', type=float, default=None, help='SNR of the particles (default per scale)')
    p.add_argument('--cutoff', type=float, default=14.0)
    p.add_argument('--seeds', type=int, nargs='+', default=list(range(11, 23)))
    p.add_argument('--scale', default='standard', choices=sorted(settings.SCALES))
    p.add_argument('--enhancer', default=None, help='regularizer (default: network when installed)')
    p.add_argument('--work', help='working folder (default benchmarks/work/lowpass-repeats-<structure>)')
    p.add_argument('--conclusion', default='', help='a closing paragraph for the report')
    a = p.parse_args(argv)
    structure = data.resolve_structure(a.structure)
    sid = data.structure_id(structure)
    enhancer, note = arms.pick_enhancer(a.enhancer)
    work = os.path.abspath(a.work or os.path.join(ROOT, 'benchmarks', 'work', 'lowpass-repeats-%s' % sid))
    t = time.time()
    s = settings.settings_for(a.scale, snr=a.snr, cone=a.cone, sym=a.sym)
    rows = run(structure, s, a.cutoff, a.seeds, work, enhancer)
    res = dict(structure=sid, cone_deg=a.cone, cutoff_A=a.cutoff, scale=a.scale, particles=s['lowpass_n'],
               symmetry=s['data'].get('symmetry', 'C1'), snr=s['data']['snr'],
               plain='vanilla `relion_refine_mpi` (no external reconstruction)',
               enhancer=enhancer, enhancer_note=note, seeds=a.seeds, rows=rows,
               summary=summarize(rows, a.cutoff), script_wall_s=round(time.time() - t),
               date=time.strftime('%Y-%m-%d %H:%M'), conclusion=a.conclusion,
               command='python benchmarks/lowpass_repeats.py --structure %s%s%s%s --cutoff %g --scale %s '
                       '--seeds %s' % (a.structure, ' --cone %g' % a.cone if a.cone else '',
                                       ' --sym %s' % a.sym if a.sym else '', ' --snr %g' % a.snr if a.snr else '',
                                       a.cutoff, a.scale, ' '.join(map(str, a.seeds))))
    write_json_and_markdown(os.path.join(RESULTS, 'lowpass-repeats-%s' % sid), res, markdown(res))
    print(markdown(res))
    return 0


if __name__ == '__main__':
    sys.exit(main())
