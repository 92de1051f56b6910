"""A real gold-standard auto-refine (mpirun -np 3 relion_refine_mpi --external_reconstruct,
launched by ``relion_dem refine``) regularized in the loop by the classical enhancer, on 500
particles simulated with relion_project (CTF + noise) from a real structure (19hc), to
convergence: the session's shared refinement ``DEM/run`` (tests/shared_refinements.py)."""
import json
import os

import numpy as np
import pytest

from relion_dem.core.analysis import fsc as fsc, runinfo
from relion_dem.core.io import mrc
from relion_dem.core.runtime import runlog
from conftest import needs_relion

pytestmark = needs_relion


@pytest.fixture(scope='module')
def run(refinements):
    root = 'DEM/run'
    return refinements, root, runlog.read(os.path.join(refinements, root + '_relion_dem.jsonl'))


def test_converged_and_both_halves_logged_every_iteration(run):
    dataset, root, records = run
    s = runinfo.summary(os.path.join(dataset, root))
    assert s['converged'] and s['iterations'] >= 5
    last = s['iterations']
    for it in range(1, last):
        halves = sorted(r['half'] for r in records if r['iteration'] == it)
        assert halves == [1, 2], 'iteration %d logged halves %s' % (it, halves)
    assert [r['half'] for r in records if r['iteration'] == last] == ['final']
    assert s['fallbacks'] == 0


def test_regularized_only_after_the_gate_opened(run):
    """The run's gate (the default): ``always`` open; ``local_searches`` open once local searches
    began; ``stalled`` also after RELION's global searches went two iterations without resolution
    gain (checked against RELION's own optimiser STARs); closed before; the final reconstruction
    plain."""
    from relion_dem.core.runtime import gate
    dataset, root, records = run
    with open(os.path.join(dataset, root + '_relion_dem.json')) as f:
        cfg = json.load(f)
    regularized = [r for r in records if r['regularized']]
    assert len(regularized) >= 4
    first = min(r['iteration'] for r in regularized)
    for r in records:
        local = r['healpix_order'] is not None and r['healpix_order'] >= r['local_order']
        stalled = cfg['gate'] == 'stalled' and gate.stalled_since(
            os.path.join(dataset, root), r['iteration'], cfg['gate_stall_iterations']) is not None
        always = cfg['gate'] == 'always'
        assert r['gate'] == ((always or local or stalled) and r['half'] != 'final'), r
        assert r['regularized'] == r['gate']
        if r['gate']:
            assert r['gate_reason'].startswith('gate: always' if always else 'local searches' if local
                                               else 'stalled: '), r
        if r['iteration'] < first:
            assert not r['regularized'] and ('global searches' in r['gate_reason'] or r['half'] == 'final')


def test_final_reconstruction_unregularized(run):
    _, _, records = run
    final, = [r for r in records if r['half'] == 'final']
    assert not final['regularized'] and 'final reconstruction' in final['gate_reason']


def test_final_map_agrees_with_truth(run):
    dataset, root, _ = run
    truth, voxel = mrc.read(os.path.join(dataset, 'truth.mrc'))
    final, fvoxel = mrc.read(os.path.join(dataset, root + '_class001.mrc'))
    assert fvoxel == pytest.approx(voxel)
    curve = fsc.fsc(final, truth)
    # map-vs-truth FSC stays >= 0.5 to 9 Å (shell 13 of the 120 Å box); Nyquist is 6 Å
    assert np.all(curve[1:14] >= 0.5), np.round(curve, 2)
    assert fsc.resolution(curve, voxel, 0.5) <= 9.0


def test_fsc_first_crossing_of_a_converged_run(refinements):
    """On a normal run RELION's reported resolution (from its SSNR) is within a shell of where its
    gold-standard FSC first drops below 0.143, and runinfo.resolution_check keeps it (it replaces
    RELION's number only when that comes from an isolated shell: tests/core/test_runinfo.py)."""
    with open(os.path.join(refinements, 'dataset.json')) as f:
        data = json.load(f)
    length = data['box'] * data['voxel_size']
    for name in ('Plain', 'DEM'):
        root = os.path.join(refinements, name, 'run')
        first, reported = runinfo.fsc_first_crossing(root), runinfo.reported_resolution(root)
        assert first is not None and abs(length / first - length / reported) <= 1.0 + 1e-6, (name, first, reported)
        check = runinfo.resolution_check(root)
        assert check['isolated_shell'] is None and check['final_A'] == reported, check
    assert runinfo.fsc_first_crossing(os.path.join(refinements, 'nothing', 'run')) is None


def test_nothing_left_behind(refinements):
    """The plain and the regularized refinements leave no work folder, temporary or unreadable map."""
    from conftest import refinement_leftovers
    for name in ('Plain', 'DEM'):
        assert refinement_leftovers(os.path.join(refinements, name)) == [], name
