import pytest
import os
import stat

from relion_dem.core import doctor
from conftest import needs_relion


@needs_relion
def test_doctor_passes_here(capsys):
    assert doctor.main([]) == 0
    out = capsys.readouterr().out
    assert '[ ok ] RELION' in out and '[ ok ] MPI' in out


def _fake_relion(folder, version):
    bindir = folder / 'relion-3.0' / 'bin'
    bindir.mkdir(parents=True)
    for prog in ('relion_refine_mpi', 'relion_external_reconstruct', 'relion_postprocess', 'relion_project'):
        exe = bindir / prog
        exe.write_text('#!/bin/sh\necho "RELION version: %s"\n' % version)
        exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    return str(folder / 'relion-3.0')


@pytest.mark.bad_input
def test_doctor_reports_old_relion_with_fix(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv('RELION_HOME', _fake_relion(tmp_path, '3.0.8'))
    assert doctor.main([]) == 1
    out = capsys.readouterr().out
    assert '[FAIL] RELION' in out and 'needs >= 3.1' in out and 'fix:' in out


@pytest.mark.bad_input
def test_doctor_reports_missing_relion_with_fix(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv('RELION_HOME', raising=False)
    monkeypatch.setenv('PATH', str(tmp_path))
    assert doctor.main([]) == 1
    out = capsys.readouterr().out
    assert 'relion_refine_mpi not found' in out and 'apt-get install relion' in out
