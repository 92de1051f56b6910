"""A full regularized auto-refine with the shipped network, run in its own TensorFlow
environment (created by ``relion_dem install-network``), on 500 particles simulated from a
real structure (19hc, 32 px at 4.5 Å/px, SNR 0.2)."""
import os

import numpy as np
import pytest

from relion_dem.core.analysis import fsc as fsc, runinfo
from relion_dem.core.io import mrc
from relion_dem.core.simulation import recipes, simulate
from relion_dem.core.runtime import launch as refine, runlog
from relion_dem.core.enhancers import unavailable
from conftest import needs_relion
from shared_refinements import MODEL


pytestmark = [needs_relion, pytest.mark.skipif(unavailable('network') is not None,
                                               reason='network environment: %s' % unavailable('network'))]


@pytest.fixture(scope='module')
def run(tmp_path_factory):
    dataset = str(tmp_path_factory.mktemp('network'))
    simulate.simulate(MODEL, dataset, box=32, voxel_size=4.5, n_particles=500, snr=0.2, seed=11)
    root = 'Refine/network'
    os.makedirs(os.path.join(dataset, 'Refine'))
    with open(os.path.join(dataset, 'Refine', 'log.txt'), 'w') as log:
        rc = refine.run(recipes.refine_args(dataset, root), {'enhancer': 'network'}, 3,
                        log=log, cwd=dataset)
    assert rc == 0, open(os.path.join(dataset, 'Refine', 'log.txt')).read()[-3000:]
    return dataset, root, runlog.read(os.path.join(dataset, root + '_relion_dem.jsonl'))


def test_network_regularized_both_halves_without_fallback(run):
    dataset, root, records = run
    s = runinfo.summary(os.path.join(dataset, root))
    assert s['converged'] and s['fallbacks'] == 0
    regularized = [r for r in records if r['regularized']]
    assert s['regularized_iterations'] >= 2
    assert all(r['enhancer'].startswith('network') and r['enhancer_s'] > 0 for r in regularized)
    for it in {r['iteration'] for r in regularized}:
        assert sorted(r['half'] for r in regularized if r['iteration'] == it) == [1, 2]
    final, = [r for r in records if r['half'] == 'final']
    assert not final['regularized']


def test_network_run_agrees_with_truth(run):
    dataset, root, _ = run
    truth, voxel = mrc.read(os.path.join(dataset, 'truth.mrc'))
    final, _ = mrc.read(os.path.join(dataset, root + '_class001.mrc'))
    curve = fsc.fsc(final, truth)
    # map-vs-truth FSC >= 0.5 to 12 Å (shell 12 of the 144 Å box); Nyquist is 9 Å
    assert np.all(curve[1:13] >= 0.5), np.round(curve, 2)


def test_nothing_left_behind(run):
    from conftest import refinement_leftovers
    dataset, root, records = run
    assert refinement_leftovers(os.path.dirname(os.path.join(dataset, root))) == []
