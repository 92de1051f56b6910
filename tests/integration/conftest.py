"""A simulated data set shared by the integration tests (real relion_project, real RELION)."""
import os

import pytest

from relion_dem.core import recipes, simulate

#: the demo's data regime: the shipped adk_open model, 40 px at 3 Å/px (Nyquist 6 Å), SNR 0.3 (local searches begin)
DATASET = dict(box=40, voxel_size=3.0, n_particles=500, snr=0.3, seed=3)


@pytest.fixture(scope='session')
def dataset(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp('adk'))
    simulate.simulate(recipes.default_structure(), folder, **DATASET)
    return folder
