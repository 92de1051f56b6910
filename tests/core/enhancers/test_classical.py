import subprocess
import sys

import numpy as np

from relion_dem.core.enhancers import classical
from relion_dem.core.simulation import density, recipes
from relion_dem.core.analysis import fsc as fsc
from relion_dem.core.io import mrc


def test_classical_denoises_a_noisy_map(tmp_path):
    truth = density.potential_map(recipes.default_structure(), 40, 3.0)
    truth /= truth.std()
    noisy = truth + np.random.default_rng(0).normal(0, 1.5, truth.shape).astype(np.float32)
    curve = fsc.fsc(truth, noisy)          # a stand-in for the gold-standard FSC
    mrc.write(tmp_path / 'in.mrc', noisy, 3.0)
    star = tmp_path / 'req.star'
    rows = '\n'.join('%d 1.0 %.4f' % (i, c) for i, c in enumerate(curve))
    star.write_text('data_external_reconstruct_tau2\nloop_\n_rlnSpectralIndex #1\n'
                    '_rlnReferenceTau2 #2\n_rlnGoldStandardFsc #3\n' + rows + '\n')
    subprocess.run([sys.executable, '-m', 'relion_dem.core.enhancers.classical', str(tmp_path / 'in.mrc'),
                    str(tmp_path / 'out.mrc'), '--star', str(star)], check=True)
    out, voxel = mrc.read(tmp_path / 'out.mrc')
    assert voxel == 3.0
    cc_in = np.corrcoef(truth.ravel(), noisy.ravel())[0, 1]
    cc_out = np.corrcoef(truth.ravel(), out.ravel())[0, 1]
    assert cc_out > cc_in + 0.1


def test_fsc_weights():
    w = classical.fsc_weights([1.0, 0.5, 0.0, -0.2])
    np.testing.assert_allclose(w, [1.0, np.sqrt(2 / 3), 0.0, 0.0])
