"""Scipion tests of relion_dem: ``scipion3 tests relion_dem.tests.<module>``.

They make their own data (particles simulated with ``relion_project`` from the structure
shipped in the package, no download) and run the real protocols with real RELION.
"""
import hashlib
import json
import os
import subprocess

#: a small, fast data set: 500 particles, 40 px box, 3 A/px (refinements take minutes)
SIMULATION = dict(box=40, voxel_size=3.0, n_particles=500, snr=0.3, seed=1)

#: RELION options that keep a refinement short on a small machine
FAST_REFINE = dict(
    # --healpix_order 1 (15 deg) and local searches from order 2 (7.5 deg), as the pytest
    # refinements: 15 deg is always coarser than the angular accuracy of this data, so RELION
    # reliably steps into local searches; starting at 7.5 deg, it may judge that sampling fine
    # enough and converge with global searches only (seen in CI), leaving the gate shut
    angularSamplingDeg=1,
    localSearchAutoSamplingDeg=2,
    offsetSearchRangePix=2,
    offsetSearchStepPix=1,
    initialLowPassFilterA=40,
    symmetryGroup='c1',
    doGpu=False,
    numberOfMpi=3,
    numberOfThreads=1,
    extraParams='--random_seed 1',   # RELION's default seed is the clock: same run every session
)


def checkout():
    """The folder that holds the ``relion_dem`` package: the repository, in a checkout."""
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def sidesplitter_source():
    """Folder with ``BUILD-sidesplitter.sh`` (``$RELION_DEM_SIDESPLITTER_SRC``, else
    ``shared/third_party`` beside the checkout, as scripts/scipion-env.sh looks), or None."""
    src = (os.environ.get('RELION_DEM_SIDESPLITTER_SRC')
           or os.path.join(os.path.dirname(checkout()), 'shared', 'third_party'))
    return src if os.path.isfile(os.path.join(src, 'BUILD-sidesplitter.sh')) else None


def sidesplitter_home(path=None, log=print):
    """Folder with the ``sidesplitter`` binary and the upstream ``sidesplitter_wrapper.sh``
    (``path``, else ``$RELION_DEM_SIDESPLITTER``, else ``.tools/sidesplitter`` in the checkout),
    built from :func:`sidesplitter_source` if missing; None when it cannot be had."""
    home = path or os.environ.get('RELION_DEM_SIDESPLITTER') or os.path.join(checkout(), '.tools', 'sidesplitter')

    def ready():
        return (os.access(os.path.join(home, 'sidesplitter'), os.X_OK)
                and os.path.exists(os.path.join(home, 'sidesplitter_wrapper.sh')))
    src = sidesplitter_source()
    if not ready() and src:
        build = os.path.join(src, 'BUILD-sidesplitter.sh')
        log('building SIDESPLITTER: bash %s %s' % (build, home))
        subprocess.run(['bash', build, home], check=False)
    return home if ready() else None


def structure():
    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        'data', '19hc.pdb.gz')


def data_root():
    import pyworkflow as pw
    return os.environ.get('RELION_DEM_TEST_DATA') or os.path.join(pw.Config.SCIPION_TESTS, 'relion_dem')


def simulated_dataset(**overrides):
    """Simulate once (cached by parameters under $SCIPION_TESTS/relion_dem); return
    (folder, dataset description dict)."""
    from relion_dem.core.simulation import simulate
    opts = dict(SIMULATION, **overrides)
    key = hashlib.sha1(json.dumps(opts, sort_keys=True).encode()).hexdigest()[:10]
    folder = os.path.join(data_root(), 'sim_%s' % key)
    done = os.path.join(folder, 'dataset.json')
    if not os.path.exists(done):
        os.makedirs(folder, exist_ok=True)
        simulate.simulate(structure(), folder, **opts)
    return folder, simulate.load(folder)


def mpi_env_for_root():
    """Open MPI refuses to run as root unless told to (containers, CI)."""
    if hasattr(os, 'geteuid') and os.geteuid() == 0:
        os.environ.setdefault('OMPI_ALLOW_RUN_AS_ROOT', '1')
        os.environ.setdefault('OMPI_ALLOW_RUN_AS_ROOT_CONFIRM', '1')
