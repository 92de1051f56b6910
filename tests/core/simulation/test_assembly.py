import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from relion_dem.core.maths import rotations
from relion_dem.core.io import mrc
from relion_dem.core.simulation import assembly, density, recipes, simulate
from conftest import needs_relion


def _dimer(axis, point, angle=180.0):
    """adk_open's chain plus a copy turned by ``angle`` about ``axis`` through ``point``."""
    import gemmi
    st = density.read_model(recipes.default_structure())
    R = Rotation.from_rotvec(np.radians(angle) * np.asarray(axis) / np.linalg.norm(axis)).as_matrix()
    copy = st[0][0].clone()
    copy.name = 'B'
    for res in copy:
        for at in res:
            p = np.array(at.pos.tolist())
            at.pos = gemmi.Position(*(R @ (p - point) + point))
    st[0].add_chain(copy)
    return st


def test_cyclic_finds_the_axis_and_builds_an_exact_assembly_on_z():
    st = _dimer([1.0, 2.0, -0.5], np.array([12.0, -7.0, 30.0]))
    axis, point, angle, rmsd = assembly.fit_axis(st[0][0], st[0][1])
    assert angle == pytest.approx(180.0, abs=0.01) and rmsd < 1e-3
    assert abs(axis.dot([1.0, 2.0, -0.5]) / np.linalg.norm([1.0, 2.0, -0.5])) == pytest.approx(1.0, abs=1e-6)
    out = assembly.cyclic(st, 'C2')
    p = density.atom_positions(out)
    assert len(p) == 2 * len(density.atom_positions(density.read_model(recipes.default_structure())))
    # every RELION C2 operator maps the assembly onto itself
    for L in rotations.symmetry_matrices('C2'):
        moved = p @ np.asarray(L).T
        from scipy.spatial import cKDTree
        assert cKDTree(p).query(moved)[0].max() < 1e-3


def test_cyclic_refuses_what_it_cannot_build():
    single = density.read_model(recipes.default_structure())
    with pytest.raises(assembly.AssemblyError, match='at least two copies'):
        assembly.cyclic(single, 'C2')
    with pytest.raises(assembly.AssemblyError, match='related by 180.0 degrees, not 120.0'):
        assembly.cyclic(_dimer([0, 0, 1.0], np.zeros(3)), 'C3')
    with pytest.raises(assembly.AssemblyError, match='not symmetric under D2 .* only cyclic'):
        assembly.build(_dimer([0, 0, 1.0], np.zeros(3)), 'D2')
    with pytest.raises(assembly.AssemblyError, match='not supported'):
        assembly.order('X7')
    assert assembly.order(None) == 1 and assembly.order('c4') == 4 and assembly.order('O') == 24


def test_a_model_already_symmetric_in_relions_frame_is_kept():
    built = assembly.cyclic(_dimer([0.2, 1.0, 0.1], np.array([3.0, 4.0, 5.0])), 'C2')
    assert assembly.invariant(built, 'C2') and not assembly.invariant(built, 'C4')
    assert assembly.build(built, 'C2') is built
    st = _dimer([0.2, 1.0, 0.1], np.array([3.0, 4.0, 5.0]))
    assert not assembly.invariant(st, 'C2')          # its axis is not RELION's z


@needs_relion
def test_symmetric_data_set_has_a_c2_truth_and_refines_with_its_symmetry(tmp_path):
    import gemmi
    st = _dimer([0.3, -1.0, 0.4], np.array([5.0, 5.0, 5.0]))
    model = str(tmp_path / 'dimer.pdb')
    st.write_pdb(model)
    info = simulate.simulate(model, str(tmp_path / 'd'), box=40, voxel_size=4.0, n_particles=5, snr=1.0,
                             symmetry='C2')
    assert info['symmetry'] == 'C2' and info['source_model'] == model
    assert gemmi.read_structure(info['model'])[0].count_atom_sites() == 2 * st[0][0].count_atom_sites()
    truth = mrc.read(tmp_path / 'd' / 'truth.mrc')[0]
    inner = truth[:, 1:, 1:]                       # voxel i <-> box - i about the centre box // 2
    turned = inner[:, ::-1, ::-1]                  # 180° about z
    assert np.corrcoef(inner.ravel(), turned.ravel())[0, 1] > 0.999
    args = recipes.refine_args(str(tmp_path / 'd'), 'run')
    assert args[args.index('--sym') + 1] == 'C2'
