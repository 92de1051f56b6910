"""The benchmark's report: its targets and whether they are met, the measured reasons behind missed
ones, the Markdown page with its plots, the written results and the check of the JSON's shape."""
import json
import os

import numpy as np

from relion_dem.core.analysis import figures, fsc

from .settings import METRIC_KEYS, METRIC_TITLES, REPO, RUN_NAMES, SCALES, result_id


def _reported_note(control, res):
    """' (RELION reported X Å, isolated shell)' for a low-pass control where RELION's own number differs."""
    for c in (res.get('extra') or {}).get('controls', {}).get('lowpass') or []:
        if c.get('cutoff_A') == control['cutoff_A'] and c.get('isolated_shell'):
            return ' (RELION reported %s Å, isolated shell)' % _fmt(c.get('relion_reported_res_A'))
    return ''


def targets(res):
    """The benchmark's targets, each as (name, met: bool|None, detail)."""
    runs, out = res['runs'], []

    def val(run, key):
        return (runs.get(run) or {}).get(key)
    # masked map-vs-truth where the result has it (results before it was a metric: unmasked)
    key = 'truth_res_masked_A' if val('dem', 'truth_res_masked_A') is not None else 'truth_res_A'
    which = 'masked' if key == 'truth_res_masked_A' else 'unmasked'
    d, r, s, o = (val(n, key) for n in ('dem', 'relion', 'sidesplitter', 'oracle'))

    def finer(x, y, frac, what):
        if x is None or y is None:
            return what, None, 'n/a'
        gain = (y - x) / y
        return what, gain >= frac, 'DEM %.2f Å vs %.2f Å (%s): %+.1f %% (target >= %.0f %% finer)' % (
            x, y, which, 100 * gain, 100 * frac)
    out.append(finer(d, r, 0.10, 'map-vs-truth >= 10 % finer than plain RELION'))
    out.append(finer(d, s, 0.05, 'map-vs-truth >= 5 % finer than SIDESPLITTER'))
    if d is not None and o is not None:
        gap = (d - o) / o
        out.append(('map-vs-truth within 15 % of the oracle', gap <= 0.15,
                    'DEM %.2f Å vs oracle %.2f Å (%s): %.1f %% coarser' % (d, o, which, 100 * gap)))
    a_d, a_r = val('dem', 'ang_err_deg'), val('relion', 'ang_err_deg')
    if a_d is not None and a_r:
        out.append(('median angular error <= 0.7 x plain RELION', a_d <= 0.7 * a_r,
                    '%.2f° vs %.2f°: ratio %.2f' % (a_d, a_r, a_d / a_r)))
    if res.get('cone_deg'):
        q = [val(n, 'qscore') for n in ('dem', 'relion', 'sidesplitter')]
        if None not in q:
            out.append(('tilt cone: Q-score above both peers', q[0] > max(q[1:]),
                        'DEM %.3f, RELION %.3f, SIDESPLITTER %.3f' % tuple(q)))
    ctl = res['controls']
    box, voxel = res['extra']['settings']['data']['box'], res['extra']['settings']['data']['voxel_size']
    if ctl['lowpass']:
        bad = [c for c in ctl['lowpass'] if c['final_res_A'] is not None and c['final_res_A'] < c['cutoff_A']]
        out.append(('no run beats a low-pass cutoff', not bad,
                    '; '.join('cutoff %g Å -> %s Å%s' % (c['cutoff_A'], _fmt(c['final_res_A']), _reported_note(c, res))
                              for c in ctl['lowpass'])))
    if ctl['noise']:
        last = min(ctl['noise'], key=lambda c: c['snr'])
        worst = next((d for d in res['extra']['controls'].get('noise', []) if d['snr'] == last['snr']), {})
        main = val('dem', 'truth_res_A')
        if worst.get('truth_res_A') is not None and main is not None:
            out.append(('less signal gives no closer map (extreme noise)', worst['truth_res_A'] >= main,
                        'SNR %g: map vs truth %.2f Å against %.2f Å at the main SNR; max healpix %s, %s '
                        'regularized iterations' % (last['snr'], worst['truth_res_A'], main, last['max_healpix'],
                                                    last['regularized_iterations'])))
    pn = res['extra']['controls'].get('pure_noise') or {}
    if pn.get('truth_corr') is not None:
        lim = pn['chance_mean'] + 3 * pn['chance_sd']
        out.append(('nothing emerges from pure noise', pn['truth_corr'] <= lim,
                    'correlation with the truth beyond 30 Å %.3f; chance %.3f ± %.3f (3 sd limit %.3f)'
                    % (pn['truth_corr'], pn['chance_mean'], pn['chance_sd'], lim)))
    for name in ('relion', 'sidesplitter', 'dem', 'dem_post'):
        g, t = val(name, 'gold_res_A'), val(name, key)
        if g is None or t is None:
            continue
        # one shell beyond: compare in shell units
        sg, st = box * voxel / g, box * voxel / t
        out.append(('%s: gold-standard claims <= 1 shell beyond map-vs-truth' % name, sg - st <= 1.0,
                    'gold %.2f Å (shell %.1f) vs truth %.2f Å (shell %.1f, %s)' % (g, sg, t, st, which)))
    d_w, r_w = val('dem', 'wall_s'), val('relion', 'wall_s')
    if d_w and r_w:
        det = res['extra']['details']
        cpu_d, cpu_r = det.get('dem', {}).get('cpu_s'), det.get('relion', {}).get('cpu_s')
        out.append(('regularized wall time <= 1.3 x plain RELION', d_w <= 1.3 * r_w,
                    '%.0f s vs %.0f s: ratio %.2f (CPU %s s vs %s s) with %s'
                    % (d_w, r_w, d_w / r_w, cpu_d, cpu_r, res['extra']['enhancer'])))
    return out


def lowpass_repeats_note(structure, cutoff_A):
    """' Repeated ...' from ``benchmarks/results/lowpass-repeats-<structure>.json`` when it holds this
    cutoff (``benchmarks/lowpass_repeats.py``: plain RELION beside the regularized run), else ''."""
    path = os.path.join(REPO, 'benchmarks', 'results', 'lowpass-repeats-%s.json' % structure)
    if not os.path.exists(path):
        return ''
    with open(path) as f:
        rep = json.load(f)
    if rep.get('cutoff_A') != cutoff_A:
        return ''
    sm = rep['summary']
    return (' Repeated over %d seeds with %s beside it (`lowpass-repeats-%s.md`): a final resolution finer '
            'than the cutoff in %d plain and %d regularized runs, map vs truth finer in %d and %d.'
            % (sm['relion']['runs'], 'vanilla RELION' if rep.get('plain', '').startswith('vanilla') else
               'plain RELION', structure, sm['relion']['final_finer_than_cutoff'], sm['dem']['final_finer_than_cutoff'],
               sm['relion']['truth_finer_than_cutoff'], sm['dem']['truth_finer_than_cutoff']))


def diagnosis(res):
    """Measured reasons behind missed targets (lines of Markdown; empty when nothing is missed)."""
    missed = [name for name, ok, _ in targets(res) if ok is False]
    runs, box = res['runs'], res['extra']['settings']['data']['box']
    voxel = res['extra']['settings']['data']['voxel_size']
    rel, dem, post = (runs.get(n) or {} for n in ('relion', 'dem', 'dem_post'))
    lines = []
    if any(m.startswith('map-vs-truth') or m.startswith('median angular') for m in missed):
        if rel.get('truth_res_A') and dem.get('truth_res_A') and post.get('truth_res_A'):
            lines.append('- Resolution: DEM in the loop gains %.2f Å of map-vs-truth resolution over plain '
                         'RELION, the network applied once to the plain run\'s final half maps (dem_post) %.2f Å. '
                         'DEM\'s final map is the plain reconstruction at its refined angles (the final call is '
                         'not regularized by default), so its figure measures what the angles gained (median angular error '
                         '%.2f° vs RELION %.2f°, oracle 0°), while dem_post\'s includes the denoising itself.'
                         % (rel['truth_res_A'] - dem['truth_res_A'], rel['truth_res_A'] - post['truth_res_A'],
                            dem.get('ang_err_deg') or float('nan'), rel.get('ang_err_deg') or float('nan')))
            both = (res['extra'].get('runs') or {}).get('dem_then_post') or {}
            if both.get('truth_res_A'):
                lines.append('- In the loop vs post-processing at equal final processing: the network applied once '
                             'to DEM\'s final half maps (dem_then_post) gives %.2f Å map-vs-truth, to the plain '
                             'run\'s (dem_post) %.2f Å: %s.'
                             % (both['truth_res_A'], post['truth_res_A'],
                                'regularizing in the loop adds %.2f Å to what post-processing alone gives'
                                % (post['truth_res_A'] - both['truth_res_A'])
                                if both['truth_res_A'] < post['truth_res_A'] else
                                'here the in-loop refinement adds nothing that post-processing alone does not give'))
    gaps = {}
    for name in ('relion', 'sidesplitter', 'dem', 'dem_post', 'oracle'):
        g, t = (runs.get(name) or {}).get('gold_res_A'), (runs.get(name) or {}).get('truth_res_A')
        if g and t:
            gaps[name] = box * voxel / g - box * voxel / t
    if any('gold-standard claims' in m for m in missed) and 'relion' in gaps:
        text = ('- Gold-standard vs map-vs-truth: plain RELION itself claims %.1f shells beyond its map-vs-truth '
                'resolution (DEM %s, SIDESPLITTER %s); at the true angles (oracle) the gap is %s shells. '
                % (gaps['relion'], *('%.1f' % gaps[n] if n in gaps else 'n/a'
                                     for n in ('dem', 'sidesplitter', 'oracle'))))
        if gaps.get('oracle') is not None and gaps['oracle'] <= 1.0:
            text += ('So the gap is the alignment error, which blurs both half maps alike and escapes the '
                     'half-map FSC. ')
        elif gaps.get('oracle') is not None:
            text += ('Even the true angles leave a gap: part of it belongs to the data (orientation coverage, '
                     'unmasked FSC of few particles). ')
        if 'dem' in gaps and gaps['dem'] > gaps['relion'] + 1.0:
            text += ('DEM\'s gap exceeds plain RELION\'s by %.1f shells: references regularized alike steer the '
                     'two halves\' alignments alike, so their FSC overstates (the guard keeps the network out of '
                     'the shells beyond FSC 1/7, not out of the alignment)%s.'
                     % (gaps['dem'] - gaps['relion'],
                        '; SIDESPLITTER shows the same (%.1f shells)' % gaps['sidesplitter']
                        if gaps.get('sidesplitter', 0) > gaps['relion'] + 1.0 else ''))
        else:
            text += 'The regularizer does not widen it (DEM within a shell of RELION, or below).'
        lines.append(text)
    if 'no run beats a low-pass cutoff' in missed:
        for c in res['extra']['controls'].get('lowpass') or []:
            fin = c.get('final_res_A')
            if fin is not None and fin < c['cutoff_A']:
                lines.append('- Low-pass control at %g Å: final resolution %.2f Å; RELION\'s gold-standard FSC '
                             'stays above 0.143 beyond the cutoff (half maps here: %s Å, map vs truth: %s Å).%s'
                             % (c['cutoff_A'], fin, _fmt(c.get('gold_res_A')), _fmt(c.get('truth_res_A')),
                                lowpass_repeats_note(res['structure'], c['cutoff_A'])))
    if any(m.startswith('regularized wall time') for m in missed):
        reg = dem.get('regularized_iterations') or 0
        if reg and rel.get('wall_s') and rel.get('iterations') and dem.get('wall_s') is not None:
            lines.append('- Wall time: RELION takes %.1f s per iteration here; each regularized iteration adds '
                         '%.1f s (%.1f s per half-map call, the second half waiting for the first on %d cores) over %d '
                         'regularized iterations. The ratio falls as RELION\'s iterations lengthen: on real data '
                         '(minutes per iteration) the same calls cost a few percent.'
                         % (rel['wall_s'] / rel['iterations'], (dem['wall_s'] - rel['wall_s']) / reg,
                            (dem.get('enhancer_s') or 0.0) / (2 * reg), os.cpu_count() or 1, reg))
    return lines


def _duration(x, s):
    """How long the benchmark took, honest about refinements reused from an earlier invocation."""
    total = 'this invocation %.0f s (%.1f min; budget of the scale: %s min)' % (
        x['total_wall_s'], x['total_wall_s'] / 60.0, s.get('budget_min'))
    ref = x.get('refinements')
    lost = ''
    if ref and 'files_lost' in ref:   # the loss check after each refinement (since 0.1.0)
        lost = ('; files left where RELION reads after its %d refinements: %s'
                % (ref['count'], '; '.join(ref['files_lost']) if ref['files_lost'] else 'none'))
    if not ref or not ref['reused']:
        return total + lost
    return ('%s, reusing %d of its %d refinements from an earlier invocation; the refinements took %.0f s '
            '(%.1f min) when they ran%s' % (total, ref['reused'], ref['count'], ref['wall_s'], ref['wall_s'] / 60.0,
                                            lost))


def _fmt(v):
    if v is None:
        return '–'
    if isinstance(v, float):
        return '%.3f' % v if abs(v) < 1 and v != 0 else '%.2f' % v
    return str(v)


def plots(res, prefix):
    """PNG plots beside the report; returns their file names."""
    names = []

    def save(fig, tag):
        names.append(os.path.basename(figures.save(fig, '%s-%s.png' % (prefix, tag), dpi=90)))
    det = res['extra']['details']
    box = res['extra']['settings']['data']['box']
    voxel = res['extra']['settings']['data']['voxel_size']
    with np.errstate(divide='ignore'):
        shell_res = box * voxel / np.arange(box // 2 + 1, dtype=float)
    every = list(RUN_NAMES) + sorted(res['extra']['runs'])
    fig, axes = figures.figure(1, 2, size=(11, 4))
    for ax, key, threshold, title in ((axes[0], 'fsc_truth', 0.5, 'map vs truth (FSC 0.5)'),
                                      (axes[1], 'fsc_gold', 0.143, 'half map vs half map (FSC 0.143)')):
        curves = [(name, shell_res, det[name][key], None) for name in every if (det.get(name) or {}).get(key)]
        figures.fsc_overlay(curves, ax=ax, thresholds=(threshold,), title=title)
    save(fig, 'fsc')

    fig, ax = figures.figure(size=(6, 4))
    for name in every:
        its = (det.get(name) or {}).get('per_iteration') or []
        pts = [(r['iteration'], r['resolution_A']) for r in its if r['resolution_A']]
        if pts:
            ax.plot(*zip(*pts), marker='o', label=name)
    ax.set_xlabel('iteration')
    ax.set_ylabel('gold-standard resolution (Å)')
    ax.invert_yaxis()
    ax.legend(fontsize=8)
    save(fig, 'iterations')

    ctl = res['controls']
    if ctl['lowpass'] or ctl['noise']:
        fig, axes = figures.figure(1, 2, size=(10, 4))
        if ctl['lowpass']:
            cut = [c['cutoff_A'] for c in ctl['lowpass']]
            axes[0].plot(cut, [c['final_res_A'] for c in ctl['lowpass']], 'o', label='final (gold-standard)')
            axes[0].plot([min(cut), max(cut)], [min(cut), max(cut)], 'k:', label='cutoff')
            axes[0].set_xlabel('low-pass cutoff of the particles (Å)')
            axes[0].set_ylabel('reported resolution (Å)')
            axes[0].legend(fontsize=8)
        if ctl['noise']:
            n = sorted(ctl['noise'], key=lambda c: c['snr'])
            axes[1].semilogx([c['snr'] for c in n], [c['regularized_iterations'] for c in n], 'o-',
                             label='regularized iterations')
            axes[1].semilogx([c['snr'] for c in n], [c['max_healpix'] for c in n], 's--', label='max healpix order')
            axes[1].set_xlabel('SNR')
            axes[1].legend(fontsize=8)
        save(fig, 'controls')
    return names


#: the resolutions a report prints "≤ X (Nyquist)" where they sit at Nyquist
RESOLUTION_KEYS = ('gold_res_A', 'truth_res_A', 'truth_res_masked_A', 'truth_res_envelope_A', 'gold_res_envelope_A')


def nyquist(res):
    """Nyquist (Å) of a benchmark result's data."""
    return 2 * res['extra']['settings']['data']['voxel_size']


def mean_sd_cell(st, key, nyquist_A=None, missing='–'):
    """'mean ± sd'; a resolution whose every seed sits at ``nyquist_A`` is '≤ X (Nyquist)': the data may hold more."""
    s = st.get(key)
    if not s:
        return missing
    if nyquist_A and s['mean'] <= nyquist_A + 0.005:      # every seed at Nyquist (values rounded to 0.01)
        return fsc.resolution_text(nyquist_A, True)
    return '%.2f ± %.2f' % (s['mean'], s['sd'] or 0.0)


def _cell(m, key, voxel_size):
    """One run's value in the runs table (a resolution at Nyquist as '≤ X (Nyquist)')."""
    v = m.get(key)
    if key in RESOLUTION_KEYS and v is not None and fsc.at_nyquist(v, voxel_size):
        return fsc.resolution_text(2 * voxel_size, True)
    return _fmt(v)


def repeats_markdown(rep, nyq=None):
    """The repeats section: mean ± sd per arm, and the paired differences with their p-values."""
    if not rep:
        return []
    L = ['## Repeats (seeds %s)' % ', '.join(map(str, rep['seeds'])), '',
         'The table above holds the means. Each seed simulates its own particles and gives RELION its own '
         '`--random_seed`; the arms of one seed share them, so differences are paired.', '',
         '| run | map vs truth, sphere (Å) | unmasked (Å) | envelope (Å) | median ang err (°) | gold-std (Å) '
         '| honesty gap, envelope (Å) | wall (s) |', '|---|---|---|---|---|---|---|---|']
    for name, st in sorted(rep['arms'].items()):
        cell = [mean_sd_cell(st, k, nyq if k in RESOLUTION_KEYS else None, missing='-')
                for k in ('truth_res_masked_A', 'truth_res_A', 'truth_res_envelope_A', 'ang_err_deg', 'gold_res_A',
                          'honesty_gap_envelope_A', 'wall_s')]
        L.append('| %s | %s |' % (name, ' | '.join(cell)))
    L += ['', '| arm − against | metric | mean difference ± sd | n | p (paired t) | beyond the scatter? |',
          '|---|---|---|---|---|---|']
    for r in rep['paired']:
        L.append('| %s − %s | %s | %+.2f ± %.2f | %d | %.3f | %s |' % (
            r['arm'], r['against'], r['metric'], r['mean_diff'], r['sd_diff'], r['n'], r['p'],
            'yes' if r['exceeds_scatter'] else 'no'))
    return L + ['']


def symmetry_note(res):
    sym = res.get('symmetry', 'C1')
    if sym == 'C1':
        return ''
    return ('; symmetry %s: the truth is symmetric in RELION\'s frame (the model as deposited when it already is, '
            'else the exact assembly of its first chain, ligands left out: `relion_dem.core.simulation.assembly`), '
            'and every arm (and the oracle) refines or reconstructs with `--sym %s`; angular errors are the '
            'smallest over the group' % (sym, sym))


def markdown(res, pngs):
    x = res['extra']
    s = x['settings']
    lines = ['# Benchmark `%s` on %s' % (res['scale'], result_id(res['structure'], res.get('cone_deg'))), '',
             'Simulated from `%s` (%s). %s' % (os.path.basename(x['structure_path']), x['holdout_note'], s['note']),
             '',
             '- data: box %d, %.2f Å/px (Nyquist %.1f Å), %d particles, SNR %g, %s orientations, defocus %s µm, '
             'B %g Å², shifts up to %g Å; initial reference = truth low-passed to 40 Å%s'
             % (s['data']['box'], s['data']['voxel_size'], 2 * s['data']['voxel_size'], s['data']['n_particles'],
                s['data']['snr'], 'tilt-cone 0-%g°' % res['cone_deg'] if res['cone_deg'] else 'uniform',
                '-'.join('%g' % v for v in s['data']['defocus_um']), s['data'].get('bfactor', 0.0),
                s['data']['max_shift_A'], symmetry_note(res)),
             '- refinement: `relion_dem.core.simulation.recipes.refine_args` (%s), 3 MPI ranks, 1 thread, same seed '
             'and half sets for every run' % ', '.join('%s=%s' % kv for kv in sorted(s['refine'].items())),
             '- regularizer of `dem`, `dem_post` and the controls: **%s** (%s)' % (x['enhancer'], x['enhancer_note']),
             '- machine: %s CPUs, load average at the end %s (it includes the benchmark\'s own '
             'processes; wall times also count anything else that ran; CPU seconds are in the JSON '
             '`extra.details.*.cpu_s`); %s; %s'
             % (x['machine']['cpus'], ', '.join('%.1f' % v for v in x['machine']['load_avg_end']),
                _duration(x, s), x['date']),
             '', '## Runs', '',
             '| run | %s |' % ' | '.join(title for _, title in METRIC_TITLES),
             '|' + '---|' * (len(METRIC_KEYS) + 1)]
    every = [(n, res['runs'][n]) for n in RUN_NAMES] + sorted(x['runs'].items())
    for name, m in every:
        lines.append('| %s | ' % name + ' | '.join(_cell(m, k, s['data']['voxel_size']) for k in METRIC_KEYS) + ' |')
    lines += ['', 'relion: vanilla `relion_refine_mpi` (no external reconstruction); none_control (extra): the same '
              'refinement through relion_dem\'s runtime, unregularized; dem_from_first (extra): regularized from '
              'the first iteration; dem_no_guards (extra): without the FSC and do-no-harm guards; sidesplitter: '
              'upstream `sidesplitter_wrapper.sh` as external reconstruction (SIDESPLITTER built from '
              '`shared/third_party`; its polling `sleep` capped at 1 s); dem: regularized in the loop; '
              'dem_post: the shipped `relion_dem denoise` (the average of the final half maps through the same '
              'regularizer and both guards) on the plain run (paper Fig. S11; angles and gold standard are the '
              'plain run\'s; results files before 2026-12-02 applied the regularizer to each half with the FSC guard '
              'only); dem_then_post (extra): the same once more on dem\'s final half '
              'maps, so that in-loop and post-processing-only compare at equal final processing; oracle: '
              '`relion_reconstruct` at the true angles and shifts, same half '
              'sets. Gold-standard and map-vs-truth FSCs are computed here the same way for every run: unmasked; '
              'map vs truth in the particle sphere (a soft sphere of the particle diameter, solvent included; '
              'the honesty gap beside it subtracts the unmasked gold standard, as earlier results files did); '
              'and both in the truth\'s envelope (a soft mask of the molecule: `bench.data.envelope_mask`; '
              'gold standard corrected for the mask by phase randomization), whose honesty gap compares like '
              'with like: positive where the gold standard claims more than the map holds '
              '(RELION\'s own reported resolution is in the JSON, `extra.details.*.relion_reported_res_A`).', '']
    lines += repeats_markdown(x.get('repeats'), nyquist(res))
    ctl, cd = res['controls'], x['controls']
    lines += ['## Controls', '']
    if not ctl['lowpass'] and not ctl['noise']:
        lines += ['Not run for this result (`--no-controls`, for time): see the `ci` result for the controls, '
                  'or run this command without `--no-controls` (finished runs in the work folder are reused).', '']
    if ctl['lowpass']:
        lines += ['### Low-pass particles (regularized refinement)', '',
                  'Particles made from the truth low-passed so that no signal reaches RELION\'s shell of the '
                  'cutoff (raised-cosine filter reaching zero half a shell below it). The final resolution '
                  '(`runinfo.resolution_check`: the last shell before RELION\'s gold-standard FSC first falls '
                  'below 0.143, which is RELION\'s own number unless RELION took an isolated shell beyond it) '
                  'must not be finer than the cutoff.', '',
                  '| cutoff (Å) | final (Å) | RELION reported (Å) | gold FSC 0.143, half maps here (Å) '
                  '| map vs truth (Å) | regularized its |',
                  '|---|---|---|---|---|---|']
        isolated = []
        for c in cd['lowpass']:
            rep = c.get('relion_reported_res_A', c['final_res_A'])
            if c.get('isolated_shell'):
                isolated.append(c)
            lines.append('| %s | %s | %s%s | %s | %s | %s |'
                         % (c['cutoff_A'], _fmt(c['final_res_A']), _fmt(rep), ' (isolated shell)' if c in isolated
                            else '', _fmt(c['gold_res_A']), _fmt(c['truth_res_A']), c['regularized_iterations']))
        lines.append('')
        if isolated:
            lines += ['RELION 3.1 reported a finer resolution than its FSC supports (%s): after the first drop of '
                      'the FSC below 1/7 it scans back from Nyquist and takes the last shell above 1/7 when that '
                      'lies more than 3 shells further out. %s How often this happens with and without regularization: '
                      '`benchmarks/results/lowpass-repeats-3PWP.md`.'
                      % ('; '.join('cutoff %g Å: %s Å' % (c['cutoff_A'], _fmt(c.get('relion_reported_res_A')))
                                   for c in isolated),
                         ' '.join('At %g Å that shell (%s) lies beyond every shell the refinement compared with its '
                                  'references before the final iteration (up to shell %s): a noise value in a shell '
                                  'no reference was ever compared in.'
                                  % (c['cutoff_A'], c['isolated_shell'], c['aligned_up_to_shell'])
                                  for c in isolated if c.get('aligned_up_to_shell')
                                  and c['isolated_shell'] > c['aligned_up_to_shell'])), '']
    if ctl['noise']:
        lines += ['### Noise sweep (regularized refinement)', '',
                  '| SNR | max healpix order | regularized iterations |', '|---|---|---|']
        for c in sorted(ctl['noise'], key=lambda c: -c['snr']):
            lines.append('| %g | %s | %s |' % (c['snr'], c['max_healpix'], c['regularized_iterations']))
        lines.append('')
    pn = cd.get('pure_noise') or {}
    if pn:
        lines += ['### Pure noise (regularized refinement)', '',
                  'Correlation of the final map with the truth over %s: **%.4f**; chance (phase-randomized '
                  'truths): %.4f ± %.4f over %d coefficients. Whole-map correlation (includes the 40 Å '
                  'reference\'s own signal, einstein-from-noise): %.4f. Regularized iterations: %s.'
                  % (pn['band'], pn['truth_corr'], pn['chance_mean'], pn['chance_sd'], pn['coefficients'],
                     pn['full_band_corr'], pn['regularized_iterations'])
                  + (' The gate never opened, so the regularizer was never applied: this control then '
                     'tests RELION alone.' if not pn['regularized_iterations'] else ''), '']
    lines += ['## Targets', '', '| target | met | measured |', '|---|---|---|']
    for name, ok, detail in targets(res):
        lines.append('| %s | %s | %s |' % (name, {True: 'yes', False: '**NO**', None: 'n/a'}[ok], detail))
    why = diagnosis(res)
    if why:
        lines += ['', '### Why targets are missed (measured here)', ''] + why
    lines += ['', '## Plots', ''] + ['![%s](%s)' % (p, p) for p in pngs]
    seeds = (x.get('repeats') or {}).get('seeds') or []
    lines += ['', '## Reproduce', '', '```', 'relion_dem bench --scale %s --structure %s%s%s --snr %g%s%s'
              % (res['scale'], res['structure'], ' --cone %g' % res['cone_deg'] if res['cone_deg'] else '',
                 ' --sym %s' % res['symmetry'] if res.get('symmetry', 'C1') != 'C1' else '', res['snr'],
                 ' --seeds %d' % len(seeds) if len(seeds) > 1 else '',
                 ' --no-extra-classical' if x.get('enhancer') != 'classical' and
                 'dem_classical' not in (x.get('runs') or {}) else ''), '```', '']
    return '\n'.join(lines)


def paper_markdown():
    s = SCALES['paper']
    return '\n'.join([
        '# Benchmark `paper` scale (settings only: not run on this machine)', '', s['note'], '',
        '| setting | value |', '|---|---|'] +
        ['| data.%s | %s |' % kv for kv in sorted(s['data'].items())] +
        ['| refine.%s | %s |' % kv for kv in sorted(s['refine'].items())] +
        ['| low-pass controls (Å) | %s |' % ', '.join('%g' % v for v in s['lowpass_A']),
         '| noise sweep SNRs | %s |' % ', '.join('%g' % v for v in s['noise_snr']),
         '| particles per control | %d |' % s['lowpass_n'], '',
         'Run it (one uniform and one tilt-cone case, as the paper\'s β-galactosidase and proteasome):', '',
         '```', 'python -m relion_dem_dev.bench --scale paper --run-paper --structure 1BD2',
         'python -m relion_dem_dev.bench --scale paper --run-paper --structure 3PWP --cone 40', '```', '',
         'Use `--np` for more MPI ranks (and a GPU for the network, `--enhancer network`). Expect days on 2 '
         'cores; hours on a 32-core workstation.', ''])


def write_json_and_markdown(prefix, res, text):
    """``<prefix>.json`` (``res``) and ``<prefix>.md`` (``text``), the folder made if needed; the
    benchmark scripts' one way to leave a result."""
    os.makedirs(os.path.dirname(prefix), exist_ok=True)
    with open(prefix + '.json', 'w') as f:
        json.dump(res, f, indent=1)
    with open(prefix + '.md', 'w') as f:
        f.write(text)


def write_results(res, outdir):
    os.makedirs(outdir, exist_ok=True)
    prefix = os.path.join(outdir, '%s-%s' % (res['scale'], result_id(res['structure'], res.get('cone_deg'))))
    pngs = plots(res, prefix)
    write_json_and_markdown(prefix, res, markdown(res, pngs))
    return prefix


def check_shape(res):
    """Problems with a result's JSON shape (empty list: none)."""
    bad = []
    for k in ('scale', 'structure', 'snr', 'cone_deg', 'runs', 'controls'):
        if k not in res:
            bad.append('missing key %s' % k)
    for name in RUN_NAMES:
        m = res.get('runs', {}).get(name)
        if m is None:
            bad.append('missing run %s' % name)
        elif set(m) != set(METRIC_KEYS):
            bad.append('run %s keys %s' % (name, sorted(set(m) ^ set(METRIC_KEYS))))
    c = res.get('controls', {})
    if set(c) != {'lowpass', 'noise', 'pure_noise'}:
        bad.append('controls keys %s' % sorted(c))
    for e in c.get('lowpass', []):
        if set(e) != {'cutoff_A', 'final_res_A'}:
            bad.append('lowpass entry %s' % e)
    for e in c.get('noise', []):
        if set(e) != {'snr', 'max_healpix', 'regularized_iterations'}:
            bad.append('noise entry %s' % e)
    if set(c.get('pure_noise', {})) != {'truth_corr'}:
        bad.append('pure_noise %s' % c.get('pure_noise'))
    return bad

