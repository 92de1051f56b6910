"""Exactly symmetric assemblies in RELION's symmetry frame, for refinements with ``--sym Cn``.

A deposited homo-oligomer is only nearly symmetric (and ligands break the symmetry), while a
symmetric refinement assumes the truth is exact and its axis lies where RELION puts it: for Cn
the z axis through the box centre (src/symmetries.cpp). :func:`cyclic` fits the n-fold axis from
the superposition of the first chain on the next one, keeps the first chain's polymer, moves the
axis onto z and builds the other n - 1 copies by exact rotations about z.
"""
import re

import numpy as np

CYCLIC = re.compile(r'^C(\d+)$')


class AssemblyError(ValueError):
    pass


def order(sym):
    """n of a cyclic point group 'Cn' (1 for C1); AssemblyError for the others."""
    m = CYCLIC.match(str(sym or 'C1').strip().upper())
    if not m or int(m.group(1)) < 1:
        raise AssemblyError('symmetry %r: only cyclic groups Cn are built from a model' % sym)
    return int(m.group(1))


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
    for k in range(n):
        phi = np.radians(360.0 * k / n)
        Rz = np.array([[np.cos(phi), -np.sin(phi), 0], [np.sin(phi), np.cos(phi), 0], [0, 0, 1]])
        T = Rz @ M
        copy = gemmi.Chain(chr(ord('A') + k))
        for res in first:
            r = res.clone()
            for at in r:
                at.pos = gemmi.Position(*(T @ (np.array(at.pos.tolist()) - point)))
            copy.add_residue(r)
        out[0].add_chain(copy)
    out.setup_entities()
    return out
