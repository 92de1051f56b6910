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
