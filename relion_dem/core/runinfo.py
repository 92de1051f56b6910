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


def final_resolution(root):
    """Gold-standard resolution (Å) of the converged run, from ``<root>_model.star`` (None if absent)."""
    path = root + '_model.star'
    return star.first_value(path, '_rlnCurrentResolution', float) if os.path.exists(path) else None


def fsc_first_crossing(root, threshold=0.143):
    """Resolution (Å) of the last shell before RELION's gold-standard FSC of the converged run
    (``<root>_model.star``) first falls below ``threshold``; None if it cannot be read. RELION's
    own ``_rlnCurrentResolution`` (from its SSNR) is usually within a shell of it, and finer
    when an isolated shell beyond spikes."""
    path = root + '_model.star'
    if not os.path.exists(path):
        return None
    try:
        b = star.block(star.read(path), 'model_class_1')
        res = [float(v) for v in b.column('_rlnAngstromResolution')]
        fsc = [float(v) for v in b.column('_rlnGoldStandardFsc')]
    except (star.StarError, KeyError, ValueError):
        return None
    for i in range(1, len(fsc)):
        if fsc[i] < threshold:
            return res[i - 1] if i > 1 else None
    return res[-1] if res else None


def log_path(root):
    return root + '_relion_dem.jsonl'


def summary(root, log=None):
    """Numbers that describe a run: final resolution, iterations, regularized iterations,
    enhancer seconds, fallbacks."""
    records = runlog.read(log or log_path(root))
    its = iterations(root)
    converged = os.path.exists(root + '_model.star')
    # the final iteration writes <root>_model.star etc., without an _itNNN sampling STAR
    last = (max(its) + 1 if converged else max(its)) if its else 0
    regularized = sorted({r['iteration'] for r in records if r.get('regularized')})
    return dict(root=root,
                final_resolution_A=final_resolution(root),
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
