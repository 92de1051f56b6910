"""The network environment installer: locations, checks, idempotence (no download in tests)."""
import os
import subprocess
import sys

import pytest

from relion_dem.core.network import install

NETENV_WHY = install.env_status()
needs_netenv = pytest.mark.skipif(NETENV_WHY is not None, reason='network environment absent (%s); create it '
                                  'with `relion_dem install-network`' % NETENV_WHY)


def test_default_location_and_override(monkeypatch, tmp_path):
    monkeypatch.delenv('RELION_DEM_NETENV', raising=False)
    monkeypatch.delenv('RELION_DEM_NETWORK_PYTHON', raising=False)
    assert install.default_prefix() == os.path.expanduser('~/.relion_dem/netenv')
    assert install.default_python() == os.path.expanduser('~/.relion_dem/netenv/bin/python')
    monkeypatch.setenv('RELION_DEM_NETENV', str(tmp_path / 'env'))
    assert install.default_python() == str(tmp_path / 'env' / 'bin' / 'python')
    monkeypatch.setenv('RELION_DEM_NETWORK_PYTHON', '/some/python')
    assert install.default_python() == '/some/python'


def test_check_env_reports_missing_python_and_missing_module(tmp_path):
    assert 'does not exist' in install.check_env(str(tmp_path / 'nope' / 'python'))
    assert install.check_env(sys.executable, ('json',)) is None
    why = install.check_env(sys.executable, ('no_such_module_relion_dem',))
    assert 'cannot import' in why and 'no_such_module_relion_dem' in why


def test_check_mode_fails_for_absent_env(tmp_path, capsys):
    assert install.main(['--check', '--prefix', str(tmp_path / 'absent')]) == 1
    assert 'does not exist' in capsys.readouterr().err


def test_cli_reaches_the_installer():
    proc = subprocess.run([sys.executable, '-m', 'relion_dem.cli', 'install-network', '--help'],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and '--prefix' in proc.stdout and 'tensorflow' in proc.stdout


@needs_netenv
def test_existing_environment_is_left_as_is_and_its_python_printed(capsys):
    """Idempotent: a complete environment is detected without pip; the python path is the last line."""
    prefix = os.path.dirname(os.path.dirname(install.default_python()))
    if install.env_python(prefix) != install.default_python():
        pytest.skip('RELION_DEM_NETWORK_PYTHON points outside a venv prefix')
    assert install.main(['--prefix', prefix]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1] == install.env_python(prefix)
    assert any('is complete' in line for line in out)
