"""Shared fixtures: real RELION files laid out as a run (tests/data/relion31: Debian's RELION 3.1.3;
tests/data/relion40 and relion50: RELION 4.0.2 and 5.0.1 built from source with
scripts/build-relion.sh, the demo's regularized run at iteration 7)."""
import os
import shutil

import pytest

from shared_refinements import refinements  # noqa: F401  (session fixture)

DATA_DIRS = {v: os.path.join(os.path.dirname(__file__), 'data', v) for v in ('relion31', 'relion40', 'relion50')}
DATA = DATA_DIRS['relion31']
REQUEST = 'run_it007_half1_class001_external_reconstruct'


def relion_available():
    return shutil.which('relion_external_reconstruct') is not None


needs_relion = pytest.mark.skipif(not relion_available(),
                                  reason='RELION (relion_external_reconstruct) is not installed')


def make_run(base, folder='Refine', iteration=7, half=1, local_order_seen=True, version='relion31'):
    """Lay out RELION's files of one external-reconstruct call under ``base/folder``.

    The call is iteration ``iteration`` of half ``half`` (None: the final call); the
    sampling STAR of the previous iteration has healpix order 2 (local searches, since
    the optimiser's --auto_local_healpix_order is 2) when ``local_order_seen``, else 1.
    Returns the STAR path relative to ``base`` (RELION's cwd), as RELION passes it.
    ``version``: the RELION whose files are used (a key of DATA_DIRS).
    """
    data = DATA_DIRS[version]
    os.makedirs(os.path.join(base, folder), exist_ok=True)
    tag = '_half%d' % half if half else ''
    name = 'run_it%03d%s_class001_external_reconstruct' % (iteration, tag)
    rel = os.path.join(folder, name)
    with open(os.path.join(data, REQUEST + '.star')) as f:
        text = f.read().replace('Refine/' + REQUEST, rel)
    with open(os.path.join(base, rel + '.star'), 'w') as f:
        f.write(text)
    for suffix in ('_data_real.mrc', '_data_imag.mrc', '_weight.mrc'):
        shutil.copy(os.path.join(data, REQUEST + suffix), os.path.join(base, rel + suffix))
    sampling = 'run_it006_sampling.star' if local_order_seen else 'run_it005_sampling.star'
    shutil.copy(os.path.join(data, sampling),
                os.path.join(base, folder, 'run_it%03d_sampling.star' % (iteration - 1)))
    shutil.copy(os.path.join(data, 'run_it006_half1_model.star'),
                os.path.join(base, folder, 'run_it%03d_half1_model.star' % (iteration - 1)))
    shutil.copy(os.path.join(data, 'run_it000_optimiser.star'),
                os.path.join(base, folder, 'run_it000_optimiser.star'))
    return rel + '.star'


INPUT_SUFFIXES = ('_data_real.mrc', '_data_imag.mrc', '_weight.mrc')


def _sha1(path):
    import hashlib
    with open(path, 'rb') as f:
        return hashlib.sha1(f.read()).hexdigest()


def _leftovers(folder, fixture_inputs):
    """(path, why) of what must not be left in ``folder`` (:func:`relion_dem.core.io.leftovers.find`)
    and (``fixture_inputs``) RELION inputs that differ from the fixture's."""
    from relion_dem.core.io import leftovers
    originals = {sfx: {_sha1(os.path.join(d, REQUEST + sfx)) for d in DATA_DIRS.values()} for sfx in INPUT_SUFFIXES}

    def altered(path, name):
        sfx = [x for x in INPUT_SUFFIXES if name.endswith(x)]
        if not (sfx and fixture_inputs):
            return None
        if _sha1(path) not in originals[sfx[0]] and not _deliberately_broken(path):
            return 'RELION input altered'
        return False   # an input as the fixture has it (or broken on purpose): not read as a map
    return leftovers.find(folder, altered)


def lost_files(folder):
    """Files a runtime test must never leave behind: temporaries, unreadable maps, altered RELION inputs."""
    return _leftovers(folder, fixture_inputs=True)


def refinement_leftovers(folder):
    """What a refinement (killed, continued, regularized or not) must never leave: the runtime's
    work folders, temporary or half-written files, unreadable maps. Counted in the reliability tally."""
    lost = _leftovers(folder, fixture_inputs=False)
    RELIABILITY['files_lost'] += len(lost)
    RELIABILITY['files_checked'] += 1
    return lost


_BROKEN = set()


def _deliberately_broken(path):
    return os.path.abspath(path) in _BROKEN


def break_file(path, content=b'not a map'):
    """Corrupt a RELION input on purpose (bad-input tests); the lost-file check then ignores it."""
    with open(path, 'wb') as f:
        f.write(content)
    _BROKEN.add(os.path.abspath(path))


@pytest.fixture
def run_dir(tmp_path, monkeypatch):
    """A temporary RELION project folder, made the working directory (as RELION's is).

    After the test, nothing may be lost: no temporary or half-written file left where RELION
    reads, no RELION input altered (counted for the reliability report, and an error).
    """
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv('RELION_DEM_CONFIG', raising=False)
    yield tmp_path
    lost = lost_files(str(tmp_path))
    RELIABILITY['files_lost'] += len(lost)
    RELIABILITY['files_checked'] += 1
    assert not lost, 'files lost: %s' % lost


# ---------------------------------------------------------------- reliability report
RELIABILITY = {'fault': {}, 'bad_input': {}, 'files_lost': 0, 'files_checked': 0}


def pytest_configure(config):
    config.addinivalue_line('markers', 'fault: a fault injected into a real run (must be survived)')
    config.addinivalue_line('markers', 'bad_input: a bad input to an entry point (must give a clear error)')


@pytest.fixture(scope='session', autouse=True)
def network_servers(tmp_path_factory):
    """Persistent network servers started by this session's runs live in a private folder
    and are stopped when the session ends (instead of idling on after it)."""
    from relion_dem.core.network import service
    if os.environ.get('RELION_DEM_SERVER_DIR'):
        yield os.environ['RELION_DEM_SERVER_DIR']
        return
    folder = str(tmp_path_factory.mktemp('servers'))
    os.chmod(folder, 0o700)
    os.environ['RELION_DEM_SERVER_DIR'] = folder
    try:
        yield folder
    finally:
        service.stop_servers(folder)
        del os.environ['RELION_DEM_SERVER_DIR']
        import time
        for _ in range(50):              # a stopped server exits within seconds
            left = service.server_pids(folder)
            if not left:
                break
            time.sleep(0.2)
        assert not left, 'network server process(es) %s left running after the tests' % left


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    for kind in ('fault', 'bad_input'):
        if item.get_closest_marker(kind) is not None:
            if report.when == 'call' or (report.when == 'setup' and report.failed):
                RELIABILITY[kind][item.nodeid] = report.passed
            elif report.when == 'teardown' and report.failed:
                RELIABILITY[kind][item.nodeid] = False


def pytest_sessionfinish(session, exitstatus):
    """Write the tally to ``$RELION_DEM_RELIABILITY_REPORT.{json,md,png}`` (``./dev.sh test``
    sets it to ``build/test-results/reliability``; ``./dev.sh results`` copies it into
    benchmarks/results). Tests never write tracked files."""
    out = os.environ.get('RELION_DEM_RELIABILITY_REPORT')
    if not out:
        return
    if not (RELIABILITY['fault'] or RELIABILITY['bad_input']):
        return
    import json
    faults, bad = RELIABILITY['fault'], RELIABILITY['bad_input']
    summary = dict(faults_injected=len(faults), faults_survived=sum(faults.values()),
                   bad_inputs_tried=len(bad), bad_inputs_clear_error=sum(bad.values()),
                   files_lost=RELIABILITY['files_lost'], runs_checked_for_lost_files=RELIABILITY['files_checked'],
                   tests={k: v for d in (faults, bad) for k, v in sorted(d.items())})
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out + '.json', 'w') as f:
        json.dump(summary, f, indent=1)
    with open(out + '.md', 'w') as f:
        f.write('# Reliability (written by the test suite)\n\n'
                '| faults injected | survived | bad inputs tried | clear errors | files lost |\n'
                '|---|---|---|---|---|\n| %d | %d | %d | %d | %d |\n\n'
                % (summary['faults_injected'], summary['faults_survived'], summary['bad_inputs_tried'],
                   summary['bad_inputs_clear_error'], summary['files_lost']))
        for name, ok in summary['tests'].items():
            f.write('- %s %s\n' % ('ok  ' if ok else 'FAIL', name))
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 2.6))
    labels = ['faults', 'bad inputs', 'files lost']
    tried = [summary['faults_injected'], summary['bad_inputs_tried'], summary['files_lost']]
    good = [summary['faults_survived'], summary['bad_inputs_clear_error'], 0]
    ax.barh(labels, tried, color='#d9d9d9', label='tried / lost')
    ax.barh(labels, good, color='#2b8cbe', label='survived / clear error')
    for i, (t, g) in enumerate(zip(tried, good)):
        ax.text(max(t, 0.5) + 0.3, i, '%d / %d' % (g, t) if i < 2 else str(t), va='center')
    ax.set_xlim(0, max(tried + [1]) * 1.25)
    ax.legend(loc='lower right', fontsize=8)
    ax.set_title('relion_dem reliability (test suite)')
    fig.tight_layout()
    fig.savefig(out + '.png', dpi=100)
    plt.close(fig)
