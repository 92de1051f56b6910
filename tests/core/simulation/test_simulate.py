import os

import mrcfile
import numpy as np
import pytest

from relion_dem.core.analysis import fsc as fsc
from relion_dem.core.io import mrc, star
from relion_dem.core.simulation import recipes, simulate
from conftest import needs_relion


def _shell_power(data, shell):
    from relion_dem.core.maths import fourier
    return float((np.abs(np.fft.rfftn(data)) ** 2)[fourier.radial_index(data.shape) == shell].sum())


@needs_relion
def test_simulated_particles_match_truth_projections(tmp_path):
    info = simulate.simulate(recipes.default_structure(), str(tmp_path), box=32, voxel_size=3.5,
                             n_particles=60, snr=0.5, seed=5, cone_deg=30)
    for name in ('truth.mrc', 'initial.mrc', 'particles.mrcs', 'particles.star', 'truth_particles.star'):
        assert os.path.exists(tmp_path / name)
    truth_star = star.block(star.read(tmp_path / 'truth_particles.star'), 'particles')
    tilt = np.array(truth_star.column('_rlnAngleTilt', float))
    assert tilt.max() <= 30.0 + 1e-6                     # tilt cone honoured
    refine_star = star.block(star.read(tmp_path / 'particles.star'), 'particles')
    assert '_rlnAngleRot' not in refine_star.labels     # refinement starts without angles
    with mrcfile.open(tmp_path / 'particles.mrcs') as m:
        stack = np.array(m.data)
        assert m.voxel_size.x == pytest.approx(3.5)
    assert stack.shape == (60, 32, 32)
    # unit background noise, and the stated SNR (signal variance / noise variance)
    corner = stack[:, :4, :4]
    assert corner.std() == pytest.approx(1.0, rel=0.1)
    assert (stack.var() - 1.0) == pytest.approx(0.5, rel=0.25)
    # the initial reference is the truth low-passed to 40 Å
    truth, v = mrc.read(tmp_path / 'truth.mrc')
    init, _ = mrc.read(tmp_path / 'initial.mrc')
    assert fsc.fsc(truth, init)[2] > 0.95                # 56 Å kept
    assert _shell_power(init, 6) < 1e-6 * _shell_power(truth, 6)   # 18.7 Å gone


@needs_relion
def test_pure_noise_and_lowpass_controls(tmp_path):
    simulate.simulate(recipes.default_structure(), str(tmp_path / 'noise'), box=24, voxel_size=5.0,
                      n_particles=10, snr=1.0, pure_noise=True)
    with mrcfile.open(tmp_path / 'noise' / 'particles.mrcs') as m:
        assert abs(float(m.data.mean())) < 0.05 and float(m.data.std()) == pytest.approx(1.0, rel=0.05)
    simulate.simulate(recipes.default_structure(), str(tmp_path / 'lp'), box=24, voxel_size=3.0,
                      n_particles=10, snr=1.0, lowpass_A=12.0)
    truth, _ = mrc.read(tmp_path / 'lp' / 'truth.mrc')
    src, _ = mrc.read(tmp_path / 'lp' / 'source.mrc')
    assert fsc.fsc(truth, src)[4] > 0.9                  # 18 Å kept
    assert _shell_power(src, 8) < 1e-6 * _shell_power(truth, 8)    # 9 Å removed


def test_unknown_option_rejected(tmp_path):
    with pytest.raises(TypeError, match='unknown simulation options: snrr'):
        simulate.simulate(recipes.default_structure(), str(tmp_path), snrr=1)


def test_orientations_uniform_and_cone():
    rng = np.random.default_rng(0)
    rot, tilt, psi = simulate.random_orientations(20000, rng)
    assert np.mean(np.cos(np.radians(tilt))) == pytest.approx(0.0, abs=0.02)
    _, tilt, _ = simulate.random_orientations(2000, rng, cone_deg=40)
    assert tilt.max() <= 40


def test_perturbed_poses_as_a_consensus_hands_them_over():
    """Each pose is turned by a rotation vector of normal components (median angle 1.54 sd) and
    moved by normal shifts; the angle is measured between the rotation matrices."""
    from relion_dem.core.maths import euler
    rng = np.random.default_rng(3)
    rot, tilt, psi = simulate.random_orientations(4000, rng)
    sx, sy = rng.uniform(-4, 4, (2, 4000))
    r, t, p, x, y = simulate.perturbed_poses(rot, tilt, psi, sx, sy, 2.0, 0.7, rng)
    a, b = euler.matrices(rot, tilt, psi), euler.matrices(r, t, p)
    cos = (np.trace(np.swapaxes(a, 1, 2) @ b, axis1=1, axis2=2) - 1) / 2
    angle = np.degrees(np.arccos(np.clip(cos, -1, 1)))
    assert np.median(angle) == pytest.approx(1.54 * 2.0, rel=0.05)
    assert np.std(x - sx) == pytest.approx(0.7, rel=0.05) and np.std(y - sy) == pytest.approx(0.7, rel=0.05)
    # no pose perturbed: the same poses
    r0, t0, p0, _, _ = simulate.perturbed_poses(rot, tilt, psi, sx, sy, 0.0, 0.0, rng)
    assert np.allclose(euler.matrices(r0, t0, p0), a, atol=1e-9)


@needs_relion
def test_local_refinement_data_start_from_perturbed_poses(tmp_path):
    simulate.simulate(recipes.default_structure(), str(tmp_path), box=24, voxel_size=3.0, n_particles=20,
                      snr=1.0, seed=2, start_angle_sd_deg=2.0, start_shift_sd_A=0.5, initial_lowpass_A=8.0)
    start = star.block(star.read(tmp_path / 'particles.star'), 'particles')
    truth = star.block(star.read(tmp_path / 'truth_particles.star'), 'particles')
    assert start.column('_rlnImageName') == truth.column('_rlnImageName')
    for label in ('_rlnAngleTilt', '_rlnOriginXAngst'):
        d = np.abs(np.array(start.column(label, float)) - np.array(truth.column(label, float)))
        assert 0 < np.median(d) < 5
    assert recipes.refine_args(str(tmp_path), 'r', ini_high=8)[recipes.refine_args(str(tmp_path), 'r').index('--ini_high') + 1] == '8'
