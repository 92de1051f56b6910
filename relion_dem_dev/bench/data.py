"""The benchmark's data: structures (path, id, held out from the network's training or not),
simulated data sets (the main one, uniform or tilt-cone, and the controls' low-pass, noisy and
pure-noise ones) and the particle mask."""
import os

import numpy as np

from relion_dem.core.io import mrc
from relion_dem.core.simulation import simulate

from .settings import REPO, log


#: models kept with the benchmark (never in the network's training folder): see its README
OWN_STRUCTURES = os.path.join(REPO, 'benchmarks', 'structures')


def resolve_structure(name):
    """Path of an atomic model: a path, or an id in shared/data/structures or benchmarks/structures."""
    if os.path.exists(name):
        return os.path.abspath(name)
    from relion_dem_dev.training import split
    for folder in (split.default_structures_dir(), OWN_STRUCTURES):
        found = split.all_structures(folder)
        if name in found:
            return found[name]
    raise SystemExit('bench: structure %s: no such file, and no such id in %s or %s'
                     % (name, split.default_structures_dir(), OWN_STRUCTURES))


def structure_id(path):
    from relion_dem_dev.training import split
    return split.structure_id(path)


def holdout_status(sid):
    """(held out, note) for a structure id."""
    try:
        from relion_dem_dev.training import split
    except ImportError:
        return None, 'network split unknown'
    if sid in ('19hc', 'adk_open'):
        return True, '%s is the demo\'s structure (held out, but not a benchmark structure)' % sid
    if sid in split.HOLDOUT:
        return True, 'held out from network training (relion_dem_dev.training.split.HOLDOUT)'
    if sid in split.all_structures(OWN_STRUCTURES) and sid not in split.all_structures():
        return True, 'never trained on (kept in benchmarks/structures, outside the training folder)'
    return False, 'WARNING: %s is NOT in the held-out list: the network may have been trained on it' % sid


# ----------------------------------------------------------------------------------------------
# data sets

def make_dataset(structure, folder, **opts):
    """Simulate particles into ``folder`` (kept when already there); the data set's description."""
    if os.path.exists(os.path.join(folder, 'dataset.json')):
        return simulate.load(folder)
    log('simulating %s -> %s (%s)' % (os.path.basename(structure), folder,
                                      ', '.join('%s=%s' % kv for kv in sorted(opts.items()))))
    return simulate.simulate(structure, folder, **opts)


def main_dataset(structure, folder, s, seed):
    """The data set of every main run: the scale's ``data`` settings (``cone_deg`` included)."""
    make_dataset(structure, folder, seed=seed, **s['data'])
    return folder


def lowpass_dataset(structure, folder, s, cutoff_A, seed):
    """``s['lowpass_n']`` particles from the truth low-passed so that none of their signal reaches
    RELION's shell of ``cutoff_A`` (:func:`source_lowpass`)."""
    d = s['data']
    make_dataset(structure, folder, **dict(d, n_particles=s['lowpass_n'], seed=seed,
                                           lowpass_A=source_lowpass(cutoff_A, d['box'], d['voxel_size'])))
    return folder


def noise_dataset(structure, folder, s, snr, seed):
    """``s['noise_n']`` particles at ``snr``."""
    make_dataset(structure, folder, **dict(s['data'], n_particles=s['noise_n'], snr=snr, seed=seed))
    return folder


def pure_noise_dataset(structure, folder, s, seed):
    """``s['pure_noise_n']`` particles of pure noise."""
    make_dataset(structure, folder, **dict(s['data'], n_particles=s['pure_noise_n'], pure_noise=True, seed=seed))
    return folder


def source_lowpass(cutoff_A, box, voxel_size, edge_shells=2.0):
    """``lowpass_A`` to give :func:`relion_dem.core.simulation.simulate.simulate` so that the particles hold
    no signal at all in RELION's shell of ``cutoff_A`` or beyond.

    ``fourier.lowpass`` has a raised-cosine edge ``edge_shells`` wide centred on its cutoff, so
    signal reaches half an edge beyond it; RELION's shell i collects radii [i - 0.5, i + 0.5).
    The filter is placed so that it reaches zero at the lower boundary of the cutoff's shell.
    """
    shell = box * voxel_size / float(cutoff_A)
    return box * voxel_size / max(shell - 0.5 - edge_shells / 2.0, 1.0)


# ----------------------------------------------------------------------------------------------
# mask

def soft_sphere(box, radius_px, edge_px=3.0):
    c = box // 2
    z, y, x = np.ogrid[:box, :box, :box]
    r = np.sqrt((x - c) ** 2 + (y - c) ** 2 + (z - c) ** 2)
    w = np.clip((radius_px + edge_px - r) / edge_px, 0, 1)
    return (0.5 - 0.5 * np.cos(np.pi * w)).astype(np.float32)


def envelope_mask(dataset):
    """Soft mask of the truth's own envelope (``relion_dem.core.maths.masks.soft_mask``: the
    truth low-passed to 15 Å, 1 sd above its mean, largest piece, 3 Å dilation, 6 Å soft edge),
    written once as ``mask_envelope.mrc``: the molecule without the solvent the particle sphere
    holds, so a map-vs-truth FSC in it judges the density, not the flattened solvent."""
    from relion_dem.core.maths import masks
    info = simulate.load(dataset)
    path = os.path.join(dataset, 'mask_envelope.mrc')
    if not os.path.exists(path):
        truth, apix = mrc.read(os.path.join(dataset, info['truth']))
        mrc.write(path, masks.soft_mask(truth, apix), apix)
    return path


def dataset_mask(dataset):
    """Soft spherical mask of the particle diameter (written once as ``mask.mrc``)."""
    info = simulate.load(dataset)
    path = os.path.join(dataset, 'mask.mrc')
    if not os.path.exists(path):
        box, apix = int(info['box']), float(info['voxel_size'])
        radius = min(0.5 * info['mask_diameter_A'] / apix, box / 2 - 3.5)
        mrc.write(path, soft_sphere(box, radius - 3.0, 3.0), apix)
    return path
