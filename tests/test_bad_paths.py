"""Bad paths given to every subcommand (issue 22): a missing path, an empty folder, a folder
or file that is not a RELION run. Each must stop with exit status 2 and a message on stderr
naming the path and the problem: never an empty success, never a traceback. Real files in
tmp_path, no mocks; the "is this a RELION run" check is :meth:`RelionRun.problem`."""
import os
import shutil
import subprocess
import sys

import pytest

from relion_dem import cli
from relion_dem.core.io.layout import RelionRun

from conftest import DATA, needs_relion

#: subcommands of cli.DELEGATED not swept, and why
EXCLUDED = {
    'bench': 'takes no input path: its --out is a folder it creates, and a run simulates and '
             'refines for hours (relion_dem_dev, a checkout only)',
    'install-network': 'its only path, --prefix, is the environment it creates (a missing one is the '
                       'normal case); anything else downloads TensorFlow',
}

#: subcommands of cli.DELEGATED swept below (with log and refine, which cli.py runs itself)
SWEPT = ('compare', 'denoise', 'doctor')

#: what each kind of bad path is, relative to tmp_path (the current folder in the tests)
PATHS = {
    'missing': 'nope/run',
    'empty folder': 'empty',
    'root in an empty folder': 'empty/run',
    'root of no run': 'other/run',
    'text file': 'notes.txt',
}
#: what the message says of each kind, for a run root (log, compare, denoise --root)
ROOT_PROBLEM = {
    'missing': 'folder nope does not exist',
    'empty folder': 'a folder, not a run root (no RELION run in it)',
    'root in an empty folder': 'no RELION run there (no empty/run_it*_optimiser.star, no '
                               'empty/run_relion_dem.jsonl)',
    'root of no run': 'no RELION run there (no other/run_it*_optimiser.star',
    'text file': 'a file, not a run root',
}


@pytest.fixture
def places(tmp_path, monkeypatch):
    """tmp_path, made the current folder, with an empty folder, a text file, and a folder of
    files that are no RELION run (a two-digit iteration is not RELION's name)."""
    monkeypatch.chdir(tmp_path)
    os.makedirs('empty')
    os.makedirs('other')
    for name in ('run.txt', 'run_notes.star', 'run_it01_optimiser.star', 'run_half1.mrc'):
        with open(os.path.join('other', name), 'w') as f:
            f.write('not RELION\n')
    with open('notes.txt', 'w') as f:
        f.write('some notes\n')
    return tmp_path


def run(argv, capsys):
    """(exit status, stderr) of ``relion_dem ARGV`` in this process."""
    try:
        rc = cli.main(argv)
    except SystemExit as e:         # argparse's usage errors
        rc = e.code
    return rc, capsys.readouterr().err


def assert_refused(rc, err, path, problem):
    assert rc == 2, err
    assert path in err and problem in err, err
    assert 'Traceback' not in err


def test_every_subcommand_is_swept_or_excluded_with_a_reason():
    assert set(cli.DELEGATED) == set(SWEPT) | set(EXCLUDED)
    assert not set(SWEPT) & set(EXCLUDED) and all(EXCLUDED.values())


# ----------------------------------------------------------------------------- run roots

@pytest.mark.bad_input
@pytest.mark.parametrize('kind', sorted(PATHS))
def test_log(places, capsys, kind):
    rc, err = run(['log', PATHS[kind]], capsys)
    assert_refused(rc, err, PATHS[kind], ROOT_PROBLEM[kind])
    assert err.startswith('relion_dem log: ERROR: %s: ' % PATHS[kind])


@pytest.mark.bad_input
@pytest.mark.parametrize('kind', sorted(PATHS))
def test_compare(places, capsys, kind):
    problem = ('no RELION auto-refine run in this folder' if kind == 'empty folder' else ROOT_PROBLEM[kind])
    rc, err = run(['compare', PATHS[kind], '--out', 'report'], capsys)
    assert_refused(rc, err, PATHS[kind], problem)
    assert err.startswith('relion_dem compare: ERROR: ') and not os.path.exists('report')


@pytest.mark.bad_input
@pytest.mark.parametrize('kind', sorted(PATHS))
def test_denoise_root(places, capsys, kind):
    rc, err = run(['denoise', '--root', PATHS[kind], '--out', 'out.mrc'], capsys)
    assert_refused(rc, err, '--root ' + PATHS[kind], ROOT_PROBLEM[kind])
    assert not os.path.exists('out.mrc')


@pytest.mark.bad_input
@pytest.mark.parametrize('kind, problem', [('missing', 'half-map does not exist'),
                                           ('empty folder', 'not a readable MRC map'),
                                           ('text file', 'not a readable MRC map')])
def test_denoise_halves(places, capsys, kind, problem):
    rc, err = run(['denoise', PATHS[kind], PATHS[kind], '--out', 'out.mrc'], capsys)
    assert_refused(rc, err, PATHS[kind], problem)


@pytest.mark.bad_input
def test_doctor_takes_no_path(places, capsys):
    rc, err = run(['doctor', PATHS['missing']], capsys)
    assert_refused(rc, err, PATHS['missing'], 'unrecognized arguments')


# ----------------------------------------------------------------------------- refine

def refine(args, capsys):
    return run(['refine', '--dry-run', '--enhancer', 'none', '--'] + args + ['--o', 'Refine/ct'], capsys)


def optimiser_set(folder, skip=()):
    """A real optimiser STAR (RELION 3.1's, iteration 0) and the files --continue reads beside it."""
    os.makedirs(folder, exist_ok=True)
    shutil.copy(os.path.join(DATA, 'run_it000_optimiser.star'), folder)
    for name in ('sampling', 'data', 'half1_model', 'half2_model'):
        if name not in skip:
            with open(os.path.join(folder, 'run_it000_%s.star' % name), 'w') as f:
                f.write('data_\n')
    return os.path.join(folder, 'run_it000_optimiser.star')


@pytest.mark.bad_input
@pytest.mark.parametrize('path, content, problem', [
    ('nope/run_it003_optimiser.star', None, 'file does not exist'),
    ('empty', None, 'a folder, not an optimiser STAR'),
    ('notes.txt', None, 'not an optimiser STAR name (expected <root>_itNNN_optimiser.star)'),
    ('bad/run_it003_optimiser.star', 'some text\n', 'content before the first data_ block'),
    ('bad/run_it004_optimiser.star', '', 'no data_ block; not a STAR file'),
    ('bad/run_it005_optimiser.star', 'data_model_general\n_rlnPixelSize 1\n', 'no block data_optimiser_general'),
])
def test_refine_continue(places, capsys, path, content, problem):
    if content is not None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'w') as f:
            f.write(content)
    rc, err = refine(['--continue', path], capsys)
    assert_refused(rc, err, path, problem)
    assert err.startswith('relion_dem refine: ERROR: --continue ')
    assert not os.path.exists('Refine/ct_relion_dem.json')


@pytest.mark.bad_input
def test_refine_continue_without_the_iterations_files(places, capsys):
    """An optimiser STAR copied alone: relion_refine --continue would fail on the files it names."""
    path = optimiser_set('Refine', skip=('data', 'half2_model'))
    rc, err = refine(['--continue', path], capsys)
    assert_refused(rc, err, path, 'Refine/run: iteration 0 is incomplete (no Refine/run_it000_data.star, '
                                  'no Refine/run_it000_half2_model.star)')


@pytest.mark.bad_input
@pytest.mark.parametrize('option', ['--i', '--ref'])
@pytest.mark.parametrize('kind', ['missing', 'root in an empty folder'])
def test_refine_new_run_inputs(places, capsys, option, kind):
    with open('p.star', 'w') as f:
        f.write('data_particles\n')
    given = {'--i': 'p.star', '--ref': 'p.star', option: PATHS[kind]}
    rc, err = refine(['--i', given['--i'], '--ref', given['--ref'], '--auto_refine', '--split_random_halves'],
                     capsys)
    assert_refused(rc, err, '%s %s' % (option, PATHS[kind]), 'file does not exist')


# ----------------------------------------------------------------------------- what is a run

def test_problem_accepts_each_sign_of_a_run(tmp_path):
    root = str(tmp_path / 'Refine' / 'run')
    os.makedirs(os.path.dirname(root))
    run = RelionRun(root)
    assert 'no RELION run there' in run.problem()
    for path in (run.optimiser(0), run.sampling(3), run.half_map(1), run.final_model, run.log):
        open(path, 'w').close()
        assert run.problem() is None, path
        os.remove(path)
    assert RelionRun(os.path.dirname(root)).problem() == '%s: a folder, not a run root (no RELION run in it)' \
        % os.path.dirname(root)
    open(run.sampling(3), 'w').close()
    assert RelionRun(os.path.dirname(root)).problem().endswith('(give one of its runs: %s)' % root)
    assert run.problem(3).startswith('%s: iteration 3 is incomplete (no %s, no ' % (root, run.optimiser(3)))


def test_log_of_a_run_without_relion_dem_says_so(places, capsys):
    os.makedirs('Refine')
    open('Refine/run_it000_optimiser.star', 'w').close()
    rc, err = run(['log', 'Refine/run'], capsys)
    assert rc == 0 and 'Refine/run: no run log (Refine/run_relion_dem.jsonl)' in err


@pytest.mark.bad_input
@pytest.mark.parametrize('log, problem', [('nope.jsonl', '--log nope.jsonl: does not exist'),
                                          ('empty', '--log empty: not a file'),
                                          ('notes.txt', 'notes.txt: not a relion_dem run log')])
def test_log_with_a_bad_run_log(places, capsys, log, problem):
    os.makedirs('Refine')
    open('Refine/run_it000_optimiser.star', 'w').close()
    rc, err = run(['log', 'Refine/run', '--log', log], capsys)
    assert_refused(rc, err, log, problem)


@needs_relion
def test_refine_continue_of_a_complete_iteration_is_launched(places, capsys):
    path = optimiser_set('Refine')
    rc, err = refine(['--continue', path], capsys)
    assert rc == 0, err
    assert os.path.exists('Refine/ct_relion_dem.json')


@pytest.mark.bad_input
def test_console_log_of_a_missing_root(tmp_path):
    """The case found: ``relion_dem log`` on a root that does not exist exited 0, empty table."""
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), 'relion_dem'), 'log', 'Refine/run'],
                          cwd=str(tmp_path), capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr == 'relion_dem log: ERROR: Refine/run: folder Refine does not exist\n'
    assert proc.stdout == ''


@pytest.mark.bad_input
@pytest.mark.parametrize('kind', ['missing', 'text file'])
def test_simulate_names_a_bad_model(places, capsys, kind):
    """``relion_dem simulate`` with a model that is missing or not an atomic model: exit 2 and a
    message naming it, no traceback, no output folder half made."""
    path = {'missing': 'nope/model.pdb', 'text file': 'notes.txt'}[kind]
    assert cli.main(['simulate', path, 'out', '-n', '4', '--box', '16']) == 2
    err = capsys.readouterr().err
    assert err.startswith('relion_dem simulate: ERROR: ') and path in err
