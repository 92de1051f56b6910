"""``relion_dem denoise`` on real files: the guards' effect, nothing overwritten, the provenance map."""
import json
import os
import sys

import numpy as np
import pytest

from relion_dem import cli
from relion_dem.core.maths import fourier
from relion_dem.core.io import mrc
from relion_dem.core.simulation import density

from conftest import needs_relion  # noqa: F401  (same fixtures as the runtime tests)

MODEL = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'relion_dem', 'data', 'adk_open.pdb.gz')
FAULTY = os.path.join(os.path.dirname(__file__), '..', '..', 'faulty_enhancer.py')
VOXEL, BOX, LOWPASS_A = 2.0, 48, 8.0


@pytest.fixture(scope='module')
def maps(tmp_path_factory):
    """A truth (adk's potential), two half-maps of it low-passed at 8 Å with independent noise
    (the data hold nothing finer), and the truth itself as a file an 'enhancer' can return."""
    folder = tmp_path_factory.mktemp('denoise')
    truth = density.potential_map(density.read_model(MODEL), BOX, VOXEL)
    truth = (truth / truth.std()).astype(np.float32)
    rng = np.random.default_rng(4)
    low = fourier.lowpass(truth, VOXEL, LOWPASS_A)
    for h in (1, 2):
        mrc.write(str(folder / ('half%d.mrc' % h)), low + 0.15 * rng.standard_normal(truth.shape), VOXEL)
    mrc.write(str(folder / 'truth.mrc'), truth, VOXEL)
    mrc.write(str(folder / 'truth_lowpassed.mrc'), low, VOXEL)
    return folder


def returns(path):
    """A command enhancer that writes ``path`` as its output, whatever its input."""
    return ['--enhancer', 'command', '--enhancer-option',
            'argv=%s' % json.dumps([sys.executable, '-c', 'import shutil, sys; shutil.copy(sys.argv[1], sys.argv[2])',
                                    path, '{output}'])]


def faulty(mode):
    return ['--enhancer', 'command', '--enhancer-option',
            'argv=%s' % json.dumps([sys.executable, FAULTY, mode, '{input}', '{output}'])]


def run(maps, out, *extra):
    return cli.main(['denoise', str(maps / 'half1.mrc'), str(maps / 'half2.mrc'), '--out', str(maps / out)]
                    + list(extra))


def shells(data, first, last=None):
    idx = fourier.radial_index(data.shape)
    sel = idx >= first if last is None else (idx >= first) & (idx <= last)
    return np.fft.rfftn(data.astype(np.float64))[sel]


def test_fsc_guard_keeps_the_plain_average_beyond_the_cutoff(maps):
    assert run(maps, 'halved.mrc', *faulty('ok')) == 0
    report = json.load(open(maps / 'halved.json'))
    out, _ = mrc.read(str(maps / 'halved.mrc'))
    plain = (mrc.read(str(maps / 'half1.mrc'))[0] + mrc.read(str(maps / 'half2.mrc'))[0]) / 2
    cut = int(round(BOX * VOXEL / report['guard_cutoff_A']))
    assert 8 <= cut <= 14          # the data stop at 8 Å (shell 12)
    beyond, want = shells(out, cut), shells(plain, cut)
    assert np.abs(beyond - want).max() < 1e-3 * np.abs(want).max()
    inside, half_plain = shells(out, 1, cut - 3), shells(plain, 1, cut - 3)
    assert np.allclose(inside, 0.5 * half_plain, atol=1e-3 * np.abs(half_plain).max())


@pytest.mark.bad_input
def test_outputs_never_overwritten(maps):
    assert run(maps, 'once.mrc', *faulty('ok')) == 0
    before = open(maps / 'once.mrc', 'rb').read()
    assert run(maps, 'once.mrc', *faulty('ok')) == 2
    assert open(maps / 'once.mrc', 'rb').read() == before
    assert run(maps, 'half1.mrc', '--force', *faulty('ok')) == 2          # an input, even with --force
    assert mrc.read(str(maps / 'half1.mrc'))[0].shape == (BOX,) * 3
    assert run(maps, 'once.mrc', '--force', *faulty('decorrelate-band')) == 0
    assert open(maps / 'once.mrc', 'rb').read() != before
    assert not [f for f in os.listdir(maps) if f.startswith('.')]


@pytest.mark.bad_input
def test_bad_inputs_named(maps, tmp_path, capsys):
    assert cli.main(['denoise', str(maps / 'half1.mrc'), '--out', str(tmp_path / 'x.mrc')]) == 2
    assert 'give two half-maps' in capsys.readouterr().err
    assert cli.main(['denoise', '--root', str(tmp_path / 'Refine' / 'run'), '--out', str(tmp_path / 'x.mrc')]) == 2
    assert 'Refine/run: folder %s does not exist' % (tmp_path / 'Refine') in capsys.readouterr().err
    (tmp_path / 'Refine').mkdir()
    (tmp_path / 'Refine' / 'run_it003_optimiser.star').write_text('')      # a run, unfinished
    assert cli.main(['denoise', '--root', str(tmp_path / 'Refine' / 'run'), '--out', str(tmp_path / 'x.mrc')]) == 2
    assert 'run_half1_class001_unfil.mrc: half-map does not exist' in capsys.readouterr().err
    small = tmp_path / 'small.mrc'
    mrc.write(str(small), np.zeros((32,) * 3, np.float32), VOXEL)
    assert cli.main(['denoise', str(maps / 'half1.mrc'), str(small), '--out', str(tmp_path / 'x.mrc')]) == 2
    assert 'small.mrc: box (32, 32, 32) differs' in capsys.readouterr().err


def test_provenance_flags_detail_the_data_lack(maps):
    """An 'enhancer' that returns the full-resolution truth invents detail beyond 8 Å: with
    the guards off the provenance map flags it, where the truth differs from what the data
    hold; returning only what the data hold (the truth low-passed at 8 Å) flags almost nothing,
    and so does the invented detail once the guards are on."""
    invented = 'invented.mrc'
    assert run(maps, invented, '--no-guard', '--no-harm-guard', *returns(str(maps / 'truth.mrc'))) == 0
    flagged = json.load(open(maps / 'invented.json'))['provenance_fraction_above_3']
    prov, _ = mrc.read(str(maps / 'invented_provenance.mrc'))
    truth, low = mrc.read(str(maps / 'truth.mrc'))[0], mrc.read(str(maps / 'truth_lowpassed.mrc'))[0]
    detail = np.abs(truth - low)
    assert flagged > 0.05
    assert detail[prov > 3].mean() > 3 * detail[prov <= 1].mean()
    assert run(maps, 'honest.mrc', '--no-guard', '--no-harm-guard', *returns(str(maps / 'truth_lowpassed.mrc'))) == 0
    assert json.load(open(maps / 'honest.json'))['provenance_fraction_above_3'] < 0.01
    assert run(maps, 'guarded.mrc', *returns(str(maps / 'truth.mrc'))) == 0
    assert json.load(open(maps / 'guarded.json'))['provenance_fraction_above_3'] < flagged / 3


def test_half_maps_without_a_usable_fsc_give_the_plain_average(maps, capsys):
    """Two empty half-maps have no FSC (0/0 in every shell): the guards fail closed, the output
    is the plain average, and the report and the printout say why; the enhancer is not run."""
    folder = maps / 'empty'
    folder.mkdir()
    for h in (1, 2):
        mrc.write(str(folder / ('half%d.mrc' % h)), np.zeros((BOX,) * 3, np.float32), VOXEL)
    rc = cli.main(['denoise', str(folder / 'half1.mrc'), str(folder / 'half2.mrc'), '--out',
                   str(folder / 'out.mrc')] + returns(str(maps / 'truth.mrc')))
    assert rc == 0
    with open(folder / 'out.json') as f:
        report = json.load(f)
    assert report['fallback'].startswith('guards: gold-standard FSC') and report['fallback'].endswith(
        'plain average kept')
    assert 'FALLBACK: guards: gold-standard FSC' in capsys.readouterr().out
    out, _ = mrc.read(str(folder / 'out.mrc'))
    assert not np.any(out)
