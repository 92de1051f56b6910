"""The train / held-out split of the shared atomic models."""
import os

import pytest

from relion_dem_dev.training import split

needs_structures = pytest.mark.skipif(not os.path.isdir(split.default_structures_dir()),
                                      reason='shared/data/structures not found (set RELION_DEM_STRUCTURES)')


def test_holdout_list_is_the_agreed_one():
    assert split.HOLDOUT == ('19hc', '1a28', '3PWP', '1BD2', 'adk_open', '4E43', '1hvr', '3e8mA',
                             '2cayA', '3k7pA')
    assert set(split.EXCLUDED) == {'1mr1D_failing', 'wrong_hydrogens'}


def test_structure_id_strips_model_suffixes():
    assert split.structure_id('/x/19hc.pdb.gz') == '19hc'
    assert split.structure_id('adk_open.pdb') == 'adk_open'
    assert split.structure_id('a/b/3e8mA.cif') == '3e8mA'


@needs_structures
def test_training_set_never_holds_a_held_out_or_excluded_structure():
    train = dict(split.training_structures())
    held = dict(split.holdout_structures())
    assert len(held) == 10 and list(held) == list(split.HOLDOUT)
    assert not set(train) & set(split.HOLDOUT)
    assert not set(train) & set(split.EXCLUDED)
    assert len(train) == 48
    assert len(train) + len(held) + len(split.EXCLUDED) == len(split.all_structures())
