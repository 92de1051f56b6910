import numpy as np
import pytest

from relion_dem.core.analysis import fsc as fsc_mod
from relion_dem.core.guards import fsc as guard


def test_cutoff_shell_is_first_drop_below_threshold():
    assert guard.cutoff_shell([1, 0.9, 0.5, 0.2, 0.1, 0.3]) == 4
    assert guard.cutoff_shell([1, 0.9, 0.8]) == 3


def test_blend_keeps_enhanced_below_cutoff_and_plain_beyond():
    rng = np.random.default_rng(1)
    plain = rng.normal(size=(32, 32, 32)).astype(np.float32)
    enhanced = rng.normal(size=(32, 32, 32)).astype(np.float32)
    curve = np.ones(17)
    curve[8:] = 0.05                                     # cutoff at shell 8
    out, cut = guard.blend(enhanced, plain, curve)
    assert cut == 8
    with_enh = fsc_mod.fsc(out, enhanced)
    with_plain = fsc_mod.fsc(out, plain)
    assert np.all(with_enh[1:6] > 0.999)                 # well below the edge: enhanced
    assert np.all(with_plain[9:] > 0.999)                # beyond the cutoff: plain
    assert np.all(with_enh[9:] < 0.2)


def test_blend_refuses_other_shapes():
    with pytest.raises(ValueError, match='differ in shape'):
        guard.blend(np.zeros((8, 8, 8)), np.zeros((6, 6, 6)), [1, 1])
