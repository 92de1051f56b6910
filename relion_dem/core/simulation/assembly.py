"""Symmetric assemblies in RELION's symmetry frame, for refinements with ``--sym``.

A symmetric refinement assumes the truth is symmetric about the box centre in RELION's frame
(src/symmetries.cpp: Cn about z, the octahedral group's 4-folds along x, y, z...).
:func:`build` keeps a model that already is (``invariant``: cryo-EM models such as apoferritin are
deposited that way), and otherwise builds a cyclic one: a deposited homo-oligomer is only nearly
symmetric (ligands break the symmetry), so :func:`cyclic` fits the n-fold axis from the
superposition of the first chain on the next one, keeps the first chain's polymer, moves the axis
onto z and builds the other n - 1 copies by exact rotations about z.
"""
import re

import numpy as np

from relion_dem.core.maths import rotations

CYCLIC = re.compile(r'^C(\d+)$')


class AssemblyError(ValueError):
    pass


def order(sym):
    """The number of operators of point group ``sym`` (RELION's symbols; 1 for C1 or None)."""
    try:
        return len(rotations.symmetry_matrices(sym or 'C1'))
    except ValueError as e:
        raise AssemblyError(str(e))


def invariant(st, sym, tolerance_A=0.5):
    """Is the model mapped onto itself by every operator of ``sym`` (RELION's matrices) about the
    centroid of its CA atoms? (median distance of the turned CA atoms to the nearest CA atom)"""
    from scipy.spatial import cKDTree
    ca = np.array([p for ch in st[0] for p in _ca(ch).values()])
    if len(ca) < 10:
        return False
    p = ca - ca.mean(0)
    tree = cKDTree(p)
    return all(np.median(tree.query(p @ np.asarray(L).T)[0]) < tolerance_A for L in rotations.symmetry_matrices(sym))


def build(st, sym):
    """A model symmetric under ``sym`` in RELION's frame: ``st`` itself when it already is
    (:func:`invariant`), else the Cn assembly of its first chain (:func:`cyclic`)."""
    if invariant(st, sym):
        return st
    if CYCLIC.match(str(sym).strip().upper()):
        return cyclic(st, sym)
    raise AssemblyError('the model is not symmetric under %s in RELION\'s frame (about the centroid of its CA '
                        'atoms), and only cyclic assemblies are built from a model' % sym)


def _polymer(chain):
    """The chain's polymer residues (ATOM records: ligands, ions and waters are HETATM)."""
    return [r for r in chain if r.het_flag == 'A']


def _ca(chain):
    return {(r.seqid.num, r.seqid.icode): r['CA'][0].pos.tolist() for r in _polymer(chain) if r.find_atom('CA', '*')}


def fit_axis(first, second):
    """(unit axis, point on the axis, angle in degrees) of the rotation that superposes chain
    ``first`` on chain ``second`` (CA atoms of residues with the same number)."""
    from scipy.spatial.transform import Rotation
    a, b = _ca(first), _ca(second)
    common = sorted(set(a) & set(b))
    if len(common) < 10:
        raise AssemblyError('chains %s and %s share only %d residues: not copies of one chain'
                            % (first.name, second.name, len(common)))
    A = np.array([a[k] for k in common])
    B = np.array([b[k] for k in common])
    rot, _ = Rotation.align_vectors(B - B.mean(0), A - A.mean(0))  # Kabsch: A onto B
    R = rot.as_matrix()
    t = B.mean(0) - R @ A.mean(0)
    rmsd = float(np.sqrt(((A @ R.T + t - B) ** 2).sum(1).mean()))
    w, v = np.linalg.eig(R)
    axis = np.real(v[:, np.argmin(np.abs(w - 1))])
    axis /= np.linalg.norm(axis)
    angle = np.degrees(np.arccos(np.clip((np.trace(R) - 1) / 2, -1, 1)))
    # the fixed line: (I - R) c = t, solved in the plane normal to the axis
    c = np.linalg.lstsq(np.eye(3) - R, t - axis * axis.dot(t), rcond=None)[0]
    return axis, c - axis * axis.dot(c), angle, rmsd


def _to_z(axis):
    """A rotation matrix taking ``axis`` onto +z (its rows: an orthonormal basis ending in ``axis``;
    the rotation about the axis is free)."""
    helper = np.eye(3)[np.argmin(np.abs(axis))]
    u = np.cross(axis, helper)
    u /= np.linalg.norm(u)
    return np.array([u, np.cross(axis, u), axis])


def cyclic(st, sym, tolerance_deg=5.0):
    """A new gemmi Structure: the Cn assembly of ``st``'s first chain, its axis on z through the
    origin. ``st`` must hold at least two copies of the chain related by 360/n degrees."""
    import gemmi
    n = order(sym)
    chains = [ch for ch in st[0] if _polymer(ch)]
    if n == 1:
        return st.clone()
    if len(chains) < 2:
        raise AssemblyError('symmetry %s needs at least two copies of the chain; the model has %d polymer chain(s)'
                            % (sym, len(chains)))
    axis, point, angle, rmsd = fit_axis(chains[0], chains[1])
    if abs(angle - 360.0 / n) > tolerance_deg:
        raise AssemblyError('chains %s and %s are related by %.1f degrees, not %.1f as %s needs'
                            % (chains[0].name, chains[1].name, angle, 360.0 / n, sym))
    M = _to_z(axis)
    first = gemmi.Chain('A')
    for res in _polymer(chains[0]):
        first.add_residue(res)
    out = gemmi.Structure()
    out.cell = st.cell
    out.add_model(gemmi.Model('1'))
    for k, L in enumerate(rotations.symmetry_matrices(sym)):   # RELION's own operators, identity first
        T = np.asarray(L) @ M
        copy = gemmi.Chain(chr(ord('A') + k))
        for res in first:
            r = res.clone()
            for at in r:
                at.pos = gemmi.Position(*(T @ (np.array(at.pos.tolist()) - point)))
            copy.add_residue(r)
        out[0].add_chain(copy)
    out.setup_entities()
    return out
