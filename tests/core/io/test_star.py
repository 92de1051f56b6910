import os

import pytest

from relion_dem.core.io import star
from conftest import DATA


def test_reads_real_external_reconstruct_request_by_label():
    blocks = star.read(os.path.join(DATA, 'run_it007_half1_class001_external_reconstruct.star'))
    general = star.block(blocks, 'external_reconstruct_general')
    assert general.get('_rlnOriginalImageSize', int) == 24
    assert general.get('rlnPaddingFactor', float) == 2.0
    assert general.get('_rlnExtReconsResult').endswith('run_it007_half1_class001_external_reconstruct.mrc')
    tau = star.block(blocks, 'external_reconstruct_tau2')
    fsc = tau.column('_rlnGoldStandardFsc', float)
    assert len(fsc) == len(tau.column('_rlnSpectralIndex', int)) >= 12
    assert fsc[0] == pytest.approx(1.0) and min(fsc) < 0.5


def test_reads_real_sampling_and_optimiser():
    hp = star.read(os.path.join(DATA, 'run_it006_sampling.star'))
    assert any(b.has('_rlnHealpixOrder') and b.get('_rlnHealpixOrder', int) == 2 for b in hp)
    opt = star.read(os.path.join(DATA, 'run_it000_optimiser.star'))
    assert star.block(opt, 'optimiser_general').get('_rlnAutoLocalSearchesHealpixOrder', int) == 2


def test_columns_found_by_label_not_position():
    text = ('data_particles\nloop_\n_rlnAngleTilt #1\n_rlnImageName #2\n_rlnAngleRot #3\n'
            '10.0 1@a.mrcs 20.0\n11.0 2@a.mrcs 21.0\n')
    b = star.parse(text)[0]
    assert b.column('rlnAngleRot', float) == [20.0, 21.0]
    assert b.column('_rlnAngleTilt', float) == [10.0, 11.0]


def test_quoted_values_with_spaces_round_trip(tmp_path):
    path = tmp_path / 'with space.star'
    blocks = [star.Block('general', pairs={'_rlnExtReconsResult': 'My Refine (v2)/run it.mrc'}),
              star.Block('t', labels=['_rlnImageName', '_rlnX'], rows=[['1@my stack.mrcs', '3']])]
    star.write(path, blocks)
    back = star.read(path)
    assert star.block(back, 'general').get('_rlnExtReconsResult') == 'My Refine (v2)/run it.mrc'
    assert star.block(back, 't').column('_rlnImageName') == ['1@my stack.mrcs']


def test_missing_label_names_file_block_and_label():
    blocks = star.read(os.path.join(DATA, 'run_it006_sampling.star'))
    with pytest.raises(star.StarError) as e:
        blocks[0].get('_rlnNoSuchLabel')
    assert 'run_it006_sampling.star' in str(e.value) and '_rlnNoSuchLabel' in str(e.value)


@pytest.mark.parametrize('content, problem', [
    (b'', 'no data_ block'),
    (b'\x00\xff\xfe binary', 'not a text STAR'),
    (b'data_x\nloop_\n_rlnA #1\n_rlnB #2\n1 2 3\n', 'row has 3 values for 2 columns'),
    (b'_rlnA 1\n', 'content before the first data_ block'),
])
@pytest.mark.bad_input
def test_corrupt_star_gives_clear_error(tmp_path, content, problem):
    path = tmp_path / 'bad.star'
    path.write_bytes(content)
    with pytest.raises(star.StarError) as e:
        star.read(path)
    assert str(path) in str(e.value) and problem in str(e.value)


@pytest.mark.bad_input
def test_missing_file_named():
    with pytest.raises(star.StarError, match='nowhere.star: cannot read'):
        star.read('nowhere.star')
