import json

import pytest

from relion_dem.core.runtime import config


def test_defaults_fill_in():
    c = config.validate({'enhancer': 'classical'})
    assert c['gate'] == config.DEFAULTS['gate'] and c['fsc_guard'] is True and c['harm_power_bound'] == 'plain'
    assert c['guard_threshold'] == pytest.approx(1 / 7)
    assert c['minres_map'] == 5          # relion_refine's --minres_map default


@pytest.mark.parametrize('bad, message', [
    ({'enhancr': 'none'}, 'unknown setting(s) enhancr'),
    ({'enhancer': 'magic'}, "enhancer 'magic' is not one of"),
    ({'gate': 'sometimes'}, "gate 'sometimes' is not one of"),
    ({'harm_directions': 'some'}, "harm_directions 'some' is not one of all, sampled"),
    ({'timeout_s': -1}, 'timeout_s must be a non-negative number'),
    ({'voxel_size': 0}, 'voxel_size must be a positive number'),
    ({'minres_map': 2.5}, 'minres_map must be a non-negative integer'),
])
@pytest.mark.bad_input
def test_bad_settings_named(bad, message):
    with pytest.raises(config.ConfigError) as e:
        config.validate(bad, 'cfg.json')
    assert message in str(e.value) and 'cfg.json' in str(e.value)


@pytest.mark.bad_input
def test_load_reports_bad_json(tmp_path):
    p = tmp_path / 'relion_dem.json'
    p.write_text('{"enhancer": ')
    with pytest.raises(config.ConfigError, match='relion_dem.json: not valid JSON'):
        config.load(p)


def test_locate_order(tmp_path, monkeypatch):
    monkeypatch.delenv(config.ENV_VAR, raising=False)
    root = str(tmp_path / 'run')
    assert config.locate(root) is None
    (tmp_path / 'relion_dem.json').write_text('{}')
    assert config.locate(root) == str(tmp_path / 'relion_dem.json')
    config.write(root + '_relion_dem.json', {'enhancer': 'none'})
    assert config.locate(root) == root + '_relion_dem.json'
    assert json.load(open(root + '_relion_dem.json'))['enhancer'] == 'none'
    monkeypatch.setenv(config.ENV_VAR, '/elsewhere.json')
    assert config.locate(root) == '/elsewhere.json'
