"""Electron-potential maps from atomic models (pdb, pdb.gz, pdb.bz2, cif) with gemmi.

The potential is computed on a twice-finer grid and Fourier-cropped to the
requested box, so the map is band-limited at Nyquist instead of aliased.
"""
import bz2
import os
import tempfile

import numpy as np

from relion_dem.core.maths import fourier


class ModelError(ValueError):
    """An atomic model file cannot be read or holds no atoms."""


def read_model(path):
    """Read an atomic model with gemmi (hydrogens and waters removed)."""
    import gemmi
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ModelError('%s: atomic model file does not exist' % path)
    try:
        if path.endswith('.bz2'):
            inner = os.path.basename(path)[:-4]
            with bz2.open(path) as f, tempfile.TemporaryDirectory() as d:
                tmp = os.path.join(d, inner)
                with open(tmp, 'wb') as out:
                    out.write(f.read())
                st = gemmi.read_structure(tmp)
        else:
            st = gemmi.read_structure(path)
    except Exception as e:
        raise ModelError('%s: cannot read atomic model (%s)' % (path, e))
    st.remove_hydrogens()
    st.remove_waters()
    st.remove_empty_chains()
    if len(st) == 0 or st[0].count_atom_sites() == 0:
        raise ModelError('%s: atomic model has no atoms' % path)
    return st


def atom_positions(st):
    """(n, 3) array of x, y, z in Å of the first model's atoms."""
    return np.array([a.pos.tolist() for ch in st[0] for res in ch for a in res])


def model_extent(st):
    """Largest distance of an atom from the model's centre, in Å (the radius)."""
    pos = atom_positions(st)
    return float(np.max(np.linalg.norm(pos - pos.mean(0), axis=1)))


def centre_model(st, box, voxel_size):
    """Translate the first model so its centre of mass sits at the box centre (voxel box//2)."""
    import gemmi
    pos = atom_positions(st)
    target = (box // 2) * voxel_size
    shift = gemmi.Position(*(target - pos.mean(0)))
    for ch in st[0]:
        for res in ch:
            for a in res:
                a.pos = a.pos + shift
    return st


def potential_map(model, box, voxel_size, bfactor=0.0, centre=True):
    """Electron potential of ``model`` (path or gemmi Structure) as a (z, y, x) float32 map.

    ``bfactor`` (Å²) blurs every atom on top of its own B-factor.
    """
    import gemmi
    st = read_model(model) if isinstance(model, (str, os.PathLike)) else model.clone()
    if centre:
        centre_model(st, box, voxel_size)
    fine = 2 * box
    length = box * voxel_size
    st.cell = gemmi.UnitCell(length, length, length, 90, 90, 90)
    st.spacegroup_hm = 'P 1'
    dc = gemmi.DensityCalculatorE()
    dc.d_min = voxel_size
    dc.blur = float(bfactor)
    dc.set_grid_cell_and_spacegroup(st)
    dc.grid.set_size(fine, fine, fine)
    dc.add_model_density_to_grid(st[0])
    dc.grid.symmetrize_sum()
    dense = np.array(dc.grid, copy=True).transpose(2, 1, 0)  # gemmi is (x, y, z)
    return fourier.crop(dense, box).astype(np.float32)
