"""What a finished (or running) refinement says about itself: resolution per iteration,
healpix order, the calls the runtime logged."""
import glob
import os
import re

from . import gate, runlog, star


def iterations(root):
    """Sorted iteration numbers with a ``_sampling.star`` under ``root``."""
    return sorted(gate._iteration_files(root, '_sampling.star'))


def per_iteration(root):
    """[{iteration, resolution_A, healpix_order}] from the run's model and sampling STARs."""
    rows = []
    models = gate._iteration_files(root, '_half1_model.star')
    samplings = gate._iteration_files(root, '_sampling.star')
    for it in sorted(samplings):
        res = star.first_value(models[it], '_rlnCurrentResolution', float) if it in models else None
        rows.append(dict(iteration=it, resolution_A=res if res and res != float('inf') else None,
                         healpix_order=star.first_value(samplings[it], '_rlnHealpixOrder', int)))
    return rows


def reported_resolution(root):
    """RELION's own resolution (Å) of the converged run: ``_rlnCurrentResolution`` of
    ``<root>_model.star`` (None if absent)."""
    path = root + '_model.star'
    return star.first_value(path, '_rlnCurrentResolution', float) if os.path.exists(path) else None


def _final_fsc(root):
    """(resolution per shell, FSC per shell) of RELION's converged model STAR, or None."""
    path = root + '_model.star'
    if not os.path.exists(path):
        return None
    try:
        b = star.block(star.read(path), 'model_class_1')
        return ([float(v) for v in b.column('_rlnAngstromResolution')],
                [float(v) for v in b.column('_rlnGoldStandardFsc')])
    except (star.StarError, KeyError, ValueError):
        return None


def fsc_first_crossing(root, threshold=0.143):
    """Resolution (Å) of the last shell before RELION's gold-standard FSC of the converged run
    (``<root>_model.star``) first falls below ``threshold``; None if it cannot be read."""
    curve = _final_fsc(root)
    if curve is None:
        return None
    res, fsc = curve
    for i in range(1, len(fsc)):
        if fsc[i] < threshold:
            return res[i - 1] if i > 1 else None
    return res[-1] if res else None


def resolution_check(root):
    """The final gold-standard resolution to report, checked against RELION's FSC curve.

    RELION 3.1 (``MlOptimiser::updateCurrentResolution``) scans its final SSNR back from
    Nyquist and, when a shell with FSC > 1/7 lies more than 3 shells beyond the first drop
    (meant for phase-randomization artefacts), reports that shell, silently for one body. A
    lone noise shell near Nyquist then sets the resolution. When RELION's number is more than
    one shell finer than where its FSC first falls below 0.143, the first crossing is reported.

    Returns dict(final_A, relion_reported_A, fsc_first_crossing_A, isolated_shell (the shell
    index RELION took, or None), aligned_up_to_shell (:func:`aligned_up_to_shell`), note).
    """
    reported, first = reported_resolution(root), fsc_first_crossing(root)
    out = dict(final_A=reported, relion_reported_A=reported, fsc_first_crossing_A=first,
               isolated_shell=None, aligned_up_to_shell=None, note=None)
    curve = _final_fsc(root)
    if reported is None or first is None or curve is None:
        return out
    res = curve[0]
    shell = lambda a: min(range(1, len(res)), key=lambda i: abs(res[i] - a))  # noqa: E731
    if shell(reported) > shell(first) + 1:
        out.update(final_A=first, isolated_shell=shell(reported), aligned_up_to_shell=aligned_up_to_shell(root),
                   note='RELION reported %.2f A from an isolated shell of its gold-standard FSC; the FSC '
                        'first falls below 0.143 at %.2f A, the resolution reported here' % (reported, first))
    return out


def aligned_up_to_shell(root):
    """Largest Fourier shell any iteration before the final one compared with the references
    (half of the largest ``_rlnCurrentImageSize`` in the iteration model STARs); None if unknown."""
    sizes = [star.first_value(p, '_rlnCurrentImageSize', int)
             for p in gate._iteration_files(root, '_half1_model.star').values()]
    sizes = [v for v in sizes if v]
    return max(sizes) // 2 if sizes else None


def final_resolution(root):
    """Final gold-standard resolution (Å) of the converged run (see :func:`resolution_check`)."""
    return resolution_check(root)['final_A']


def log_path(root):
    return root + '_relion_dem.jsonl'


def summary(root, log=None):
    """Numbers that describe a run: final resolution (:func:`resolution_check`; RELION's own
    number beside it), iterations, regularized iterations, enhancer seconds, fallbacks."""
    records = runlog.read(log or log_path(root))
    its = iterations(root)
    converged = os.path.exists(root + '_model.star')
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


def find_roots(folder):
    """Run roots (``<folder>/<name>``) of auto-refine runs in ``folder``."""
    roots = set()
    for p in glob.glob(os.path.join(glob.escape(folder), '*_it*_sampling.star')):
        m = re.match(r'^(.*)_it\d{3,}_sampling\.star$', p)
        if m:
            roots.add(m.group(1))
    return sorted(roots)
