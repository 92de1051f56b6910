"""What a finished (or running) refinement says about itself: resolution per iteration,
healpix order, the calls the runtime logged, the final resolution.

Per iteration (:func:`iteration_table`): RELION's ``<root>_itNNN_half1_model.star`` /
``_sampling.star`` (resolution, healpix order; :func:`per_iteration`) joined with the run log
``<root>_relion_dem.jsonl`` (one record per external-reconstruct call): whether the iteration
was regularized (either half), enhancer seconds (summed over the halves), fallbacks. A plain
RELION run has no log: its rows say ``regularized`` False. RELION numbers its STARs by the
iteration they close, while an external-reconstruct call of iteration N is logged with N; both
use RELION's number, so they join directly.

File names come from ``relion_dem.core.io.layout.RelionRun``.
"""
import os

from relion_dem.core.guards import fsc as fsc_guard
from relion_dem.core.guards.threshold import THRESHOLD
from relion_dem.core.runtime import runlog
from relion_dem.core.io import star
from relion_dem.core.io.layout import RelionRun


def per_iteration(root):
    """[{iteration, resolution_A, healpix_order}] from the run's model and sampling STARs."""
    rows = []
    run = RelionRun(root)
    models = run.iteration_files(run.HALF1_MODEL)
    samplings = run.iteration_files(run.SAMPLING)
    for it in sorted(samplings):
        res = star.first_value(models[it], '_rlnCurrentResolution', float) if it in models else None
        rows.append(dict(iteration=it, resolution_A=res if res and res != float('inf') else None,
                         healpix_order=star.first_value(samplings[it], '_rlnHealpixOrder', int)))
    return rows


def iteration_table(root, log=None):
    """[{iteration, resolution_A, healpix_order, regularized, enhancer_s, calls, fallbacks, gate}]:
    :func:`per_iteration` joined with the run log (``log``, default the run's own)."""
    rows = {r['iteration']: dict(r, regularized=False, enhancer_s=0.0, calls=0, fallbacks=0,
                                 gate=None)
            for r in per_iteration(root)}
    path = log or RelionRun(root).log
    for rec in runlog.read(path) if os.path.exists(path) else []:
        it = rec.get('iteration')
        if it is None:
            continue
        row = rows.setdefault(it, dict(iteration=it, resolution_A=None, healpix_order=None,
                                       regularized=False, enhancer_s=0.0, calls=0, fallbacks=0,
                                       gate=None))
        row['calls'] += 1
        row['regularized'] = row['regularized'] or bool(rec.get('regularized'))
        row['enhancer_s'] += float(rec.get('enhancer_s') or 0.0)
        row['fallbacks'] += 1 if rec.get('fallback') else 0
        if rec.get('gate') is not None:
            row['gate'] = bool(rec.get('gate')) or bool(row['gate'])
        if row.get('healpix_order') is None and rec.get('healpix_order') is not None:
            row['healpix_order'] = rec.get('healpix_order')
    out = [rows[k] for k in sorted(rows)]
    for r in out:
        r['enhancer_s'] = round(r['enhancer_s'], 3)
    return out


#: RELION's final-iteration criterion: SSNR > 1, i.e. FSC > 1/7
FSC_THRESHOLD = THRESHOLD


def final_model(root):
    """(reported resolution, resolution per shell, FSC per shell) of the final model STAR, read
    once; None for what is missing or unreadable."""
    path = RelionRun(root).final_model
    if not os.path.exists(path):
        return None, None, None
    try:
        blocks = star.read(path)
    except star.StarError:
        return None, None, None
    reported = star.lookup(blocks, '_rlnCurrentResolution', float)
    try:
        b = star.block(blocks, 'model_class_1')
        return (reported, [float(v) for v in b.column('_rlnAngstromResolution')],
                [float(v) for v in b.column('_rlnGoldStandardFsc')])
    except (star.StarError, KeyError, ValueError):
        return reported, None, None


def reported_resolution(root):
    """RELION's own resolution (Å) of the converged run: ``_rlnCurrentResolution`` of
    ``<root>_model.star`` (None if absent)."""
    return final_model(root)[0]


def _last_shell_above(fsc, threshold):
    """Last shell before ``fsc`` first falls below ``threshold`` (0: shell 1 already does)."""
    return fsc_guard.cutoff_shell(fsc, threshold) - 1


def fsc_first_crossing(root, threshold=0.143):
    """Resolution (Å) of the last shell before RELION's gold-standard FSC of the converged run
    (``<root>_model.star``) first falls below ``threshold``; None if it cannot be read or
    shell 1 is already below."""
    _, res, fsc = final_model(root)
    if not fsc:
        return None
    i = _last_shell_above(fsc, threshold)
    return res[i] if i >= 1 else None


def resolution_check(root):
    """The final gold-standard resolution to report, checked against RELION's FSC curve.

    RELION 3.1 (``MlOptimiser::updateCurrentResolution``) takes the last shell before its
    final FSC first falls below 1/7, then scans back from Nyquist and, when a shell above 1/7
    lies more than 3 shells further out, reports that shell instead (silently for one body).
    When at most two shells beyond the first crossing are above 1/7, that is a lone noise
    value, and the first crossing is reported (``isolated_shell``: RELION's shell). When more
    are, the FSC dipped and recovered (RELION warns of too tight masks): RELION's number is
    kept, with a note.

    Returns dict(final_A, relion_reported_A, fsc_first_crossing_A, isolated_shell,
    aligned_up_to_shell (:func:`aligned_up_to_shell`, when isolated), note).
    """
    reported, res, fsc = final_model(root)
    out = dict(final_A=reported, relion_reported_A=reported, fsc_first_crossing_A=None,
               isolated_shell=None, aligned_up_to_shell=None, note=None)
    if not fsc or len(fsc) < 3:
        return out
    first = _last_shell_above(fsc, FSC_THRESHOLD)
    out['fsc_first_crossing_A'] = res[first] if first >= 1 else None
    if reported is None or first < 1:
        return out
    taken = min(range(1, len(res)), key=lambda i: abs(res[i] - reported))
    above = [i for i in range(first + 1, len(fsc)) if fsc[i] > FSC_THRESHOLD]
    if taken <= first + 3 or fsc[taken] <= FSC_THRESHOLD:
        return out              # RELION's own first crossing (or its 5-shell minimum)
    if len(above) <= 2:
        out.update(final_A=res[first], isolated_shell=taken, aligned_up_to_shell=aligned_up_to_shell(root),
                   note='RELION reported %.2f A from an isolated shell of its gold-standard FSC (%.2f there); '
                        'the last shell before the FSC first falls below 0.143 is at %.2f A, the resolution '
                        'reported here' % (reported, fsc[taken], res[first]))
    else:
        out['note'] = ('RELION\'s gold-standard FSC dips below 0.143 after %.2f A and rises again (%d shells '
                       'above it up to %.2f A): often too tight a mask; RELION\'s %.2f A is kept'
                       % (res[first], len(above), res[taken], reported))
    return out


def aligned_up_to_shell(root):
    """Largest Fourier shell any iteration before the final one compared with the references
    (half of the largest ``_rlnCurrentImageSize`` in the iteration model STARs); None if unknown."""
    sizes = [star.first_value(p, '_rlnCurrentImageSize', int)
             for p in RelionRun(root).iteration_files(RelionRun.HALF1_MODEL).values()]
    sizes = [v for v in sizes if v]
    return max(sizes) // 2 if sizes else None


def final_resolution(root):
    """Final gold-standard resolution (Å) of the converged run (see :func:`resolution_check`)."""
    return resolution_check(root)['final_A']


def summary(root, log=None):
    """Numbers that describe a run: final resolution (:func:`resolution_check`; RELION's own
    number beside it), iterations, regularized iterations, enhancer seconds, fallbacks."""
    run = RelionRun(root)
    records = runlog.read(log or run.log)
    its = run.iterations()
    converged = run.converged
    # the final iteration writes <root>_model.star etc., without an _itNNN sampling STAR
    last = (max(its) + 1 if converged else max(its)) if its else 0
    regularized = sorted({r['iteration'] for r in records if r.get('regularized')})
    res = resolution_check(root)
    return dict(root=root,
                final_resolution_A=res['final_A'],
                relion_reported_resolution_A=res['relion_reported_A'],
                resolution_note=res['note'],
                iterations=last,
                regularized_iterations=len(regularized),
                first_regularized_iteration=regularized[0] if regularized else None,
                enhancer_s=round(sum(r.get('enhancer_s') or 0.0 for r in records), 2),
                fallbacks=sum(1 for r in records if r.get('fallback')),
                calls=len(records),
                converged=converged)

