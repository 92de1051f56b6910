"""Repeats over seeds: each arm's metrics as mean ± sd, and paired comparisons on the same
particles (each seed simulates its own particles and gives RELION its own ``--random_seed``; the
arms of one seed share them), with a paired t-test saying which differences exceed the scatter."""
import numpy as np
from scipy import stats

from .settings import METRIC_KEYS

#: (arm, against): the comparisons the benchmark's claims rest on
PAIRS = (('dem', 'relion'), ('dem', 'sidesplitter'), ('dem', 'oracle'), ('dem_from_first', 'dem'),
         ('dem_no_guards', 'dem'), ('none_control', 'relion'), ('dem_then_post', 'dem_post'),
         ('dem', 'dem_classical'))
#: the metrics compared in pairs (smaller is better for each)
PAIRED_METRICS = ('truth_res_masked_A', 'truth_res_A', 'ang_err_deg')


def _values(per_seed, name, key):
    out = []
    for s in per_seed:
        m = s['runs'].get(name) or s['extra_runs'].get(name) or {}
        out.append(m.get(key))
    return out


def arm_statistics(per_seed):
    """{arm: {metric: dict(mean, sd, n, values)}} over the seeds (None values left out)."""
    names = sorted({n for s in per_seed for n in list(s['runs']) + list(s['extra_runs'])})
    out = {}
    for name in names:
        out[name] = {}
        for key in METRIC_KEYS:
            v = [x for x in _values(per_seed, name, key) if x is not None]
            if v:
                out[name][key] = dict(mean=round(float(np.mean(v)), 3),
                                      sd=round(float(np.std(v, ddof=1)), 3) if len(v) > 1 else None,
                                      n=len(v), values=v)
    return out


def paired(per_seed, alpha=0.05):
    """[dict(arm, against, metric, mean_diff, sd_diff, n, p, exceeds_scatter)]: arm minus against,
    seed by seed (negative: the arm is finer / more accurate)."""
    rows = []
    for arm, against in PAIRS:
        for key in PAIRED_METRICS:
            a, b = _values(per_seed, arm, key), _values(per_seed, against, key)
            d = [x - y for x, y in zip(a, b) if x is not None and y is not None]
            if len(d) < 2:
                continue
            sd = float(np.std(d, ddof=1))
            p = float(stats.ttest_1samp(d, 0.0).pvalue) if sd > 0 else (0.0 if np.mean(d) else 1.0)
            rows.append(dict(arm=arm, against=against, metric=key, mean_diff=round(float(np.mean(d)), 3),
                             sd_diff=round(sd, 3), n=len(d), p=round(p, 4), exceeds_scatter=bool(p < alpha)))
    return rows


def holm(pvalues):
    """Holm-Bonferroni adjusted p-values (same order): the family-wise error stays below alpha
    when a difference is called real only where its adjusted p < alpha."""
    p = np.asarray(pvalues, dtype=float)
    order = np.argsort(p)
    m = len(p)
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    return [round(float(v), 4) for v in adjusted]


def mean_runs(per_seed, names):
    """The JSON's ``runs`` over the seeds: each metric's mean (rounded as the single runs are)."""
    st = arm_statistics(per_seed)
    out = {}
    for name in names:
        out[name] = {k: (round(st[name][k]['mean'], 2) if k in st.get(name, {}) else None) for k in METRIC_KEYS}
    return out
