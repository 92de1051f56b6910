"""Live checks against a RELION >= 4 installation, when one is here (RELION_DEM_RELION_HOMES, a
colon-separated list of RELION homes, else /opt/relion-*); skipped, saying so, otherwise.
CI's RELION is Debian's 3.1.3; scripts/build-relion.sh builds 4.0 or 5.0 from source."""
import glob
import os
import re
import subprocess
import sys

import pytest

from relion_dem.core.io import mrc
from relion_dem.core.runtime import config, launch, runlog

from conftest import make_run

HOMES = [h for h in os.environ.get('RELION_DEM_RELION_HOMES', '').split(':') if h] or sorted(glob.glob('/opt/relion-*'))


def newer_homes():
    """[(home, version)] of the RELION >= 4 installations in HOMES."""
    found = []
    for home in HOMES:
        exe = os.path.join(home, 'bin', 'relion_refine')
        if not os.access(exe, os.X_OK):
            continue
        out = subprocess.run([exe, '--version'], capture_output=True, text=True).stdout
        m = re.search(r'RELION version:\s*(\d+)\.(\d+)', out)
        if m and (int(m.group(1)), int(m.group(2))) >= (4, 0):
            found.append((home, (int(m.group(1)), int(m.group(2)))))
    return found


FOUND = newer_homes()
pytestmark = pytest.mark.skipif(not FOUND, reason='no RELION >= 4 installation (set RELION_DEM_RELION_HOMES, '
                                                  'or build one with scripts/build-relion.sh)')


@pytest.fixture(params=FOUND, ids=lambda hv: 'relion-%d.%d' % hv[1][:2])
def relion_home(request, monkeypatch):
    home, v = request.param
    monkeypatch.setenv('RELION_HOME', home)
    return home, v


def test_plan_skips_gridding_on_this_relion(relion_home, tmp_path):
    (tmp_path / 'p.star').write_text('data_particles\n')
    (tmp_path / 'r.mrc').write_bytes(b'')
    args = ['--i', 'p.star', '--ref', 'r.mrc', '--o', 'Refine/run', '--auto_refine', '--split_random_halves']
    assert launch.plan(args, {'enhancer': 'none'}, cwd=str(tmp_path)).skip_gridding is True
    assert launch.plan(args + ['--dont_skip_gridding'], {'enhancer': 'none'}, cwd=str(tmp_path)).skip_gridding is False


@pytest.mark.parametrize('version', ['relion40', 'relion50'])
def test_request_with_this_relions_reconstruction(relion_home, run_dir, version):
    """RELION 4's and 5's requests, reconstructed by this RELION's relion_external_reconstruct
    --skip_gridding (its result header says 1 Å: the request's 3 Å is used), then regularized."""
    star_path = make_run(run_dir, version=version)
    config.write(os.path.join('Refine', 'relion_dem.json'), {'enhancer': 'classical', 'skip_gridding': True})
    exe = os.path.join(os.path.dirname(sys.executable), 'relion_dem_extrec')
    proc = subprocess.run([exe, star_path], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    rec, = runlog.read('Refine/run_relion_dem.jsonl')
    assert rec['voxel_size'] == pytest.approx(3.0) and rec['regularized'] and rec['fallback'] is None
    data, voxel = mrc.read(star_path.replace('.star', '.mrc'))
    assert data.shape == (40, 40, 40) and voxel == pytest.approx(3.0)


def test_doctor_names_the_version_and_blush(relion_home, capsys):
    from relion_dem.core import doctor
    home, v = relion_home
    doctor.main([])
    out = capsys.readouterr().out
    assert 'RELION %d.%d' % v[:2] in out and 'skip gridding' in out
    if v[0] >= 5:
        assert 'Blush present' in out or 'no Blush' in out
    # which RELION / scipion-em-relion pair this is, and whether CI tests it
    plugin = doctor.scipion_em_relion_version()
    major = int(plugin.split('.')[0]) if plugin else None
    assert re.search(r'tested versions +RELION %d\.%d\.\d+ with ' % v[:2], out)
    assert doctor.TESTED_PAIRS.get((v[:2], major), 'no CI leg tests this pair') in out
    if v[:2] == (5, 0) and major is None:
        assert 'RELION 5.0.1 leg' in out
