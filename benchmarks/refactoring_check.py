"""Behaviour unchanged by a refactoring: the same regularized refinement run by two checkouts.

    python benchmarks/refactoring_check.py --old /path/to/old/checkout [--new .] [--out benchmarks/results]
        [--enhancer network --new-setting guard_threshold=0.143]
    python benchmarks/refactoring_check.py --old /path/to/old/checkout --ci-scale --work DIR

Both checkouts refine the same simulated particles (19hc, 500 particles, box 40 at 3 Å, SNR 0.3,
the integration tests' data and arguments, RELION's random seed fixed) through ``relion_dem
refine`` with the classical enhancer (or ``--enhancer network``: the bundled network, the same
weights in both) and the ``local_searches`` gate named explicitly (so a changed default cannot
hide or cause a difference). ``--new-setting`` gives the new checkout a runtime setting the old
one had built in: the network's input taper used a literal 0.143 where the new runtime uses the
configured ``guard_threshold`` (1/7), so ``guard_threshold=0.143`` makes the two taper alike. Compared: every iteration's half-maps and
the final map (largest difference over the map's range), the run logs (per call: gate,
regularized, the guards' verdicts), the number of iterations, and ``relion_dem compare``'s report
of the two runs made by each checkout (every number of ``metrics.json``, the text of
``report.md``). Writes ``refactoring-check[-network].{json,md}``. ``--ci-scale`` instead runs the
ci-scale benchmark's main arms by each checkout and compares every number both report
(``refactoring-check-ci[-network].{json,md}``).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time


HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, 'tests'))

from relion_dem.core.io import mrc  # noqa: E402
from relion_dem.core.io.layout import RelionRun  # noqa: E402
from relion_dem.core.runtime import runlog  # noqa: E402
from relion_dem_dev.bench.report import write_json_and_markdown  # noqa: E402

#: the decisions that must agree between the two run logs, per call
DECISIONS = ('iteration', 'half', 'gate', 'regularized', 'fallback', 'harm_guard')
#: maps agree when they differ by at most this fraction of their range: float32 rounding (an FFT
#: round trip of a float32 map moves it by ~1e-7 of its range)
ROUNDING = 1e-6


def commit_of(checkout):
    return subprocess.run(['git', '-C', checkout, 'rev-parse', '--short', 'HEAD'], capture_output=True,
                          text=True).stdout.strip()


def refine(checkout, dataset, name, enhancer='classical', overrides=None):
    """One ``relion_dem refine`` of the data set by ``checkout``; with ``overrides`` (runtime
    settings the command line does not expose) through ``launch.run`` instead of the CLI."""
    from shared_refinements import REFINE_ARGS, _env
    os.makedirs(os.path.join(dataset, name))
    env = dict(_env(), PYTHONPATH=checkout)
    relion_args = REFINE_ARGS + ['--o', name + '/run']
    if overrides:
        settings = dict(overrides, enhancer=enhancer, gate='local_searches')
        code = ('import sys; from relion_dem.core.runtime import launch; '
                'sys.exit(launch.run(sys.argv[1:], %r, 3))' % settings)
        argv = [sys.executable, '-c', code] + relion_args
    else:
        argv = [sys.executable, '-m', 'relion_dem.cli', 'refine', '--np', '3', '--enhancer', enhancer,
                '--gate', 'local_searches', '--'] + relion_args
    t = time.time()
    with open(os.path.join(dataset, name, 'log.txt'), 'w') as log:
        rc = subprocess.run(argv, cwd=dataset, env=env, stdout=log, stderr=subprocess.STDOUT).returncode
    # the network server outlives its run: the next checkout must load its own code
    subprocess.run(['pkill', '-f', 'relion_dem/core/network/service.py'])
    if rc != 0:
        raise SystemExit('refinement with %s failed (%d): %s/log.txt' % (checkout, rc, os.path.join(dataset, name)))
    return round(time.time() - t, 1)


def compare_maps(a_run, b_run):
    """Per map file of run a that run b has too: max |a - b| over a's range, and the lowest FSC
    between them over the shells (``relion_version_check.compare``)."""
    from relion_version_check import compare
    out = {}
    for path in sorted(os.listdir(os.path.dirname(a_run.root))):
        if not path.endswith('.mrc') or 'external_reconstruct' in path:
            continue
        other = os.path.join(os.path.dirname(b_run.root), path)
        if not os.path.exists(other):
            out[path] = 'missing in the new run'
            continue
        a, _ = mrc.read(os.path.join(os.path.dirname(a_run.root), path))
        b, _ = mrc.read(other)
        out[path] = compare(b, a)
    return out


def compare_logs(a_log, b_log):
    """Calls whose decisions differ; and the FSC guard's cutoff: logged by both and different, or
    logged only after (the old runtime logged none when the guard kept every shell)."""
    key = lambda r: (r['iteration'], str(r['half']))
    a, b = sorted(runlog.read(a_log), key=key), sorted(runlog.read(b_log), key=key)
    pick = lambda r: {k: r.get(k) for k in DECISIONS}
    cut = [(x.get('fsc_guard_shell'), y.get('fsc_guard_shell')) for x, y in zip(a, b)]
    return dict(calls_old=len(a), calls_new=len(b),
                differing=[dict(old=pick(x), new=pick(y)) for x, y in zip(a, b) if pick(x) != pick(y)]
                + ([dict(extra=len(a) - len(b))] if len(a) != len(b) else []),
                cutoff_differs=sum(1 for o, n in cut if o is not None and o != n),
                cutoff_logged_only_after=sum(1 for o, n in cut if o is None and n is not None))


def compare_reports(old_checkout, new_checkout, dataset):
    """``relion_dem compare`` of the two runs (with the truth) by each checkout: the numbers of
    ``metrics.json`` that differ beyond float rounding, and whether ``report.md`` is the same text."""
    reports = {}
    for side, checkout in (('old', old_checkout), ('new', new_checkout)):
        out = os.path.join(dataset, 'compare-by-' + side)
        argv = [sys.executable, '-m', 'relion_dem.cli', 'compare', 'old/run', 'new/run', '--label', 'before',
                '--label', 'after', '--truth', 'truth.mrc', '--truth-particles', 'truth_particles.star',
                '--seed', '1', '--out', out]
        env = dict(os.environ, PYTHONPATH=os.path.abspath(checkout))
        if subprocess.run(argv, cwd=dataset, env=env, capture_output=True).returncode != 0:
            raise SystemExit('relion_dem compare by %s failed: %s' % (checkout, ' '.join(argv)))
        with open(os.path.join(out, 'metrics.json')) as f, open(os.path.join(out, 'report.md')) as g:
            reports[side] = json.load(f), g.read()
    return dict(metrics_differing=differing(reports['old'][0], reports['new'][0]),
                report_text_same=reports['old'][1] == reports['new'][1])


def differing(x, y, where=''):
    """Where two JSON values differ (paths), floats beyond 1e-9 relative (float rounding)."""
    if isinstance(x, dict) and isinstance(y, dict):
        return [p for k in sorted(set(x) | set(y)) for p in differing(x.get(k), y.get(k), where + '/' + k)]
    if isinstance(x, list) and isinstance(y, list) and len(x) == len(y):
        return [p for i, (u, v) in enumerate(zip(x, y)) for p in differing(u, v, '%s[%d]' % (where, i))]
    if isinstance(x, float) and isinstance(y, float):
        return [where] if abs(x - y) > 1e-9 * max(1.0, abs(x)) else []
    return [where] if x != y else []


#: the ci scale by one checkout (its main arms, no controls); the gate named as the old default so
#: that a deliberate change of the default (local_searches -> stalled) is not taken for a refactoring's
CI_SCALE = """
import inspect, json, sys
from relion_dem.core.runtime import config
config.DEFAULTS['gate'] = 'local_searches'
from relion_dem_dev.bench import data, run, settings
kw = dict(enhancer=sys.argv[3], controls=False, extra_classical=False)
if 'design_arms' in inspect.signature(run.run_bench).parameters:
    kw['design_arms'] = False
res = run.run_bench('ci', data.resolve_structure(settings.DEFAULT_STRUCTURES['ci']), sys.argv[1], **kw)
with open(sys.argv[2], 'w') as f:
    json.dump(res['runs'], f, indent=1, default=str)
"""
#: the arms both checkouts run at the ci scale without controls
CI_ARMS = ('relion', 'sidesplitter', 'dem', 'dem_post', 'oracle')
#: numbers that are times, not results
TIMES = ('wall_s', 'enhancer_s')
#: arms changed on purpose after b5ddcde, and by which commit
CHANGED_ON_PURPOSE = {'dem_post': '1070bc5: dem_post is the shipped relion_dem denoise (the average of the '
                                  'half-maps, both guards), no longer the benchmark\'s own copy'}


def ci_scale(old_checkout, new_checkout, work, enhancer):
    """The ci-scale benchmark's main arms run by each checkout; per arm, the numbers both report
    that differ (beyond 1e-9 relative), and the numbers only the new one reports."""
    runs = {}
    for side, checkout in (('old', old_checkout), ('new', new_checkout)):
        out = os.path.join(work, 'ci-%s.json' % side)
        if not os.path.exists(out):
            env = dict(os.environ, PYTHONPATH=os.path.abspath(checkout))
            with open(os.path.join(work, 'ci-%s.log' % side), 'w') as log:
                # cwd: ``python -c`` puts it first on the path, before PYTHONPATH's checkout
                rc = subprocess.run([sys.executable, '-c', CI_SCALE, os.path.join(work, 'ci-' + side), out, enhancer],
                                    env=env, cwd=work, stdout=log, stderr=subprocess.STDOUT).returncode
            subprocess.run(['pkill', '-f', 'relion_dem/core/network/service.py'])
            if rc != 0:
                raise SystemExit('the ci scale by %s failed (%d): %s' % (checkout, rc, log.name))
        with open(out) as f:
            runs[side] = json.load(f)
    out = {}
    for arm in CI_ARMS:
        a, b = runs['old'].get(arm, {}), runs['new'].get(arm, {})
        differ = {k: [a[k], b[k]] for k in sorted(set(a) & set(b)) if k not in TIMES and differing(a[k], b[k])}
        out[arm] = dict(compared=len((set(a) & set(b)) - set(TIMES)), differing=differ,
                        only_new=sorted(set(b) - set(a)), only_old=sorted(set(a) - set(b)))
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--old', required=True, help='the checkout before the refactoring')
    p.add_argument('--new', default=REPO)
    p.add_argument('--out', default=os.path.join(HERE, 'results'))
    p.add_argument('--work', help='default: a temporary folder')
    p.add_argument('--reuse', action='store_true', help='compare the two runs already in --work')
    p.add_argument('--enhancer', default='classical', choices=('classical', 'network'))
    p.add_argument('--ci-scale', action='store_true',
                   help='instead: the ci-scale benchmark\'s main arms by each checkout (needs the benchmark '
                        'structures); writes refactoring-check-ci[-network].{json,md}')
    p.add_argument('--new-setting', action='append', default=[], metavar='KEY=JSON',
                   help='a runtime setting for the new checkout only (e.g. guard_threshold=0.143)')
    a = p.parse_args(argv)
    overrides = {k: json.loads(v) for k, v in (x.split('=', 1) for x in a.new_setting)}
    name = 'refactoring-check' + ('' if a.enhancer == 'classical' else '-' + a.enhancer)
    from relion_dem.core.simulation.simulate import simulate
    from shared_refinements import MODEL
    dataset = os.path.abspath(a.work) if a.work else tempfile.mkdtemp(prefix='refactoring_check_')
    if a.ci_scale:
        return ci_scale_report(a, dataset, name.replace('refactoring-check', 'refactoring-check-ci'))
    walls = {}
    if a.reuse:
        with open(os.path.join(dataset, 'refactoring_check_wall.json')) as f:
            walls = json.load(f)
    else:
        simulate(MODEL, dataset, n_particles=500, box=40, voxel_size=3.0, snr=0.3)
        walls = {run: refine(os.path.abspath(checkout), dataset, run, a.enhancer, overrides if run == 'new' else None)
                 for run, checkout in (('old', a.old), ('new', a.new))}
        with open(os.path.join(dataset, 'refactoring_check_wall.json'), 'w') as f:
            json.dump(walls, f)
    old, new = RelionRun(os.path.join(dataset, 'old', 'run')), RelionRun(os.path.join(dataset, 'new', 'run'))
    maps = compare_maps(old, new)
    numeric = [v['max_rel_diff'] for v in maps.values() if isinstance(v, dict)]
    logs = compare_logs(old.root + '_relion_dem.jsonl', new.root + '_relion_dem.jsonl')
    report = compare_reports(a.old, a.new, dataset)
    res = dict(old=commit_of(a.old), new=commit_of(a.new), enhancer=a.enhancer, new_settings=overrides, date=time.strftime('%Y-%m-%d %H:%M'), wall_s=walls,
               maps_compared=len(numeric), max_difference=max(numeric) if numeric else None,
               min_fsc=min(v['min_fsc'] for v in maps.values() if isinstance(v, dict)) if numeric else None,
               maps_missing=[k for k, v in maps.items() if not isinstance(v, dict)], maps=maps, logs=logs, compare_report=report,
               iterations=dict(old=len(old.iterations()), new=len(new.iterations())))
    res['unchanged'] = bool(numeric) and max(numeric) <= ROUNDING and not res['maps_missing'] \
        and not logs['differing'] and not logs['cutoff_differs'] and res['iterations']['old'] == res['iterations']['new'] \
        and not report['metrics_differing'] and report['report_text_same']
    res['maps_identical'] = sum(1 for v in numeric if v == 0.0)
    lines = ['# Refactoring check: %s (before) against %s' % (res['old'], res['new']), '',
             'One regularized refinement (%s enhancer, gate `local_searches` named explicitly; 19hc, 500 '
             'particles, box 40 at 3 Å, SNR 0.3, RELION\'s random seed 1) run by each checkout '
             '(`benchmarks/refactoring_check.py`), %s.%s' % (
                 'classical' if a.enhancer == 'classical' else 'bundled network\'s', res['date'],
                 ' The new checkout with %s (a setting the old one had built in).'
                 % ', '.join('`%s = %s`' % kv for kv in sorted(overrides.items())) if overrides else ''), '',
             '- iterations: %d before, %d after' % (res['iterations']['old'], res['iterations']['new']),
             '- maps compared (every iteration\'s half-maps and references, the final maps): %d, %d of them '
             'bit-identical; largest difference %.2g of the map\'s range (float32 rounding: <= %g), lowest FSC '
             'between the two over every shell %.6f%s'
             % (res['maps_compared'], res['maps_identical'], res['max_difference'], ROUNDING, res['min_fsc'],
                '; missing after: ' + ', '.join(res['maps_missing']) if res['maps_missing'] else ''),
             '- run-log calls: %d before, %d after; calls that differ in gate, regularization, fallback or the '
             'do-no-harm guard\'s verdict: %d; in the FSC guard\'s cutoff: %d (%d calls log it only after: the '
             'old runtime logged no cutoff when the guard kept every shell)'
             % (logs['calls_old'], logs['calls_new'], len(logs['differing']), logs['cutoff_differs'],
                logs['cutoff_logged_only_after']),
             '- `relion_dem compare` of the two runs with the truth, by each checkout: %d numbers of '
             '`metrics.json` differ; `report.md` %s' % (len(report['metrics_differing']),
                                                        'the same text' if report['report_text_same'] else 'differs'),
             '- wall: %.0f s before, %.0f s after (the machine was shared: not a speed comparison)' % (walls['old'], walls['new']), '',
             '**%s**' % ('Behaviour unchanged: the same maps up to float32 rounding, the same decisions and the '
                         'same comparison report.'
                         if res['unchanged']
                         else 'Differences found (see the JSON).')]
    write_json_and_markdown(os.path.join(a.out, name), res, '\n'.join(lines) + '\n')
    print('\n'.join(lines))
    return 0 if res['unchanged'] else 1


def ci_scale_report(a, work, name):
    os.makedirs(work, exist_ok=True)
    arms = ci_scale(a.old, a.new, work, a.enhancer)
    res = dict(old=commit_of(a.old), new=commit_of(a.new), enhancer=a.enhancer, date=time.strftime('%Y-%m-%d %H:%M'),
               arms=arms, changed_on_purpose=CHANGED_ON_PURPOSE,
               unchanged=not any(v['differing'] for k, v in arms.items() if k not in CHANGED_ON_PURPOSE))
    lines = ['# Refactoring check, ci scale: %s (before) against %s' % (res['old'], res['new']), '',
             'The ci-scale benchmark (`relion_dem bench --scale ci`: 1BD2, box 40 at 4.5 Å, 300 particles, SNR 0.3) '
             'run by each checkout, main arms only (no controls; the new checkout without its design arms), '
             'enhancer %s, the gate named `local_searches` in both (the old default; the new default `stalled` '
             'is a deliberate change) (`benchmarks/refactoring_check.py --ci-scale`), %s. Per arm: the numbers '
             'both checkouts report (times left out), those that differ, and those only the new one reports.'
             % (a.enhancer, res['date']), '',
             '| arm | numbers compared | differing | only after |', '|---|---|---|---|']
    for arm, v in arms.items():
        lines.append('| %s | %d | %s | %s |' % (arm, v['compared'], ', '.join(
            '%s %s → %s' % (k, x, y) for k, (x, y) in v['differing'].items()) or 'none',
            ', '.join(v['only_new']) or 'none'))
    lines += [''] + ['- %s changed on purpose (%s)' % kv for kv in CHANGED_ON_PURPOSE.items()]
    lines += ['', '**%s**' % ('Behaviour unchanged: every number both report is the same, but for the arm '
                             'changed on purpose.' if res['unchanged'] else 'Differences found (above).')]
    write_json_and_markdown(os.path.join(a.out, name), res, '\n'.join(lines) + '\n')
    print('\n'.join(lines))
    return 0 if res['unchanged'] else 1


if __name__ == '__main__':
    sys.exit(main())
