"""Per-iteration view of a (regularized) refinement.

Joins RELION's ``<root>_itNNN_half1_model.star`` / ``_sampling.star`` (resolution,
healpix order; ``relion_dem.core.analysis.runinfo.per_iteration``) with the run log
``<root>_relion_dem.jsonl`` (one record per external-reconstruct call): whether the
iteration was regularized (either half), enhancer seconds (summed over the halves),
fallbacks. A plain RELION run has no log: its rows say ``regularized`` False.

RELION numbers its STARs by the iteration they close, while an external-reconstruct
call of iteration N is logged with N; both use RELION's number, so they join directly.
"""
import os

from relion_dem.core.analysis import runinfo
from relion_dem.core.runtime import runlog


def table(root, log=None):
    """[{iteration, resolution_A, healpix_order, regularized, enhancer_s, calls, fallbacks}]."""
    rows = {r['iteration']: dict(r, regularized=False, enhancer_s=0.0, calls=0, fallbacks=0,
                                 gate=None)
            for r in runinfo.per_iteration(root)}
    path = log or runinfo.log_path(root)
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


def has_log(root, log=None):
    return os.path.exists(log or runinfo.log_path(root))
