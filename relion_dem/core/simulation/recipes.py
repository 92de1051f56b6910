"""relion_refine argument lists for simulated data sets (demo, tests, benchmarks).

One recipe keeps plain and regularized runs of a comparison identical but for the
regularization: same particles, same random seed (so the same half sets), same sampling.
"""
import os

from relion_dem.core.simulation import simulate


def refine_args(dataset, out_root, healpix_order=1, local_healpix_order=2, offset_range=1,
                offset_step=1, seed=1, ini_high=40.0, extra=()):
    """Arguments of a gold-standard auto-refine of a ``relion_dem simulate`` folder.

    Paths are made relative to the data-set folder, which is the run's working directory.
    ``ini_high``: the reference's low-pass (Å; 40 for a refinement from scratch, 6-8 for a local
    refinement from a consensus, with ``healpix_order`` = ``local_healpix_order``).
    """
    info = simulate.load(dataset)
    return ['--i', info['particles'], '--ref', info['initial'], '--o', out_root,
            '--auto_refine', '--split_random_halves', '--firstiter_cc', '--ini_high', '%g' % ini_high,
            '--particle_diameter', '%.0f' % info['mask_diameter_A'],
            '--flatten_solvent', '--zero_mask', '--oversampling', '1',
            '--healpix_order', str(healpix_order), '--auto_local_healpix_order', str(local_healpix_order),
            '--offset_range', str(offset_range), '--offset_step', str(offset_step),
            '--sym', info.get('symmetry') or 'C1', '--low_resol_join_halves', '40', '--norm', '--scale',
            '--j', '1', '--pool', '10', '--pad', '2', '--ctf', '--random_seed', str(seed)] + list(extra)


def default_structure():
    """The small atomic model shipped inside the package (works without ../shared)."""
    return os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(__file__))), 'data', 'adk_open.pdb.gz')
