"""The train / validation split of the atomic models in ``shared/data/structures``.

One place for every user of the split: the training command never reads a
structure in :data:`HOLDOUT` or :data:`EXCLUDED`; the benchmarks validate only on
:data:`HOLDOUT`.
"""
import glob
import os

#: never trained on: 19hc is the demo structure, the others the benchmark structures
HOLDOUT = ('19hc', '1a28', '3PWP', '1BD2', 'adk_open', '4E43', '1hvr', '3e8mA', '2cayA', '3k7pA')
#: not used at all (a deliberately broken file, a model with only hydrogens)
EXCLUDED = ('1mr1D_failing', 'wrong_hydrogens')

SUFFIXES = ('.pdb.gz', '.pdb', '.cif.gz', '.cif', '.ent.gz', '.pdb.bz2')


def default_structures_dir():
    """``$RELION_DEM_STRUCTURES``, else ``shared/data/structures`` beside the repository."""
    env = os.environ.get('RELION_DEM_STRUCTURES')
    if env:
        return env
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.abspath(os.path.join(here, '..', '..'))
    for cand in (os.path.join(repo, 'shared', 'data', 'structures'),
                 os.path.join(os.path.dirname(repo), 'shared', 'data', 'structures')):
        if os.path.isdir(cand):
            return cand
    return os.path.join(os.path.dirname(repo), 'shared', 'data', 'structures')


def structure_id(path):
    base = os.path.basename(path)
    for suffix in SUFFIXES:
        if base.endswith(suffix):
            return base[:-len(suffix)]
    return os.path.splitext(base)[0]


def all_structures(folder=None):
    """{id: path} of every atomic model file in ``folder``."""
    folder = folder or default_structures_dir()
    found = {}
    for path in sorted(glob.glob(os.path.join(folder, '*'))):
        if any(path.endswith(s) for s in SUFFIXES):
            found.setdefault(structure_id(path), path)
    return found


def training_structures(folder=None):
    """Sorted [(id, path)] the network may be trained on."""
    skip = set(HOLDOUT) | set(EXCLUDED)
    return sorted((k, v) for k, v in all_structures(folder).items() if k not in skip)


def holdout_structures(folder=None):
    """[(id, path)] of the held-out structures present in ``folder``, in :data:`HOLDOUT` order."""
    found = all_structures(folder)
    return [(k, found[k]) for k in HOLDOUT if k in found]
