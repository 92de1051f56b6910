"""The benchmark's structures are independent: no chain shared (>= 40 % identity) between two of
them, or with the network's training set."""
import os

import pytest

from relion_dem_dev.bench import settings, structures
from relion_dem_dev.training import split

pytestmark = pytest.mark.skipif(not os.path.isdir(split.default_structures_dir()),
                                reason='benchmark structures absent (shared/data/structures)')


def paths(ids):
    every = split.all_structures()
    return {k: every[k] for k in ids}


def test_standard_structures_share_no_chain():
    ids = [sid for sid, _, _ in settings.STANDARD_STRUCTURES]
    assert set(ids) <= set(split.HOLDOUT)
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
