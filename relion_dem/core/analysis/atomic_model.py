"""An atomic model placed on a map's grid: atom coordinates and residue labels (gemmi)."""
import numpy as np

from relion_dem.core.simulation import density


class Atoms:
    """Atoms of the first model: ``xyz`` (n, 3) in Å, and per atom ``chain``, ``resnum``,
    ``resname``, ``name``, ``element``."""

    def __init__(self, xyz, chain, resnum, resname, name, element):
        self.xyz = np.asarray(xyz, float)
        self.chain, self.resnum, self.resname = list(chain), list(resnum), list(resname)
        self.name, self.element = list(name), list(element)

    def __len__(self):
        return len(self.xyz)

    def residue_keys(self):
        """(chain, residue number, residue name) of each atom."""
        return list(zip(self.chain, self.resnum, self.resname))

    def subset(self, sel):
        """The atoms selected by ``sel`` (indices or a boolean mask)."""
        sel = np.asarray(sel)
        if sel.dtype == bool:
            sel = np.nonzero(sel)[0]
        pick = lambda v: [v[i] for i in sel]  # noqa: E731
        return Atoms(self.xyz[sel], pick(self.chain), pick(self.resnum), pick(self.resname),
                     pick(self.name), pick(self.element))


def load(model, box=None, voxel_size=None, centre=False):
    """Atoms of ``model`` (path or gemmi Structure; hydrogens and waters removed).

    With ``centre`` the model is moved as ``relion_dem.core.simulation.simulate`` moved it for the
    truth map (centre of mass to voxel ``box // 2``), so it lies on that map's grid.
    """
    st = density.read_model(model) if not hasattr(model, 'clone') else model.clone()
    if centre:
        if box is None or voxel_size is None:
            raise ValueError('centring a model needs the box and voxel size of the map')
        density.centre_model(st, box, voxel_size)
    xyz, chain, resnum, resname, name, element = [], [], [], [], [], []
    for ch in st[0]:
        for res in ch:
            for a in res:
                xyz.append(a.pos.tolist())
                chain.append(ch.name)
                resnum.append(res.seqid.num)
                resname.append(res.name)
                name.append(a.name)
                element.append(a.element.name)
    return Atoms(xyz, chain, resnum, resname, name, element), st


def model_map(st, box, voxel_size, bfactor=0.0):
    """Potential map of a (placed) gemmi Structure on the ``box``/``voxel_size`` grid."""
    return density.potential_map(st, box, voxel_size, bfactor=bfactor, centre=False)


def interpolate(data, voxel_size, xyz, origin=(0.0, 0.0, 0.0), order=1):
    """Map values (trilinear by default) at positions ``xyz`` (n, 3) Å; ``data`` is (z, y, x)
    with voxel (0, 0, 0) at ``origin`` Å. Outside the box: 0."""
    from scipy import ndimage
    p = (np.asarray(xyz, float) - np.asarray(origin, float)) / float(voxel_size)
    coords = np.stack([p[:, 2], p[:, 1], p[:, 0]])
    return ndimage.map_coordinates(np.asarray(data, np.float64), coords, order=order,
                                   mode='constant', cval=0.0)
