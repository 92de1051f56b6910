"""The benchmark's structures are independent: no chain shared (>= 40 % identity) between two of
them, or with the network's training set."""
import os

import pytest

from relion_dem_dev.bench import data, settings, structures
from relion_dem_dev.training import split

pytestmark = pytest.mark.skipif(not os.path.isdir(split.default_structures_dir()),
                                reason='benchmark structures absent (shared/data/structures)')


def paths(ids):
    return {k: data.resolve_structure(k) for k in ids}


def test_standard_structures_share_no_chain():
    ids = [sid for sid, _, _ in settings.STANDARD_STRUCTURES]
    own = split.all_structures(data.OWN_STRUCTURES)
    assert not set(own) & set(split.all_structures())       # never in the training folder
    assert set(ids) <= set(split.HOLDOUT) | set(own)
    for sid in ids:
        assert data.holdout_status(sid)[0] is True, sid
    training = {k: p for k, p in split.all_structures().items()
                if k not in split.HOLDOUT and k not in split.EXCLUDED}
    assert len(training) > 30
    assert structures.problems(paths(ids), training) == []


def test_the_check_finds_shared_chains():
    """1BD2 and 3PWP (the former standard pair) are one complex; unrelated chains score near 0."""
    found = structures.problems(paths(['1BD2', '3PWP']), {})
    assert any('1BD2 chain A and 3PWP chain A: 100% identical' == f for f in found)
    a = structures.chain_sequences(paths(['1a28'])['1a28'])['A']
    b = structures.chain_sequences(paths(['1BD2'])['1BD2'])['B']
    assert structures.identity(a, b) < 10


def test_each_symmetric_standard_structure_builds_in_relions_frame():
    """A symmetric refinement's truth must be symmetric where RELION puts the group."""
    from relion_dem.core.simulation import assembly, density
    for sid, options, _ in settings.STANDARD_STRUCTURES:
        words = options.split()
        if '--sym' not in words:
            continue
        sym = words[words.index('--sym') + 1]
        built = assembly.build(density.read_model(data.resolve_structure(sid)), sym)
        assert assembly.invariant(built, sym), sid
        assert not assembly.invariant(built, 'C7'), sid
