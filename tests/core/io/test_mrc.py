import numpy as np
import pytest

from relion_dem.core.io import mrc


def test_round_trip_keeps_voxel_size(tmp_path):
    data = np.random.default_rng(0).normal(size=(8, 8, 8)).astype(np.float32)
    mrc.write(tmp_path / 'a.mrc', data, 1.37)
    back, voxel = mrc.read(tmp_path / 'a.mrc')
    assert voxel == pytest.approx(1.37, abs=1e-4)
    np.testing.assert_array_equal(back, data)


@pytest.mark.parametrize('case, problem', [
    ('missing', 'does not exist'),
    ('corrupt', 'not a readable MRC map'),
    ('nan', 'NaN or Inf'),
    ('noncubic', 'expected a cubic map'),
])
@pytest.mark.bad_input
def test_bad_maps_give_clear_errors(tmp_path, case, problem):
    path = tmp_path / ('%s.mrc' % case)
    if case == 'corrupt':
        path.write_bytes(b'MRC? no' * 20)
    elif case == 'nan':
        d = np.zeros((4, 4, 4), np.float32)
        d[1, 1, 1] = np.nan
        mrc.write(path, d, 1.0)
    elif case == 'noncubic':
        mrc.write(path, np.zeros((4, 4, 6), np.float32), 1.0)
    with pytest.raises(mrc.MapError) as e:
        mrc.read(path, cubic=True)
    assert str(path) in str(e.value) and problem in str(e.value)


def test_read_selection_reads_what_it_indexes(tmp_path):
    data = np.arange(6 * 6 * 4, dtype=np.float32).reshape(6, 6, 4)
    mrc.write(tmp_path / 'padded.mrc', data, 1.0)
    got = mrc.read_selection(tmp_path / 'padded.mrc', lambda d: d[::2, ::2, ::2])
    assert np.array_equal(got, data[::2, ::2, ::2]) and got.dtype == np.float32


@pytest.mark.parametrize('case, problem', [
    ('missing', 'does not exist'),
    ('corrupt', 'not a readable MRC map'),
    ('nan', 'NaN or Inf'),
    ('wrong shape', 'not the one expected (bad shape)'),
])
@pytest.mark.bad_input
def test_read_selection_names_the_file_and_the_problem(tmp_path, case, problem):
    path = tmp_path / ('%s.mrc' % case)
    d = np.zeros((4, 4, 4), np.float32)
    if case == 'corrupt':
        path.write_bytes(b'MRC? no' * 20)
    elif case == 'nan':
        d[1, 1, 1] = np.nan
    if case in ('nan', 'wrong shape'):
        mrc.write(path, d, 1.0)

    def select(a):
        if case == 'wrong shape':
            raise ValueError('bad shape')
        return a
    with pytest.raises(mrc.MapError) as e:
        mrc.read_selection(path, select)
    assert str(path) in str(e.value) and problem in str(e.value)
