"""The guards: what of an enhanced map may replace RELION's own, in the refinement loop (one
half-map) and in ``denoise`` (the average of both halves).

:func:`apply` runs them in this order:

1. the gold-standard FSC must be usable (:func:`fsc_problem`): present, one value per shell up
   to Nyquist, finite, in [-1, 1], not zero everywhere. Without it neither guard can judge the
   map, so nothing of the enhanced map is kept: the guards fail closed;
2. the **do-no-harm guard** (:mod:`.harm`): inside the shells the FSC guard keeps, a shell that
   agrees with the data less than the data agree with the truth gets the plain map back; when
   grossly failing shells carry too much of the signal the plain map is kept whole;
3. the **FSC guard** (:mod:`.fsc`): the enhanced map only where the FSC is at least
   :data:`THRESHOLD` (1/7), the plain map beyond, so the enhancer cannot inflate the FSC that
   drives the next iteration (as RELION 5's Blush);
4. the result must be finite.

Settings (the run configuration's keys): ``fsc_guard``, ``harm_guard``, ``harm_power_bound``,
``harm_directions``, ``guard_threshold``.
"""
import collections

import numpy as np

from relion_dem.core.guards import fsc as fsc_guard
from relion_dem.core.guards import harm as harm_guard
from relion_dem.core.guards.threshold import THRESHOLD

__all__ = ['THRESHOLD', 'Outcome', 'apply', 'fsc_problem', 'needed_shells', 'refusal']

Outcome = collections.namedtuple('Outcome', 'fallback harm cutoff')
Outcome.__doc__ = """What the guards did: ``fallback`` (None, or why the plain map was kept whole),
``harm`` (the do-no-harm guard's :class:`.harm.Verdict`, None when off or not reached) and
``cutoff`` (the FSC guard's first plain shell, None when off or not reached)."""


def needed_shells(box):
    """Shells 0 .. Nyquist of a cubic ``box``: the FSC values the guards need."""
    return int(box) // 2 + 1


def fsc_problem(fsc, box):
    """Why ``fsc`` cannot drive the guards of a ``box``-voxel map (a sentence), or None."""
    values = np.asarray(fsc if fsc is not None else [], dtype=float).ravel()
    need = needed_shells(box)
    if values.size == 0:
        return 'no gold-standard FSC in the request'
    if values.size < need:
        return 'gold-standard FSC has %d values, the %d-voxel map needs %d' % (values.size, box, need)
    values = values[:need]
    if not np.all(np.isfinite(values)):
        return 'gold-standard FSC holds NaN or Inf'
    if np.any(np.abs(values) > 1.0 + 1e-6):
        return 'gold-standard FSC holds values outside [-1, 1]'
    if not np.any(values[1:]):
        return 'gold-standard FSC is zero at every shell'
    return None


def refusal(fsc, box, settings):
    """Why the guards ``settings`` turn on refuse any enhanced map with this ``fsc`` (a sentence),
    or None: with either guard on, the FSC must be usable; with both off it is not needed."""
    if settings.get('fsc_guard') or settings.get('harm_guard'):
        return fsc_problem(fsc, box)
    return None


def apply(enhanced, plain, fsc, settings, full_map=False, weight=None):
    """Both guards on ``enhanced`` against ``plain`` with the gold-standard ``fsc``; returns
    (map, :class:`Outcome`). On a fallback the map is ``plain`` itself. ``full_map``: ``plain``
    is the average of both halves (``denoise``), not one half-map. ``weight``: the half's
    back-projected weight at the map's ``rfftn`` coefficients, which ``harm_directions``
    ``sampled`` needs (without it every direction is judged)."""
    if enhanced.shape != plain.shape:
        raise ValueError('guards: enhanced map %s and plain map %s differ in shape' % (enhanced.shape, plain.shape))
    use_fsc, use_harm = settings.get('fsc_guard'), settings.get('harm_guard')
    threshold = settings.get('guard_threshold', THRESHOLD)
    verdict = cut = None
    problem = refusal(fsc, plain.shape[0], settings)
    if problem:
        return plain, Outcome('guards: %s; plain map kept' % problem, None, None)
    if use_fsc or use_harm:
        fsc = np.asarray(fsc, dtype=float)[:needed_shells(plain.shape[0])]
    result = enhanced
    if use_harm:
        cutoff = fsc_guard.cutoff_shell(fsc, threshold)
        sampled = None
        if settings.get('harm_directions', 'all') == 'sampled' and weight is not None:
            sampled = harm_guard.sampled_coefficients(weight, cutoff)
        result, verdict = harm_guard.apply(result, plain, fsc, cutoff, full_map,
                                           settings.get('harm_power_bound', 'plain'), sampled)
        if verdict.whole_call:
            return plain, Outcome(verdict.reason, verdict, None)
    if use_fsc:
        result, cut = fsc_guard.blend(result, plain, fsc, threshold)
    if not np.all(np.isfinite(result)):
        return plain, Outcome('enhanced map holds NaN or Inf after the guards; plain map kept', verdict, cut)
    return result, Outcome(None, verdict, cut)
