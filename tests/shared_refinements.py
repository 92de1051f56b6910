"""Real RELION refinements made once per session (or cached), shared by the metrics,
integration and Scipion viewer tests.

The refinements (simulated 19hc data, 500 particles, box 40, 3 Å; one plain RELION
auto-refine and one regularized with the classical enhancer) are cached under
``$RELION_DEM_TEST_CACHE`` (default: ``<tmp>/relion_dem_test_cache``) so that only the
first test session pays for them; a lock keeps concurrent sessions from racing.
"""
import fcntl
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

MODEL = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'relion_dem', 'data', '19hc.pdb.gz')
CACHE_VERSION = 'refine-v2'
#: 15 deg global searches, local searches from 7.5 deg: 15 deg is always coarser than this data's
#: angular accuracy, so RELION reliably steps into local searches (started at 7.5 deg, a run may
#: judge that fine enough and converge with global searches only, the gate never opening).
#: A fixed random seed (RELION's default is the clock) makes the refinements the same in every session.
REFINE_ARGS = ['--auto_refine', '--split_random_halves', '--i', 'particles.star', '--ref', 'initial.mrc',
               '--firstiter_cc', '--ini_high', '40', '--particle_diameter', '110', '--flatten_solvent',
               '--zero_mask', '--healpix_order', '1', '--auto_local_healpix_order', '2', '--random_seed', '1',
               '--offset_range', '2', '--offset_step', '1', '--sym', 'C1', '--low_resol_join_halves', '40',
               '--norm', '--scale', '--j', '1', '--pool', '10', '--pad', '2', '--ctf']


def have_relion_mpi():
    from relion_dem.core.io import relion
    try:
        for program in ('relion_refine_mpi', 'relion_postprocess'):
            relion.find_program(program)
    except relion.RelionError:
        return False
    return bool(shutil.which('mpirun'))


needs_relion = pytest.mark.skipif(not have_relion_mpi(),
                                  reason='RELION (relion_refine_mpi, relion_postprocess) or mpirun missing')


def _env():
    env = dict(os.environ)
    env.update(OMPI_ALLOW_RUN_AS_ROOT='1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM='1',
               OMPI_MCA_rmaps_base_oversubscribe='1')
    return env


def _nice():
    return ['nice', '-n', '5'] if shutil.which('nice') else []


def _refine(folder, name, regularized):
    os.makedirs(os.path.join(folder, name), exist_ok=True)
    out = os.path.join(name, 'run')
    log = open(os.path.join(folder, name, 'log.txt'), 'w')
    if regularized:
        argv = _nice() + [sys.executable, '-m', 'relion_dem.cli', 'refine', '--np', '3',
                          '--enhancer', 'classical', '--'] + REFINE_ARGS + ['--o', out]
    else:
        # the RELION the runtime uses ($RELION_HOME first), never another one on the PATH
        from relion_dem.core.io import relion
        argv = _nice() + ['mpirun', '--oversubscribe', '-np', '3', relion.find_program('relion_refine_mpi')] + \
            REFINE_ARGS + ['--o', out]
    rc = subprocess.run(argv, cwd=folder, env=_env(), stdout=log, stderr=subprocess.STDOUT).returncode
    log.close()
    if rc != 0 or not os.path.exists(os.path.join(folder, out + '_half1_class001_unfil.mrc')):
        raise RuntimeError('refinement %s failed (status %d): see %s' % (name, rc, log.name))


def cache_base():
    """The folder of the cached refinements: ``$RELION_DEM_TEST_CACHE`` or ``<tmp>/relion_dem_test_cache``."""
    return os.environ.get('RELION_DEM_TEST_CACHE') or os.path.join(tempfile.gettempdir(), 'relion_dem_test_cache')


@pytest.fixture(scope='session')
def refinements():
    """Folder with a simulated data set (``truth.mrc``, ``truth_particles.star``) and two
    finished refinements: ``Plain/run`` (RELION) and ``DEM/run`` (regularized, classical)."""
    if not have_relion_mpi():
        pytest.skip('RELION or mpirun missing')
    base = cache_base()
    folder = os.path.join(base, CACHE_VERSION)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(base, CACHE_VERSION + '.lock'), 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.exists(os.path.join(folder, 'dataset.json')):
            from relion_dem.core.simulation.simulate import simulate
            simulate(MODEL, folder, n_particles=500, box=40, voxel_size=3.0, snr=0.3)
        for name, reg in (('Plain', False), ('DEM', True)):
            if not os.path.exists(os.path.join(folder, name, 'run_half1_class001_unfil.mrc')):
                shutil.rmtree(os.path.join(folder, name), ignore_errors=True)
                _refine(folder, name, reg)
    return folder
