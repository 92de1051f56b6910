#!/usr/bin/env python3
"""Mutation check of the safety paths: disable each one and make sure a test fails.

    .venv/bin/python scripts/mutation-check.py [--list] [NAME ...]

For each safety path (FSC guard, do-no-harm guard, gate, fallback, atomic write, device
lock, denoise's overwrite refusal; and the plain path's equality with RELION's own
reconstruction, on which every comparison with vanilla RELION rests) a copy of the package is made with that path disabled
by one textual change, and the tests that should catch it run against the copy (from its
folder and with PYTHONPATH pointing at it, so the tests and the console scripts they start
both load the mutant). A path
whose tests all still pass is *not tested*: the script prints the table and exits 1.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: name, file, text, replacement, tests that must catch it[, the RELION version the path exists for]
MUTATIONS = [
    ('FSC guard: blend is a no-op', 'relion_dem/core/guards/fsc.py',
     '    return out.astype(np.float32), cut', '    return enhanced, cut',
     ['tests/core/runtime/test_extrec.py', 'tests/core/guards/test_fsc.py']),
    ('do-no-harm guard: never applied', 'relion_dem/core/guards/__init__.py',
     '    if use_harm:\n', '    if False:\n',
     ['tests/core/runtime/test_extrec.py']),
    ('do-no-harm guard: never falls back', 'relion_dem/core/guards/harm.py',
     '    if fraction > MAX_FAILING_SIGNAL:', '    if False:',
     ['tests/core/guards/test_harm.py', 'tests/core/runtime/test_extrec.py']),
    ('do-no-harm guard: louder shells not scaled', 'relion_dem/core/guards/harm.py',
     '    gain[scaled] = np.sqrt(limit[scaled] / ratio[scaled])\n', '',
     ['tests/core/guards/test_harm.py']),
    ('do-no-harm guard: loud unsampled directions not scaled', 'relion_dem/core/guards/harm.py',
     '        rest_gain[loud] = np.sqrt(ANISOTROPY * allowed[loud] / per[loud])\n', '',
     ['tests/core/guards/test_harm.py']),
    ('do-no-harm guard: sampled directions never judged', 'relion_dem/core/guards/__init__.py',
     '            sampled = harm_guard.sampled_coefficients(weight, cutoff)\n', '            sampled = None\n',
     ['tests/core/runtime/test_extrec.py']),
    ('guards: a request without a usable FSC accepted', 'relion_dem/core/guards/__init__.py',
     "    values = np.asarray(fsc if fsc is not None else [], dtype=float).ravel()\n", '    return None\n',
     ['tests/core/guards/test_guards.py', 'tests/core/runtime/test_extrec.py']),
    ('gate: always open', 'relion_dem/core/runtime/gate.py',
     '    hp = healpix_order(call.root, call.iteration)\n',
     '    return Decision(True, "mutant", None, None)\n',
     ['tests/core/runtime/test_gate.py', 'tests/core/runtime/test_extrec.py']),
    ('fallback: enhancer failures stop RELION', 'relion_dem/core/runtime/extrec.py',
     "                record['fallback'] = str(e)", '                raise',
     ['tests/core/runtime/test_extrec.py']),
    ('atomic write: written in place', 'relion_dem/core/io/atomic.py',
     "    fd, tmp = tempfile.mkstemp(prefix='.%s.%s' % (stem, owner_tag()), suffix='.tmp' + ext, dir=folder)\n"
     "    os.close(fd)\n",
     "    tmp = path\n    open(tmp, 'ab').close()\n",
     ['tests/core/io/test_atomic.py', 'tests/core/runtime/test_extrec.py']),
    ('device lock: halves not serialized', 'relion_dem/core/runtime/extrec.py',
     '    if not path:\n        yield 0.0\n        return\n', '    yield 0.0\n    return\n',
     ['tests/core/runtime/test_extrec.py']),
    ('plain path: the prior at every shell (as relion_external_reconstruct alone)',
     'relion_dem/core/runtime/extrec.py', '    without_low_shell_prior(copy, minres_map)\n', '',
     ['tests/integration/test_plain_path.py']),
    ('clean-up: what killed calls left is kept', 'relion_dem/core/runtime/extrec.py',
     '    atomic.remove_abandoned(folder)', '    pass',
     ['tests/core/runtime/test_extrec.py']),
    # RELION >= 4.0.2 resets external reconstruction on --continue unless the flag is given again
    ('RELION >= 4.0.2: --continue left without --external_reconstruct', 'relion_dem/core/runtime/launch.py',
     '        if v + (99,) * (3 - len(v)) >= (4, 0, 2):\n            return True\n', '',
     ['tests/integration/test_faults_in_refinement.py'], (4, 0, 2)),
    # RELION 5's relion_external_reconstruct writes a 1 Å header; the request's voxel size is the run's
    ('RELION 5: the plain map\'s 1 Å header trusted', 'relion_dem/core/runtime/extrec.py',
     '        if request_voxel:\n            header_voxel = None\n', '',
     ['tests/integration/test_relion_versions.py'], (5, 0, 0)),
    ('network server: not the first to go when memory runs out', 'relion_dem/core/network/service.py',
     '        worker.oom_first()', '        pass',
     ['tests/core/network/test_service.py::test_server_is_the_kernels_first_choice_when_memory_runs_out']),
    ('isolation: the regularization in RELION\'s call process', 'relion_dem/core/runtime/extrec.py',
     '                result = _enhance_isolated(', '                result = _enhance(',
     ['tests/core/runtime/test_extrec.py::test_regularization_killed_for_memory_gives_relion_the_plain_map']),
    ('isolation: the regularization\'s child not the first to go', 'relion_dem/core/runtime/isolation.py',
     '            oom_first()\n', '',
     ['tests/core/runtime/test_isolation.py']),
    ('denoise: outputs overwritten', 'relion_dem/core/postprocess/denoise.py',
     '        if os.path.exists(p) and not force:', '        if False:',
     ['tests/core/postprocess/test_denoise.py']),
]


def mutant_copy(name, path, text, replacement):
    """A temporary copy of the package with one change; the copy's folder."""
    folder = tempfile.mkdtemp(prefix='relion_dem_mutant_')
    shutil.copytree(os.path.join(ROOT, 'relion_dem'), os.path.join(folder, 'relion_dem'),
                    ignore=shutil.ignore_patterns('__pycache__'))
    target = os.path.join(folder, path)
    with open(target) as f:
        source = f.read()
    if source.count(text) != 1:
        shutil.rmtree(folder)
        raise SystemExit('mutation-check: %s: the text to change is not found exactly once in %s '
                         '(update MUTATIONS after a refactoring)' % (name, path))
    with open(target, 'w') as f:
        f.write(source.replace(text, replacement))
    return folder


def private_cache(folder):
    """A copy of the tests' cached refinements inside the mutant's folder (empty when there are
    none yet): a refinement a mutant makes must never be cached for the real tests."""
    from shared_refinements import cache_base          # tests/ is on the path (main)
    cache = os.path.join(folder, 'test-cache')
    if os.path.isdir(cache_base()):
        shutil.copytree(cache_base(), cache, ignore=shutil.ignore_patterns('*.lock', 'PlainPath'))
    else:
        os.makedirs(cache)
    return cache


def run_tests(folder, tests):
    env = dict(os.environ, PYTHONPATH=folder + os.pathsep + os.environ.get('PYTHONPATH', ''),
               PYTHONDONTWRITEBYTECODE='1', COLUMNS='400', RELION_DEM_TEST_CACHE=private_cache(folder))
    env.pop('RELION_DEM_RELIABILITY_REPORT', None)
    # run from the mutant's folder: ``python -m`` puts the working folder first on sys.path, so the
    # tests' own process imports the mutant too (not only the programs they start)
    proc = subprocess.run([sys.executable, '-m', 'pytest', '-q', '-x', '-p', 'no:cacheprovider', '-rf',
                           '--rootdir', ROOT, '-c', os.path.join(ROOT, 'pytest.ini')]
                          + [os.path.join(ROOT, t) for t in tests],
                          cwd=folder, env=env, capture_output=True, text=True)
    # '-rf' summary lines: FAILED <test> - <the failing assertion or error> (COLUMNS: not cut short)
    failed = []
    for line in proc.stdout.splitlines():
        if line.startswith('FAILED '):
            test, sep, why = line[len('FAILED '):].partition(' - ')
            failed.append(os.path.relpath(test, ROOT) + sep + why)
    return proc.returncode, failed


def asserted(summary):
    """Whether a pytest '-rf' summary line reports a failed assertion (not an error)."""
    why = summary.partition(' - ')[2]
    return why.startswith(('assert', 'AssertionError', 'Failed:')) or 'AssertionError' in why


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('names', nargs='*', help='run only the mutations whose name starts with one of these')
    p.add_argument('--list', action='store_true')
    a = p.parse_args(argv)
    chosen = [m for m in MUTATIONS if not a.names or any(m[0].startswith(n) for n in a.names)]
    if a.list:
        for m in chosen:
            print(m[0])
        return 0
    rows, missed = [], []
    sys.path[:0] = [ROOT, os.path.join(ROOT, 'tests')]
    from relion_dem.core.io import relion
    here = relion.version() or ()
    for name, path, text, replacement, tests, *needs in chosen:
        if needs and tuple(here) < needs[0]:
            rows.append((name, 'skipped', 'needs RELION >= %s; this one is %s (the RELION 5 leg runs it)'
                         % ('.'.join(map(str, needs[0])), '.'.join(map(str, here)) or 'unknown'), 0.0))
            print('%-42s %-10s %s (%.0f s)' % rows[-1], flush=True)
            continue
        t = time.time()
        folder = mutant_copy(name, path, text, replacement)
        try:
            rc, failed = run_tests(folder, tests)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        # caught: a test's assertion fails (an error such as a crash does not count: it can vanish
        # with an unrelated change while the safety path stays untested)
        caught = rc != 0 and bool(failed) and any(asserted(line) for line in failed)
        failed = [line for line in failed if asserted(line)] or failed
        if not caught:
            missed.append(name)
        rows.append((name, 'caught' if caught else 'NOT CAUGHT', failed[0] if failed else '-', time.time() - t))
        print('%-42s %-10s %s (%.0f s)' % rows[-1], flush=True)
    print('\n| safety path disabled | result | first failing test - what it asserts |\n|---|---|---|')
    for name, result, test, _ in rows:
        print('| %s | %s | %s |' % (name, result, test))
    ran = [r for r in rows if r[1] != 'skipped']
    print('\nmutation check: %d of %d disabled safety paths caught by a test%s'
          % (len(ran) - len(missed), len(ran), '' if len(ran) == len(rows) else
             ' (%d skipped: they need a newer RELION)' % (len(rows) - len(ran))))
    return 1 if missed else 0


if __name__ == '__main__':
    sys.exit(main())
