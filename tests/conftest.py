"""Shared fixtures: real RELION 3.1 files (tests/data/relion31) laid out as a run."""
import os
import shutil

import pytest

DATA = os.path.join(os.path.dirname(__file__), 'data', 'relion31')
REQUEST = 'run_it007_half1_class001_external_reconstruct'


def relion_available():
    return shutil.which('relion_external_reconstruct') is not None


needs_relion = pytest.mark.skipif(not relion_available(),
                                  reason='RELION (relion_external_reconstruct) is not installed')


def make_run(base, folder='Refine', iteration=7, half=1, local_order_seen=True):
    """Lay out RELION's files of one external-reconstruct call under ``base/folder``.

    The call is iteration ``iteration`` of half ``half`` (None: the final call); the
    sampling STAR of the previous iteration has healpix order 2 (local searches, since
    the optimiser's --auto_local_healpix_order is 2) when ``local_order_seen``, else 1.
    Returns the STAR path relative to ``base`` (RELION's cwd), as RELION passes it.
    """
    os.makedirs(os.path.join(base, folder), exist_ok=True)
    tag = '_half%d' % half if half else ''
    name = 'run_it%03d%s_class001_external_reconstruct' % (iteration, tag)
    rel = os.path.join(folder, name)
    with open(os.path.join(DATA, REQUEST + '.star')) as f:
        text = f.read().replace('Refine/' + REQUEST, rel)
    with open(os.path.join(base, rel + '.star'), 'w') as f:
        f.write(text)
    for suffix in ('_data_real.mrc', '_data_imag.mrc', '_weight.mrc'):
        shutil.copy(os.path.join(DATA, REQUEST + suffix), os.path.join(base, rel + suffix))
    sampling = 'run_it006_sampling.star' if local_order_seen else 'run_it005_sampling.star'
    shutil.copy(os.path.join(DATA, sampling),
                os.path.join(base, folder, 'run_it%03d_sampling.star' % (iteration - 1)))
    shutil.copy(os.path.join(DATA, 'run_it006_half1_model.star'),
                os.path.join(base, folder, 'run_it%03d_half1_model.star' % (iteration - 1)))
    shutil.copy(os.path.join(DATA, 'run_it000_optimiser.star'),
                os.path.join(base, folder, 'run_it000_optimiser.star'))
    return rel + '.star'


@pytest.fixture
def run_dir(tmp_path, monkeypatch):
    """A temporary RELION project folder, made the working directory (as RELION's is)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv('RELION_DEM_CONFIG', raising=False)
    return tmp_path
