"""The guards' sequence (:func:`relion_dem.core.guards.apply`): usable FSC first, then the
do-no-harm guard, then the FSC guard; failing closed."""
import numpy as np
import pytest

from relion_dem.core import guards
from relion_dem.core.guards import fsc as fsc_guard, harm as harm_guard

BOX = 32
BOTH = dict(fsc_guard=True, harm_guard=True, guard_threshold=guards.THRESHOLD)


def maps(seed=0):
    rng = np.random.default_rng(seed)
    plain = rng.normal(size=(BOX,) * 3).astype(np.float32)
    enhanced = (0.7 * plain + 0.3 * rng.normal(size=plain.shape)).astype(np.float32)
    curve = np.clip(1.2 - np.arange(BOX // 2 + 1) / 10.0, 0.0, 1.0)
    return enhanced, plain, curve


def test_threshold_is_one_seventh_and_the_configuration_default():
    from relion_dem.core.runtime import config
    assert guards.THRESHOLD == pytest.approx(1 / 7)
    assert config.DEFAULTS['guard_threshold'] == guards.THRESHOLD


@pytest.mark.parametrize('curve, problem', [
    ([], 'no gold-standard FSC in the request'),
    (None, 'no gold-standard FSC in the request'),
    (np.ones(BOX // 2), 'gold-standard FSC has 16 values, the 32-voxel map needs 17'),
    ([1.0] * 5 + [np.nan] * 12, 'gold-standard FSC holds NaN or Inf'),
    ([1.0] * 16 + [np.inf], 'gold-standard FSC holds NaN or Inf'),
    ([1.0] + [0.0] * 16, 'gold-standard FSC is zero at every shell'),
    ([1.0] * 3 + [1.2] * 14, 'gold-standard FSC holds values outside [-1, 1]'),
])
def test_unusable_fsc_is_named(curve, problem):
    assert guards.fsc_problem(curve, BOX) == problem


def test_usable_fsc_longer_than_needed_is_accepted():
    assert guards.fsc_problem(np.linspace(1, 0, BOX), BOX) is None


@pytest.mark.parametrize('curve', [[], np.ones(5), [np.nan] * 17])
def test_guards_fail_closed_without_a_usable_fsc(curve):
    enhanced, plain, _ = maps()
    out, outcome = guards.apply(enhanced, plain, curve, BOTH)
    assert out is plain
    assert outcome.fallback.startswith('guards: ') and outcome.fallback.endswith('plain map kept')
    assert outcome.harm is None and outcome.cutoff is None


@pytest.mark.parametrize('settings', [dict(fsc_guard=True), dict(harm_guard=True)])
def test_either_guard_alone_needs_the_fsc(settings):
    enhanced, plain, _ = maps()
    out, outcome = guards.apply(enhanced, plain, [], settings)
    assert out is plain and outcome.fallback


def test_without_guards_the_enhanced_map_is_kept_without_fsc():
    enhanced, plain, _ = maps()
    out, outcome = guards.apply(enhanced, plain, [], dict(fsc_guard=False, harm_guard=False))
    assert out is enhanced and outcome == guards.Outcome(None, None, None)


def test_sequence_is_harm_guard_then_fsc_guard():
    enhanced, plain, curve = maps()
    out, outcome = guards.apply(enhanced, plain, curve, BOTH)
    cut = fsc_guard.cutoff_shell(curve)
    step, verdict = harm_guard.apply(enhanced, plain, curve, cut)
    want, shell = fsc_guard.blend(step, plain, curve)
    assert outcome.fallback is None and outcome.cutoff == shell == cut
    assert outcome.harm == verdict
    np.testing.assert_array_equal(out, want)


def test_harm_guard_whole_map_fallback_returns_the_plain_map():
    _, plain, curve = maps()
    lost = np.random.default_rng(9).normal(size=plain.shape).astype(np.float32)   # nothing of the data
    out, outcome = guards.apply(lost, plain, curve, BOTH)
    assert out is plain and outcome.harm.whole_call and outcome.fallback == outcome.harm.reason


def test_non_finite_result_falls_back():
    enhanced, plain, curve = maps()
    enhanced[0, 0, 0] = np.nan
    out, outcome = guards.apply(enhanced, plain, curve, dict(fsc_guard=False, harm_guard=False))
    assert out is plain and 'NaN' in outcome.fallback
