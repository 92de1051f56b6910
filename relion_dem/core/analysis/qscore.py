"""Q-score (Pintilie et al., Nat. Methods 17:328, 2020): how resolvable each atom is.

For every atom, map values are sampled at the atom and on spheres of radius
0.1 .. 2.0 Å (21 radii with 0, step 0.1 Å), 8 points a sphere spread evenly
(a spiral), keeping only points whose closest atom is the scored atom; when fewer
than 8 survive, the sphere is tried again with 2 more points, up to 50 times (as
MapQ does). The value at the atom itself counts once per point of a shell. The
reference profile is A·exp(-½ (r/σ)²) + B, σ = 0.6 Å, with MapQ's A and B from the
map statistics: B = max(mean - 1 sd, min), A = min(mean + 10 sd, max) - B.
The Q-score is the Pearson correlation (about the mean) of the sampled values and
the reference values at their radii. Per residue: the mean over its atoms.
"""
import numpy as np

from relion_dem.core.analysis.atomic_model import interpolate

SIGMA = 0.6
N_POINTS = 8
RADII = np.round(np.arange(0.0, 2.0 + 1e-9, 0.1), 10)  # 21 radii


def reference_parameters(data):
    """MapQ's A (height) and B (offset) of the reference Gaussian from map statistics."""
    d = np.asarray(data, np.float64)
    avg, sd = d.mean(), d.std()
    high = min(avg + 10 * sd, d.max())
    low = max(avg - sd, d.min())
    return high - low, low


def sphere_points(n):
    """``n`` unit vectors spread evenly on the sphere (Saff & Kuijlaars spiral, as MapQ)."""
    if n == 1:
        return np.array([[0.0, 0.0, 1.0]])
    k = np.arange(n)
    h = -1 + 2.0 * k / (n - 1)
    theta = np.arccos(np.clip(h, -1, 1))
    phi = np.zeros(n)
    for i in range(1, n - 1):
        phi[i] = (phi[i - 1] + 3.6 / np.sqrt(n * (1 - h[i] ** 2))) % (2 * np.pi)
    return np.stack([np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta)], 1)


def reference_profile(r, A, B, sigma=SIGMA):
    """The reference Gaussian A·exp(-r²/2σ²) + B at distances ``r`` (Å)."""
    return A * np.exp(-0.5 * (np.asarray(r, float) / sigma) ** 2) + B


def qscores(data, voxel_size, xyz, origin=(0.0, 0.0, 0.0), sigma=SIGMA, n_points=N_POINTS,
            radii=RADII, scored=None, A=None, B=None, max_tries=50):
    """Q-score of each atom (n,) of map ``data`` (z, y, x) at ``xyz`` (n, 3) Å.

    ``scored``: indices of the atoms to score (all atoms still count as neighbours);
    ``A``, ``B``: reference parameters (default: :func:`reference_parameters`).
    Atoms with no sampled point at all give NaN.
    """
    from scipy.spatial import cKDTree
    xyz = np.asarray(xyz, float)
    if A is None or B is None:
        A, B = reference_parameters(data)
    scored = np.arange(len(xyz)) if scored is None else np.asarray(scored)
    centres = xyz[scored]
    m = len(scored)
    # A point p at distance r from atom i is closer to atom j than to i exactly when
    # (p - i)·(j - i) > |j - i|²/2, which needs |j - i| < 2r: each atom keeps the vectors
    # to its neighbours within 2·max(radii), nearest first (zero-padded: never closer)
    reach = 2 * float(np.max(radii)) + 1e-6
    lists = cKDTree(xyz).query_ball_point(centres, reach)
    kmax = max(1, max(len(l) for l in lists))
    rel = np.zeros((m, kmax, 3))
    dist = np.full((m, kmax), np.inf)
    for i, (atom, l) in enumerate(zip(scored, lists)):
        l = [j for j in l if j != atom]
        if l:
            v = xyz[l] - centres[i]
            d = np.linalg.norm(v, axis=1)
            order = np.argsort(d)
            rel[i, :len(l)] = v[order]
            dist[i, :len(l)] = d[order]
    half = 0.5 * (rel ** 2).sum(-1)
    # per atom accumulators for the Pearson correlation
    sx, sy, sxx, syy, sxy, cnt = (np.zeros(m) for _ in range(6))

    def add(rows, values, ref):
        np.add.at(sx, rows, values)
        np.add.at(sxx, rows, values * values)
        np.add.at(sy, rows, ref)
        np.add.at(syy, rows, ref * ref)
        np.add.at(sxy, rows, values * ref)
        np.add.at(cnt, rows, 1)

    for r in radii:
        gref = float(reference_profile(r, A, B, sigma))
        if r == 0:
            v = interpolate(data, voxel_size, centres, origin)
            rows = np.repeat(np.arange(m), n_points)
            add(rows, np.repeat(v, n_points), np.full(m * n_points, gref))
            continue
        todo = np.arange(m)
        for t in range(max_tries):
            if len(todo) == 0:
                break
            npts = n_points + 2 * t
            offsets = r * sphere_points(npts)                                   # (p, 3)
            k = max(1, int((dist[todo] < 2 * r).sum(1).max()))    # neighbours that matter
            ok = np.empty((len(todo), npts), bool)
            for c in range(0, len(todo), 1024):
                sel = todo[c:c + 1024]
                dots = np.matmul(rel[sel, :k], offsets.T)                        # (n, k, p)
                ok[c:c + 1024] = (dots <= half[sel, :k, None] + 1e-9).all(1)
            pts = centres[todo, None, :] + offsets[None, :, :]                  # (n, p, 3)
            counts = ok.sum(1)
            done = (counts >= n_points) | (t == max_tries - 1)
            if done.any():
                sel_atoms = todo[done]
                okd = ok[done]
                rows = np.repeat(sel_atoms, npts)[okd.ravel()]
                p = pts[done].reshape(-1, 3)[okd.ravel()]
                if len(p):
                    add(rows, interpolate(data, voxel_size, p, origin), np.full(len(p), gref))
            todo = todo[~done]
    with np.errstate(invalid='ignore', divide='ignore'):
        cov = sxy - sx * sy / cnt
        vx = sxx - sx * sx / cnt
        vy = syy - sy * sy / cnt
        q = cov / np.sqrt(vx * vy)
    return q


def per_residue(q, atoms):
    """[(chain, resnum, resname, mean Q, n atoms)] in model order."""
    order, acc = [], {}
    for key, v in zip(atoms.residue_keys(), q):
        if key not in acc:
            acc[key] = []
            order.append(key)
        if np.isfinite(v):
            acc[key].append(v)
    return [(c, n, r, float(np.mean(acc[(c, n, r)])) if acc[(c, n, r)] else float('nan'),
             len(acc[(c, n, r)])) for c, n, r in order]


def expected_q(resolution_A):
    """Q expected at a resolution for well-fitted atoms (Pintilie et al. 2020, σ = 0.6 Å)."""
    return -0.1775 * float(resolution_A) + 1.1192


def summary(q, atoms=None):
    """Mean and median Q-score over the finite values; with ``atoms`` also per-residue numbers."""
    q = np.asarray(q, float)
    good = q[np.isfinite(q)]
    out = dict(q_mean=float(good.mean()) if good.size else float('nan'),
               q_median=float(np.median(good)) if good.size else float('nan'),
               atoms=int(good.size))
    if atoms is not None:
        res = per_residue(q, atoms)
        out['residues'] = len(res)
        out['q_residue_mean'] = float(np.nanmean([r[3] for r in res]))
    return out
