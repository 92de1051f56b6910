"""The console commands a user types after the README set-up."""
import os
import subprocess
import sys

import pytest

BIN = os.path.dirname(sys.executable)


@pytest.mark.parametrize('argv, expect', [
    (['relion_dem_extrec', '--help'], 'RELION_EXTERNAL_RECONSTRUCT_EXECUTABLE'),
    (['relion_dem', '--help'], 'refine'),
    (['relion_dem', 'refine', '--help'], '--enhancer'),
    (['relion_dem', 'simulate', '--help'], '--snr'),
    (['relion_dem', 'log', '--help'], 'run root'),
    (['relion_dem', 'doctor', '--help'], 'check the set-up'),
])
def test_help(argv, expect):
    proc = subprocess.run([os.path.join(BIN, argv[0])] + argv[1:], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert expect in proc.stdout


@pytest.mark.bad_input
def test_extrec_without_argument_explains_usage():
    proc = subprocess.run([os.path.join(BIN, 'relion_dem_extrec')], capture_output=True, text=True)
    assert proc.returncode == 2 and 'usage: relion_dem_extrec' in proc.stderr


@pytest.mark.bad_input
def test_extrec_with_foreign_star_name(tmp_path):
    p = tmp_path / 'particles.star'
    p.write_text('data_x\n_rlnA 1\n')
    proc = subprocess.run([os.path.join(BIN, 'relion_dem_extrec'), str(p)], capture_output=True, text=True)
    assert proc.returncode == 1 and 'not a RELION external-reconstruct STAR name' in proc.stderr
