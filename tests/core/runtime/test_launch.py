import json
import os

import pytest

from relion_dem.core.runtime import config, launch as refine
from relion_dem import cli
from conftest import needs_relion

BASE = ['--i', 'p.star', '--ref', 'r.mrc', '--o', 'Refine/run', '--auto_refine', '--split_random_halves',
        '--auto_local_healpix_order', '3']


@pytest.fixture
def inputs(tmp_path):
    (tmp_path / 'p.star').write_text('data_particles\n')
    (tmp_path / 'r.mrc').write_bytes(b'')
    return tmp_path


@needs_relion
def test_prepare_writes_config_and_command(inputs):
    argv, env, cfg = refine.prepare(BASE, {'enhancer': 'classical'}, 3, cwd=str(inputs))
    assert argv[:3] == ['mpirun', '-np', '3'] and argv[3].endswith('relion_refine_mpi')
    assert argv[-1] == '--external_reconstruct' and argv.count('--external_reconstruct') == 1
    assert env['RELION_DEM_CONFIG'] == cfg == str(inputs / 'Refine' / 'run_relion_dem.json')
    assert os.access(env['RELION_EXTERNAL_RECONSTRUCT_EXECUTABLE'], os.X_OK)
    written = json.load(open(cfg))
    assert written['local_healpix_order'] == 3 and written['enhancer'] == 'classical'
    assert written['log'] == str(inputs / 'Refine' / 'run_relion_dem.jsonl')
    assert written['minres_map'] == 5
    refine.prepare(BASE + ['--minres_map', '3'], {'enhancer': 'none'}, 3, cwd=str(inputs))
    assert json.load(open(cfg))['minres_map'] == 3      # as relion_refine was told


@pytest.mark.parametrize('args, np_procs, message', [
    ([a for a in BASE if a not in ('--o', 'Refine/run')], 3, 'need --o'),
    ([a for a in BASE if a != '--auto_refine'], 3, 'add --auto_refine'),
    ([a for a in BASE if a != '--split_random_halves'], 3, 'needs --split_random_halves'),
    (BASE, 2, 'at least 3 MPI processes'),
    (['--i', 'missing file.star'] + BASE[2:], 3, '--i missing file.star: file does not exist'),
    (BASE + ['--minres_map', 'low'], 3, '--minres_map low: not an integer'),
])
@pytest.mark.bad_input
def test_prepare_refuses_with_clear_message(inputs, args, np_procs, message):
    with pytest.raises(refine.RefineError, match=message):
        refine.prepare(args, {'enhancer': 'none'}, np_procs, cwd=str(inputs))
    assert not (inputs / 'Refine' / 'run_relion_dem.json').exists()


@needs_relion
def test_cli_dry_run_and_bad_option(inputs, monkeypatch, capsys):
    monkeypatch.chdir(inputs)
    assert cli.main(['refine', '--dry-run', '--enhancer', 'classical', '--'] + BASE) == 0
    out = capsys.readouterr().out
    assert 'relion_refine_mpi' in out and '--external_reconstruct' in out
    assert cli.main(['refine', '--enhancer', 'command', '--'] + BASE) == 2
    assert 'option argv must be a list' in capsys.readouterr().err


@needs_relion
def test_cli_guard_options_reach_the_run_configuration(inputs, monkeypatch):
    monkeypatch.chdir(inputs)
    assert cli.main(['refine', '--dry-run', '--enhancer', 'classical', '--harm-directions', 'sampled',
                     '--harm-power-bound', 'data', '--'] + BASE) == 0
    cfg = config.load(str(inputs / 'Refine' / 'run_relion_dem.json'))
    assert cfg['harm_directions'] == 'sampled' and cfg['harm_power_bound'] == 'data' and cfg['harm_guard']
