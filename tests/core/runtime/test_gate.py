import pytest

from relion_dem.core.io import layout
from relion_dem.core.runtime import config, gate
from conftest import make_run


@pytest.mark.parametrize('path, expected', [
    ('Refine/run_it007_half1_class001_external_reconstruct.star', ('Refine/run', 7, 1, 1)),
    ('Refine/run_it123_half2_class001_external_reconstruct.star', ('Refine/run', 123, 2, 1)),
    ('Refine/run_it1005_half2_class001_external_reconstruct.star', ('Refine/run', 1005, 2, 1)),
    ('Refine/run_it017_class001_external_reconstruct.star', ('Refine/run', 17, None, 1)),
    ('My Refine (v2)/run_ct5_it006_half1_class002_external_reconstruct.star',
     ('My Refine (v2)/run_ct5', 6, 1, 2)),
])
def test_parse_call(path, expected):
    assert tuple(layout.parse_call(path)) == expected


@pytest.mark.bad_input
def test_parse_call_rejects_other_names():
    with pytest.raises(ValueError, match='not a RELION external-reconstruct STAR'):
        layout.parse_call('Refine/run_it007_half1_class001.mrc')


def cfg(**kw):
    return config.validate(kw)


def test_closed_before_local_searches_from_real_sampling_star(run_dir):
    call = layout.parse_call(make_run(run_dir, iteration=7, local_order_seen=False))
    d = gate.decide(cfg(), call)
    assert (d.regularize, d.healpix_order, d.local_order) == (False, 1, 2)
    assert 'global searches' in d.reason


def test_opens_once_local_searches_began(run_dir):
    call = layout.parse_call(make_run(run_dir, iteration=7, local_order_seen=True))
    d = gate.decide(cfg(), call)
    assert (d.regularize, d.healpix_order, d.local_order) == (True, 2, 2)


def test_configured_local_order_overrides_optimiser(run_dir):
    call = layout.parse_call(make_run(run_dir, iteration=7, local_order_seen=True))
    assert not gate.decide(cfg(local_healpix_order=3), call).regularize


def test_final_call_kept_plain_unless_asked(run_dir):
    call = layout.parse_call(make_run(run_dir, iteration=12, half=None))
    assert not gate.decide(cfg(gate='always'), call).regularize
    assert gate.decide(cfg(gate='always', regularize_final=True), call).regularize


def test_modes(run_dir):
    call = layout.parse_call(make_run(run_dir, iteration=7, local_order_seen=False))
    assert gate.decide(cfg(gate='always'), call).regularize
    assert not gate.decide(cfg(gate='never'), call).regularize
    assert gate.decide(cfg(gate='from_iteration', gate_iteration=7), call).regularize
    assert not gate.decide(cfg(gate='from_iteration', gate_iteration=8), call).regularize


def test_iteration_above_99_uses_the_latest_sampling(run_dir):
    star_path = make_run(run_dir, iteration=123)
    # an older, lower-order sampling STAR must not be taken for the latest
    (run_dir / 'Refine' / 'run_it099_sampling.star').write_text(
        'data_sampling_general\n_rlnHealpixOrder 0\n')
    d = gate.decide(cfg(), layout.parse_call(star_path))
    assert d.healpix_order == 2 and d.regularize


def test_no_sampling_star_keeps_gate_closed(run_dir):
    d = gate.decide(cfg(), layout.Call('Refine/run', 1, 1, 1))
    assert not d.regularize and 'no sampling STAR' in d.reason


def test_solvent_mask_radius_from_real_optimiser_star(run_dir):
    """RELION 3.1's optimiser STAR: particle diameter 130 Å, soft edge 5 px, solvent flattened."""
    call = layout.parse_call(make_run(run_dir, iteration=7))
    assert gate.solvent_mask_radius(call.root, call.iteration, 3.0) == pytest.approx(65.0 + 15.0)
    # without solvent flattening RELION keeps the whole box: no radius
    path = layout.RelionRun(call.root).latest_before(call.iteration + 1, '_optimiser.star')
    with open(path) as f:
        text = f.read()
    with open(path, 'w') as f:
        f.write(text.replace('_rlnDoSolventFlattening                                          1',
                             '_rlnDoSolventFlattening                                          0'))
    assert gate.solvent_mask_radius(call.root, call.iteration, 3.0) is None


def write_optimiser(run_dir, iteration, without_gain):
    """A copy of RELION 3.1's optimiser STAR for ``iteration`` with ``without_gain`` iterations
    without resolution gain."""
    src = run_dir / 'Refine' / 'run_it000_optimiser.star'
    text = src.read_text()
    line = '_rlnNumberOfIterWithoutResolutionGain                            0'
    assert line in text
    (run_dir / 'Refine' / ('run_it%03d_optimiser.star' % iteration)).write_text(
        text.replace(line, '_rlnNumberOfIterWithoutResolutionGain                            %d' % without_gain))


def test_stalled_opens_in_global_searches_once_relion_stalls(run_dir):
    """Global searches (healpix order 1 < 2). RELION's counts of iterations without resolution
    gain 0, 1 (RELION would raise the sampling if the orientations settled): closed; 2: open."""
    call = layout.parse_call(make_run(run_dir, iteration=7, local_order_seen=False))
    write_optimiser(run_dir, 5, 0)
    write_optimiser(run_dir, 6, 1)
    d = gate.decide(cfg(gate='stalled'), call)
    assert not d.regularize and 'global searches' in d.reason
    write_optimiser(run_dir, 6, 2)
    d = gate.decide(cfg(gate='stalled'), call)
    assert d.regularize and d.reason.startswith('stalled: 2 iterations without resolution gain') and 'iteration 6' in d.reason
    assert not gate.decide(cfg(gate='stalled', gate_stall_iterations=3), call).regularize
    assert not gate.decide(cfg(gate='local_searches'), call).regularize   # the default does not look


def test_stalled_stays_open_after_a_gain(run_dir):
    """Once RELION stalled the gate stays open, even when the next iteration gains resolution."""
    call = layout.parse_call(make_run(run_dir, iteration=7, local_order_seen=False))
    write_optimiser(run_dir, 4, 2)
    write_optimiser(run_dir, 5, 0)
    write_optimiser(run_dir, 6, 0)
    d = gate.decide(cfg(gate='stalled'), call)
    assert d.regularize and 'after iteration 4' in d.reason


def test_stalled_ignores_optimiser_stars_of_later_iterations(run_dir):
    call = layout.parse_call(make_run(run_dir, iteration=7, local_order_seen=False))
    write_optimiser(run_dir, 7, 5)                      # written after this call: not evidence for it
    assert not gate.decide(cfg(gate='stalled'), call).regularize


def test_stalled_opens_in_local_searches_as_the_default(run_dir):
    call = layout.parse_call(make_run(run_dir, iteration=7, local_order_seen=True))
    d = gate.decide(cfg(gate='stalled'), call)
    assert d.regularize and d.reason.startswith('local searches')
