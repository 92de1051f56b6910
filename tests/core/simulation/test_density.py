import numpy as np
import pytest

from relion_dem.core.simulation import density, recipes
from relion_dem.core.maths import fourier


def test_potential_is_centred_band_limited_and_positive():
    m = density.potential_map(recipes.default_structure(), 40, 3.0)
    assert m.shape == (40, 40, 40) and m.dtype == np.float32
    z, y, x = np.indices(m.shape)
    w = np.clip(m, 0, None)
    com = [float((a * w).sum() / w.sum()) for a in (z, y, x)]
    assert com == pytest.approx([20, 20, 20], abs=1.0)
    # band-limited at Nyquist: Gibbs lobes are allowed, but the mass is positive
    assert np.abs(m[m < 0]).sum() < 0.3 * m[m > 0].sum()
    edge = m[0].max(), m[:, 0].max(), m[:, :, 0].max()
    assert max(edge) < 0.02 * m.max()          # the model fits in the box


def test_bfactor_blurs():
    sharp = density.potential_map(recipes.default_structure(), 32, 2.0)
    blurred = density.potential_map(recipes.default_structure(), 32, 2.0, bfactor=200)
    idx = fourier.radial_index(sharp.shape)
    high = idx > 10
    assert np.abs(np.fft.rfftn(blurred))[high].sum() < 0.3 * np.abs(np.fft.rfftn(sharp))[high].sum()


@pytest.mark.bad_input
def test_bad_model_files(tmp_path):
    with pytest.raises(density.ModelError, match='does not exist'):
        density.read_model(tmp_path / 'none.pdb')
    bad = tmp_path / 'bad.pdb'
    bad.write_text('HEADER nothing here\nEND\n')
    with pytest.raises(density.ModelError, match='bad.pdb: atomic model has no atoms'):
        density.read_model(bad)
