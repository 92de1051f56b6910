"""The do-no-harm guard: inside the shells the FSC guard keeps, the enhanced map must still
agree with the data of its own half.

Model, per Fourier shell k. The half-map is P = S + N (signal, noise of power σ²); the
gold-standard FSC between the halves is F = S² / (S² + σ²), so the half-map's correlation
with the truth is corr(P, S) = √F. Write the enhanced map as E = a·S + b·N + M, where M is
whatever the network put there that is in neither the signal nor this half's noise
(invented or misplaced density; erasing the molecule makes a small and M large), and
b ≥ 0 (a denoiser keeps, at most, some of the noise). Then

    corr(E, P)·|P| = (a·S² + b·σ²) / |E|  ≥  a·S² / |E| = corr(E, S)·S

so corr(E, S) ≤ corr(E, P) / √F, and E is certainly a worse estimate of the truth than the
plain map in shell k (corr(E, S) < √F) when

    FSC(E, P) < F.                                                        (1)

For the average of the two halves (post-processing, ``full_map=True``) the same argument
holds with corr(P, S)² = 2F / (1 + F) in place of F. The bound is tight for a noise-free
output (b = 0) and lenient otherwise: a per-shell
scaling of P (a Wiener filter) has FSC(E, P) = 1, a perfect denoiser FSC(E, P) = √F ≥ F.
A shell whose enhanced/plain power ratio exceeds 1 claims more than RELION's own estimate:
an undamped half-map holds signal and noise (S² ≤ |P|²), and RELION's reconstruction is
Wiener-damped (|P|² ≈ F·S²), weighting each shell of the next reference by the confidence
the data give it. Such a shell is scaled back to the plain map's power (phases kept, so (1)
and the information are unchanged; only the extra confidence goes).

That keeps RELION's confidence weighting, and it also scales back a perfect estimate of the
truth, which is louder than the shrunk plain map by about 1/F. The ``data`` power bound
(``harm_power_bound``; default ``plain``) allows a shell the power the data support instead:
the signal's power is about |P|²/F (from |P|² ≈ F·S²), so a shell is scaled only where
|E|²/|P|² exceeds (1/F_k)(1 + u_k). That limit is itself an estimate from the n_k coefficients of
one half-map, whose shell power has a relative standard error of about 1/√n_k, so
u_k = max(t_k, 2/√n_k) (two standard errors; on a simulated half-map whose truth is known,
tests/core/guards/test_harm.py, the truth's ratio came within 1 % of this limit). Which bound
serves alignment better is measured by the gate benchmark (``relion_dem_dev.bench.gate``, arm
``dem_stalled_data_bound``).

Anisotropic sampling (``harm_directions``; default ``all``). F_k is a power-weighted average over
the shell's coefficients, and a coefficient the half's data barely reached holds almost nothing
in either half (RELION's prior shrinks it by w/(w + 1/τ²) towards zero), so F_k describes the
coefficients the data sampled. On the others the model fails: P ≈ 0 while S is not, and a
network that puts the truth there (what a missing cone lacks) counts as M in (1) and as excess
power. With ``sampled`` the guard reads RELION's back-projected weight w of the request
(``_rlnExtReconsWeight``) and judges each shell by (1) and the power bound over its sampled
coefficients only: w at least :data:`SAMPLED_WEIGHT` of the shell's 90th-percentile weight (a
tenth of the SSNR of its well-sampled directions; a percentile so that a few over-sampled
coefficients do not set the scale). Erasing or misplacing density shows there as before. The
unsampled coefficients of a shell cannot be judged against data; what bounds them is that a
molecule's shell power is nearly isotropic (Wilson statistics), so per coefficient they may hold
the power the sampled ones may, within a factor :data:`ANISOTROPY` and two standard errors of
the two mean powers, and are scaled down to that where louder. A failing shell takes
the plain map's coefficients in every direction.

Rule, using only this half's plain and enhanced maps and the current gold-standard FSC
(never the other half's map):

* shell k (1 ≤ k < the FSC guard's cutoff) fails when FSC(E, P) < F_k − t_k, with
  t_k = max(0.02, 2·(1 − F_k²)/√n_k) for the n_k Fourier coefficients in the shell: two
  standard errors of a sample correlation whose value is near F_k (its standard error is
  (1 − ρ²)/√n), so that the few-coefficient low-resolution shells, where F ≈ 1, are
  judged as strictly as their statistics allow;
  a failing shell takes the plain map's coefficients;
* shells whose power ratio exceeds 1 + t_k are scaled to the plain map's power;
* when the shells failing *grossly*, FSC(E, P) < F_k / 2 − t_k (the enhanced map has lost
  half of the agreement the data allow, more than a slight degradation), carry more than
  ``MAX_FAILING_SIGNAL`` of the data's signal (Σ F_k·|P_k|² over the shells checked), the
  network has departed from the data as a whole, and the call falls back to the plain
  reconstruction. Only gross failures count there, so that a slight, correctly repaired
  loss in the few strong low-resolution shells does not throw away the gains elsewhere.

The numbers and the decision go to the run log (``harm_guard``) and the progress line.
"""
import collections

import numpy as np

from relion_dem.core.maths import fourier

#: fraction of the signal (Σ F·|P|² over the shells checked) in failing shells above which
#: the whole call falls back to the plain reconstruction
MAX_FAILING_SIGNAL = 0.25
MIN_TOLERANCE = 0.02
#: how loud an enhanced shell may be: ``plain`` (the plain map's power) or ``data`` (|P|²/F)
POWER_BOUNDS = ('plain', 'data')
#: over which coefficients a shell is judged: ``all``, or ``sampled`` by the half's data
DIRECTIONS = ('all', 'sampled')
#: a coefficient counts as sampled when its back-projected weight is at least this fraction of
#: the 90th percentile of its shell's weights
SAMPLED_WEIGHT = 0.1
#: how much more power per coefficient the unsampled directions of a shell may hold than its
#: sampled ones may (a molecule's shell power is isotropic only on average; elongated ones differ
#: between directions at low resolution, and neighbouring coefficients are correlated)
ANISOTROPY = 2.0

Verdict = collections.namedtuple('Verdict', 'whole_call shells_checked shells_replaced shells_scaled '
                                            'failing_signal_fraction worst_margin reason sampled_fraction',
                                 defaults=(None,))
Verdict.__doc__ = """What the guard decided: ``whole_call`` (fall back to the plain map), the shells
checked, replaced by the plain map and scaled down (in any direction), the failing fraction of
the signal, the smallest FSC(E, P) − (F − t) over the shells checked, a sentence for the log, and
the fraction of the checked coefficients judged (None: all directions)."""


def sampled_coefficients(weight, n_shells):
    """Which coefficients of shells 0 .. n_shells-1 the half's data sampled: ``weight`` (RELION's
    back-projected weight at the coefficients of the map's ``rfftn``,
    :func:`~relion_dem.core.maths.fourier.from_padded_halfcomplex`) at least
    :data:`SAMPLED_WEIGHT` of its shell's 90th percentile. A boolean array of ``weight``'s shape;
    True beyond the shells."""
    weight = np.asarray(weight)
    box = weight.shape[0]
    if weight.shape != (box, box, box // 2 + 1):
        raise ValueError('do-no-harm guard: weight of shape %s is not the half-complex transform of a cube'
                         % (weight.shape,))
    idx = fourier.radial_index((box,) * 3).ravel()
    w = weight.ravel()
    sampled = np.ones(w.shape, bool)
    inside = np.flatnonzero(idx < n_shells)             # only the shells judged are sorted
    order = inside[np.argsort(idx[inside], kind='stable')]
    edges = np.concatenate([[0], np.cumsum(np.bincount(idx[inside], minlength=n_shells))])
    for k in range(n_shells):
        members = order[edges[k]:edges[k + 1]]
        if members.size:
            sampled[members] = w[members] >= SAMPLED_WEIGHT * np.percentile(w[members], 90)
    return sampled.reshape(weight.shape)


def shell_statistics(enhanced, plain, n_shells, sampled=None):
    """Per shell 0 .. n_shells-1, over its ``sampled`` coefficients (None: all): FSC(enhanced,
    plain), power ratio enhanced/plain, plain power, number of coefficients; and the two
    transforms with the shell index of each coefficient."""
    fe, fp = np.fft.rfftn(np.asarray(enhanced, np.float64)), np.fft.rfftn(np.asarray(plain, np.float64))
    idx = fourier.radial_index(plain.shape)
    inside = idx < n_shells
    if sampled is not None:
        inside &= sampled
    i = idx[inside]
    e, p = fe[inside], fp[inside]
    cross = np.bincount(i, (e * np.conj(p)).real, n_shells)
    pe = np.bincount(i, np.abs(e) ** 2, n_shells)
    pp = np.bincount(i, np.abs(p) ** 2, n_shells)
    count = np.bincount(i, minlength=n_shells)
    with np.errstate(invalid='ignore', divide='ignore'):
        corr = np.nan_to_num(cross / np.sqrt(pe * pp))
        ratio = np.where(pp > 0, pe / np.where(pp > 0, pp, 1), 1.0)
    return corr, ratio, pp, count, fe, fp, idx


def tolerance(count, fsc):
    """Allowed shortfall t_k of FSC(E, P) below F_k: two standard errors of a shell correlation
    near F_k, (1 − F_k²)/√n_k each, at least ``MIN_TOLERANCE``."""
    fsc = np.clip(np.asarray(fsc, dtype=float), 0.0, 1.0)
    return np.maximum(MIN_TOLERANCE, 2.0 * (1.0 - fsc ** 2) / np.sqrt(np.maximum(count, 1)))


def power_limit(fsc, bound):
    """The largest enhanced/plain power ratio per shell: 1 (``plain``) or 1/F (``data``)."""
    if bound not in POWER_BOUNDS:
        raise ValueError('do-no-harm guard: power bound %r is not one of %s' % (bound, ', '.join(POWER_BOUNDS)))
    fsc = np.asarray(fsc, dtype=float)
    return np.ones_like(fsc) if bound == 'plain' else 1.0 / np.maximum(fsc, 1e-3)


def apply(enhanced, plain, fsc, cutoff, full_map=False, power_bound='plain', sampled=None):
    """Check ``enhanced`` against ``plain`` in shells 1 .. cutoff-1 (``fsc``: the gold-standard
    FSC per shell; ``plain`` one half-map, or with ``full_map`` the average of both; ``power_bound``:
    one of :data:`POWER_BOUNDS`; ``sampled``: judge each shell over these coefficients only,
    :func:`sampled_coefficients`, None: all). Returns (map, :class:`Verdict`); when
    ``verdict.whole_call`` the map is ``plain`` itself."""
    if enhanced.shape != plain.shape:
        raise ValueError('do-no-harm guard: enhanced map %s and plain map %s differ in shape'
                         % (enhanced.shape, plain.shape))
    fsc = np.clip(np.asarray(fsc, dtype=float), 0.0, 1.0)
    if full_map:
        fsc = 2.0 * fsc / (1.0 + fsc)      # squared correlation of the average with the truth
    n = int(min(cutoff, len(fsc)))
    if n < 2:
        return enhanced, Verdict(False, 0, [], 0, 0.0, None, 'no resolved shell to check')
    if sampled is not None and sampled.shape != (plain.shape[0], plain.shape[1], plain.shape[2] // 2 + 1):
        raise ValueError('do-no-harm guard: sampled coefficients %s do not match the %s map'
                         % (sampled.shape, plain.shape))
    corr, ratio, pp, count, fe, fp, idx = shell_statistics(enhanced, plain, n, sampled)
    tol = tolerance(count, fsc[:n])
    shells = np.arange(1, n)
    margin = corr[shells] - (fsc[shells] - tol[shells])
    failing = shells[margin < 0]
    gross = corr[shells] < 0.5 * fsc[shells] - tol[shells]
    signal = fsc[shells] * pp[shells]
    total = float(signal.sum())
    fraction = float(signal[gross].sum() / total) if total > 0 else 0.0
    limit = power_limit(fsc[:n], power_bound)
    slack = 1.0 + (tol if power_bound == 'plain' else np.maximum(tol, 2.0 / np.sqrt(np.maximum(count, 1))))
    scaled = [int(k) for k in shells if k not in failing and ratio[k] > limit[k] * slack[k]]
    inside = idx < n
    k = idx[inside]
    gain = np.ones(n)
    gain[scaled] = np.sqrt(limit[scaled] / ratio[scaled])
    coefficient_gain = gain[k]
    judged = None
    if sampled is not None:
        # the unsampled coefficients may hold, per coefficient, the power the sampled ones may
        judged = sampled[inside]
        rest = k[~judged]
        pe_rest = np.bincount(rest, np.abs(fe[inside][~judged]) ** 2, n)
        n_rest = np.bincount(rest, minlength=n)
        with np.errstate(invalid='ignore', divide='ignore'):
            allowed = limit * pp / np.maximum(count, 1)
            per = np.where(n_rest > 0, pe_rest / np.maximum(n_rest, 1), 0.0)
            # two standard errors of the difference of two mean powers (each about 1/√n)
            rest_slack = np.maximum(slack, 1.0 + 2.0 * np.sqrt(1.0 / np.maximum(count, 1) + 1.0 / np.maximum(n_rest, 1)))
            loud = [int(j) for j in shells if j not in failing and n_rest[j]
                    and per[j] > ANISOTROPY * allowed[j] * rest_slack[j]]
        rest_gain = np.ones(n)
        rest_gain[loud] = np.sqrt(ANISOTROPY * allowed[loud] / per[loud])
        coefficient_gain = np.where(judged, coefficient_gain, rest_gain[k])
        scaled = sorted(set(scaled) | set(loud))
    worst = float(margin.min())
    share = None if judged is None else round(float(judged[k >= 1].mean()), 4)
    if fraction > MAX_FAILING_SIGNAL:
        reason = ('do-no-harm guard: the enhanced map disagrees with the data (FSC with the plain map below '
                  'half the gold-standard FSC) in %d of %d resolved shells, %.0f%% of the signal; plain '
                  'reconstruction kept' % (int(gross.sum()), len(shells), 100 * fraction))
        return plain, Verdict(True, len(shells), [int(k) for k in failing], 0, round(fraction, 4),
                              round(worst, 4), reason, share)
    weight = np.ones(n)             # of the enhanced coefficients, per shell
    weight[failing] = 0.0
    out = fe.copy()
    out[inside] = weight[k] * coefficient_gain * fe[inside] + (1.0 - weight[k]) * fp[inside]
    result = np.fft.irfftn(out, s=plain.shape, axes=(0, 1, 2)).astype(np.float32)
    reason = ('do-no-harm guard: %d shell(s) replaced by the plain map (%.0f%% of the signal in gross '
              'disagreement), %d scaled down to the %s power bound' % (len(failing), 100 * fraction, len(scaled), power_bound)
              if len(failing) or scaled else 'do-no-harm guard: enhanced map agrees with the data')
    if share is not None:
        reason += ', judged over the sampled directions (%.0f%% of the coefficients)' % (100 * share)
    return result, Verdict(False, len(shells), [int(j) for j in failing], len(scaled), round(fraction, 4),
                           round(worst, 4), reason, share)
