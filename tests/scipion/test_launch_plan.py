"""The command line and the Scipion protocol launch a regularized refinement from one plan."""
import os

import pytest

from relion_dem import cli
from relion_dem.core.runtime import config, launch
from relion_dem.protocols import ProtRelionDemRefine

from conftest import DATA, needs_relion

NEW = ['--i', 'p.star', '--ref', 'r.mrc', '--o', 'Refine/run', '--auto_refine', '--split_random_halves',
       '--auto_local_healpix_order', '4', '--firstiter_cc', '--ini_high', '40']
CONTINUE = ['--continue', 'Refine/run_it000_optimiser.star', '--o', 'Refine/run_ct0']


@pytest.fixture
def inputs(tmp_path):
    (tmp_path / 'p.star').write_text('data_particles\n')
    (tmp_path / 'r.mrc').write_bytes(b'')
    os.makedirs(tmp_path / 'Refine')
    return tmp_path


def write_optimiser(folder, external):
    """RELION 3.1's optimiser STAR of an auto-refine, with external reconstruction on or off."""
    text = open(os.path.join(DATA, 'run_it000_optimiser.star')).read()
    if not external:
        text = text.replace('_rlnDoExternalReconstruct                                        1',
                            '_rlnDoExternalReconstruct                                        0')
    (folder / 'Refine' / 'run_it000_optimiser.star').write_text(text)
    for name in ('sampling', 'data', 'half1_model', 'half2_model'):     # what --continue reads besides
        (folder / 'Refine' / ('run_it000_%s.star' % name)).write_text('data_\n')


def cli_plan(args, cwd):
    """The plan ``relion_dem refine -- ARGS`` builds, with the command line's defaults."""
    a = cli.build_parser().parse_args(['refine', '--'] + args)
    return launch.plan(args, cli._settings(a), cwd=str(cwd))


def protocol_plan(args, cwd):
    """The plan the protocol's runJob builds, with the form's defaults."""
    return ProtRelionDemRefine().launchPlan(' '.join(args), cwd=str(cwd))


@needs_relion
def test_new_run_same_plan(inputs):
    ours, theirs = cli_plan(NEW, inputs), protocol_plan(NEW, inputs)
    assert ours == theirs
    assert ours.extra_args == ['--external_reconstruct']
    assert ours.config['local_healpix_order'] == 4 and ours.config['gate'] == config.DEFAULTS['gate']
    assert ours.config_path == str(inputs / 'Refine' / 'run_relion_dem.json')
    assert ours.config['log'] == str(inputs / 'Refine' / 'run_relion_dem.jsonl')
    assert ours.env['RELION_DEM_CONFIG'] == ours.config_path
    assert os.access(ours.env['RELION_EXTERNAL_RECONSTRUCT_EXECUTABLE'], os.X_OK)


@needs_relion
@pytest.mark.parametrize('external, extra', [(True, []), (False, ['--external_reconstruct'])])
def test_continued_run_same_plan(inputs, external, extra):
    """A continued run gets the flag only when its optimiser STAR does not already have it
    (RELION takes it from there), its local-search order from that STAR, and its own log."""
    write_optimiser(inputs, external)
    ours, theirs = cli_plan(CONTINUE, inputs), protocol_plan(CONTINUE, inputs)
    assert ours == theirs
    assert ours.extra_args == extra
    assert ours.config['local_healpix_order'] == 2      # _rlnAutoLocalSearchesHealpixOrder
    assert ours.config['log'] == str(inputs / 'Refine' / 'run_ct0_relion_dem.jsonl')


@needs_relion
@pytest.mark.bad_input
def test_blush_refused_by_command_line_and_protocol(inputs, capsys, monkeypatch):
    monkeypatch.chdir(inputs)
    assert cli.main(['refine', '--dry-run', '--'] + NEW + ['--blush']) == 2
    assert '--blush: RELION 5 then runs Blush in place of the external reconstruction' in capsys.readouterr().err
    assert not (inputs / 'Refine' / 'run_relion_dem.json').exists()
    prot = ProtRelionDemRefine()
    with pytest.raises(launch.RefineError, match='--blush'):
        prot.launchPlan(' '.join(NEW + ['--blush']), cwd=str(inputs))
    prot.extraParams.set('--blush')
    assert any('--blush (Additional arguments)' in e for e in prot._validateRelion())
    prot.extraParams.set('')
    assert not [e for e in prot._validateRelion() if 'lush' in e]


def test_relion_4_0_2_and_later_continue_passes_the_flag_again(inputs):
    """RELION >= 4.0.2 resets external reconstruction on --continue (3.1 to 4.0.1 keep the
    optimiser STAR's): without the flag again a continued run would never be regularized
    (seen with scipion-em-relion 4.0.20 on RELION 4.0.2: the continued run made no call)."""
    write_optimiser(inputs, True)
    flag = ['--external_reconstruct']
    for version, extra in (((3, 1, 3), []), ((4, 0, 1), []), ((4, 0, 2), flag), ((4, 0), flag),
                           ((5, 0, 1), flag)):
        plan = launch.plan(CONTINUE, {'enhancer': 'none'}, cwd=str(inputs), relion_version=version)
        assert plan.extra_args == extra, version


def test_relion_4_plan_skips_gridding_unless_asked(inputs):
    """RELION >= 4 reconstructs without gridding by default: the plain path must match."""
    settings = {'enhancer': 'none'}
    assert launch.plan(NEW, settings, cwd=str(inputs), relion_version=(3, 1, 3)).skip_gridding is False
    assert launch.plan(NEW, settings, cwd=str(inputs), relion_version=(5, 0, 1)).config['skip_gridding'] is True
    assert launch.plan(NEW + ['--dont_skip_gridding'], settings, cwd=str(inputs),
                       relion_version=(4, 0, 2)).skip_gridding is False

