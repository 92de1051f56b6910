"""The gate benchmark's verdicts (rescues, breaks), its recommendation, and the shipped default
pinned to the committed recommendation."""
import json
import os
import re

import numpy as np
import pytest

from relion_dem.core.runtime import config
from relion_dem_dev.bench import gate

RESULTS = os.path.join(os.path.dirname(__file__), '..', '..', 'benchmarks', 'results')


def seed(seed, relion, **arms):
    """One seed: relion and each arm as (map vs truth Å, median error °)."""
    out = dict(seed=seed, relion=dict(truth_res_masked_A=relion[0], ang_err_deg=relion[1]))
    for name, (res, err) in arms.items():
        out[name] = dict(truth_res_masked_A=res, ang_err_deg=err)
    return out


def test_rescue_and_break_are_counted_per_seed():
    per_seed = [seed(1, (20.0, 40.0), dem_local_searches=(20.0, 40.0), dem_always=(9.0, 6.0)),   # rescue
                seed(2, (8.0, 5.0), dem_local_searches=(8.0, 5.0), dem_always=(16.0, 30.0)),    # break
                seed(3, (8.0, 5.0), dem_local_searches=(8.1, 5.0), dem_always=(8.0, 5.0))]
    rescues, breaks, threshold = gate.verdicts(per_seed, 'dem_always')
    assert (rescues, breaks) == (1, 1)
    assert threshold >= 20.0 / 12.0                         # at least about one shell
    assert gate.verdicts(per_seed, 'dem_local_searches')[:2] == (0, 0)


def test_coarser_by_more_than_the_scatter_is_a_break():
    per_seed = [seed(k, (10.0, 5.0), dem_local_searches=(10.0, 5.0), dem_stalled=(10.0 + d, 5.0))
                for k, d in ((1, 0.0), (2, 0.1), (3, 3.0))]
    assert gate.verdicts(per_seed, 'dem_stalled')[1] == 1


def result(name, seeds=5, **counts):
    """A gate result: {policy: (rescues, breaks, mean difference from plain RELION in Å)}."""
    return dict(dataset=name, seeds=list(range(seeds)),
                counts={'dem_' + k: dict(rescues=v[0], breaks=v[1], mean_diff_A=v[2]) for k, v in counts.items()})


def twice(**counts):
    """The same counts on two data sets (the evidence a new default needs)."""
    return [result('a', **counts), result('b', **counts)]


@pytest.mark.parametrize('results, expected', [
    (twice(local_searches=(0, 0, 0.0), stalled=(1, 0, -1.0), always=(2, 1, -2.0)), 'stalled'),
    (twice(local_searches=(0, 0, 0.0), stalled=(1, 0, -0.5), always=(1, 0, -1.0)), 'always'),
    (twice(local_searches=(0, 0, 0.0), stalled=(0, 0, -0.3), always=(0, 1, -1.0)), 'stalled'),
    (twice(local_searches=(0, 0, 0.0), stalled=(0, 0, 0.2)), 'local_searches'),     # no better
    (twice(local_searches=(0, 0, 0.0), stalled=(1, 1, -2.0), always=(2, 1, -3.0)), 'local_searches'),
    ([result('a', local_searches=(0, 0, 0.0), stalled=(1, 0, -1.0)), result('b', stalled=(0, 1, 0.5))],
     'local_searches'),
    # paired: data sets where only local_searches ran (finer by 6 Å there) do not count against stalled
    (twice(local_searches=(0, 0, 0.0), stalled=(0, 0, -0.7)) + [result('c', local_searches=(0, 0, -6.0))],
     'stalled'),
    # too little evidence: one data set, or 3 seeds
    ([result('a', local_searches=(0, 0, 0.0), stalled=(0, 0, -0.7))], 'local_searches'),
    ([result('a', 3, local_searches=(0, 0, 0.0), stalled=(0, 0, -0.7)),
      result('b', 3, local_searches=(0, 0, 0.0), stalled=(0, 0, -0.7))], 'local_searches'),
])
def test_recommendation_never_breaks_then_rescues_most_then_finest(results, expected):
    assert gate.recommendation(results)[0] == expected


def test_shipped_default_gate_is_the_benchmark_recommendation():
    """The default in the code follows the committed gate results (benchmarks/results/gate-summary.json,
    written by ``python -m relion_dem_dev.bench.gate --summary``)."""
    with open(os.path.join(RESULTS, 'gate-summary.json')) as f:
        summary = json.load(f)
    assert config.DEFAULTS['gate'] == summary['recommended'], summary['reason']


def test_shipped_power_bound_is_the_benchmark_recommendation():
    """The do-no-harm guard's default power bound follows the committed gate results too."""
    with open(os.path.join(RESULTS, 'gate-summary.json')) as f:
        summary = json.load(f)
    assert config.DEFAULTS['harm_power_bound'] == summary['recommended_power_bound'], summary['power_bound_reason']


def test_shipped_guard_directions_are_the_benchmark_recommendation():
    with open(os.path.join(RESULTS, 'gate-summary.json')) as f:
        summary = json.load(f)
    assert config.DEFAULTS['harm_directions'] == summary['recommended_directions'], summary['directions_reason']


def test_data_bound_needs_paired_seeds_without_a_break():
    def result(diffs, breaks=0):
        per_seed = [dict(seed=i, dem_stalled=dict(truth_res_masked_A=8.0),
                         dem_stalled_data_bound=dict(truth_res_masked_A=8.0 + d)) for i, d in enumerate(diffs)]
        return dict(per_seed=per_seed, counts=dict(dem_stalled_data_bound=dict(breaks=breaks)))
    finer = [-0.3, -0.2, -0.4, -0.1, -0.3]
    assert gate.power_bound_recommendation([result(finer), result(finer)])[0] == 'data'
    assert gate.power_bound_recommendation([result(finer)])[0] == 'plain'              # one data set
    assert gate.power_bound_recommendation([result(finer), result(finer, breaks=1)])[0] == 'plain'
    assert gate.power_bound_recommendation([result([0.3, -0.3, 0.2, -0.2, 0.0])] * 2)[0] == 'plain'
    assert gate.power_bound_recommendation([])[0] == 'plain'


def test_guard_activity_counts_regularized_half_calls(tmp_path):
    from relion_dem.core.runtime import runlog
    log = str(tmp_path / 'run_relion_dem.jsonl')
    harm = lambda replaced, scaled: dict(shells_checked=10, shells_replaced=replaced, shells_scaled=scaled)
    for r in (dict(half=1, gate=False, regularized=False),                       # gate closed: not counted
              dict(half=1, gate=True, regularized=True, harm_guard=harm([3, 4], 6), fsc_guard_shell=12),
              dict(half=2, gate=True, regularized=True, harm_guard=harm([], 8), fsc_guard_shell=14),
              dict(half=2, gate=True, regularized=False, fallback='do-no-harm guard: ...'),
              dict(half='final', gate=True, regularized=False)):
        runlog.append(log, r)
    act = gate.guard_activity(log)
    assert act == dict(calls=3, regularized=2, fallbacks=1, checked=10.0, replaced=1.0, scaled=7.0, fsc_cutoff=13.0,
                       sampled=None)      # no request STAR named: no weight map to read


def test_sampling_coverage_of_a_request_and_of_a_missing_cone(tmp_path):
    import glob
    import shutil
    import mrcfile
    from relion_dem.core.maths import fourier
    fixture = os.path.join(os.path.dirname(os.path.dirname(__file__)), 'data', 'relion31')
    star = glob.glob(os.path.join(fixture, '*_external_reconstruct.star'))[0]
    # uniform orientations (200 particles, box 24): nearly every coefficient of the resolved shells
    uniform = gate.sampling_coverage(star, 9)
    assert 0.9 < uniform <= 1.0
    # the same request with the weights of a 0-40° tilt cone: nothing within 50° of the z axis
    shutil.copy(star, str(tmp_path / 'r.star'))
    with mrcfile.open(star[:-5] + '_weight.mrc', permissive=True) as m:
        w = np.array(m.data)
    f = np.fft.fftfreq(48) * 48
    r = np.sqrt(f[:, None, None] ** 2 + f[None, :, None] ** 2 + np.arange(25)[None, None, :] ** 2)
    w[np.abs(f[:, None, None]) > np.cos(np.radians(50)) * np.maximum(r, 1e-9)] = 0.0
    mrcfile.new(str(tmp_path / 'r_weight.mrc'), data=w.astype(np.float32))
    idx = fourier.radial_index((24, 24, 24))
    fz = (np.fft.fftfreq(24) * 24)[:, None, None] + 0 * idx
    rr = fourier.radial_frequency((24, 24, 24))
    inside = (idx >= 1) & (idx <= 9)
    expected = float(np.mean(np.abs(fz[inside]) <= np.cos(np.radians(50)) * rr[inside]))
    # the cone's share, less what the uniform data left unsampled (sparse CTF sums)
    assert expected - (1 - uniform) - 0.01 <= gate.sampling_coverage(str(tmp_path / 'r.star'), 9) <= expected + 0.01
    assert 0.5 < expected < 0.75


def test_a_rerun_with_todays_runtime_supersedes_a_revision_1_standard_result():
    old = dict(dataset='standard-6Z6U', plain_path_revision=1, scale='standard', structure='6Z6U', snr=0.1,
               cone_deg=None)
    rerun = dict(dataset='6Z6U-snr01', seeds=[1, 2, 3, 4, 5])
    assert gate.rerun_of(old, [rerun]) == 'gate-6Z6U-snr01'
    assert gate.rerun_of(dict(old, plain_path_revision=2), [rerun]) is None          # made with today's path
    assert gate.rerun_of(old, [dict(rerun, seeds=[1, 2, 3])]) is None                 # fewer seeds
    assert gate.rerun_of(dict(old, snr=0.15), [rerun]) is None                        # other data
    assert gate.rerun_of(dict(old, cone_deg=40.0), [rerun]) is None


def test_a_standard_results_dem_arm_is_read_as_the_gate_it_ran_with(tmp_path):
    """``dem`` is the runtime's default gate of its time: ``extra.dem_gate`` when recorded, else
    ``local_searches`` (the default before it was recorded)."""
    values = lambda *v: dict(truth_res_masked_A=dict(values=list(v)), ang_err_deg=dict(values=[5.0] * len(v)))
    res = dict(scale='standard', structure='1BD2', snr=0.15, cone_deg=None,
               extra=dict(plain_path_revision=2, repeats=dict(seeds=[1, 2], arms=dict(
                   relion=values(10.0, 10.2), dem=values(9.5, 9.6), dem_from_first=values(9.4, 9.9)))))
    (tmp_path / 'standard-1BD2.json').write_text(json.dumps(res))
    old, = gate.standard_results(str(tmp_path))
    assert set(old['counts']) == {'dem_local_searches', 'dem_always'}
    res['extra']['dem_gate'] = 'stalled'
    (tmp_path / 'standard-1BD2.json').write_text(json.dumps(res))
    new, = gate.standard_results(str(tmp_path))
    assert set(new['counts']) == {'dem_stalled', 'dem_always'}
    assert new['counts']['dem_stalled']['mean_diff_A'] == pytest.approx(-0.55)


def test_targets_are_measured_on_struggling_data_only():
    """Finer than plain RELION by >= 25 % and within 1.5x the oracle, per struggling data set."""
    stat = lambda m: dict(truth_res_masked_A=dict(mean=m, sd=0.0))
    def result(name):
        return dict(dataset=name, arms=dict(relion=stat(20.0), dem_stalled=stat(14.0)),
                    per_seed=[dict(oracle=dict(truth_res_masked_A=9.0)), dict(oracle=dict(truth_res_masked_A=11.0))],
                    counts=dict(dem_stalled=dict(rescues=1, breaks=0, seeds=2)))
    goal, = gate.targets([result('adk_open-cone40-snr01'), result('1BD2-snr015')], 'stalled')   # the second aligns
    assert goal['dataset'] == 'adk_open-cone40-snr01'
    assert goal['finer'] == pytest.approx(0.3) and goal['finer_met']
    assert goal['oracle_ratio'] == pytest.approx(1.4) and goal['oracle_met']
    assert gate.targets([result('adk_open-cone40-snr01')], 'always') == []                   # arm not run


def test_controls_are_read_with_their_gate_and_a_breach_shows(tmp_path):
    """The gate summary's controls come from the standard results, each with the gate it ran under;
    a low-pass run finer than its cutoff is reported as not held."""
    with open(os.path.join(RESULTS, 'standard-1BD2.json')) as f:
        res = json.load(f)
    (tmp_path / 'standard-1BD2.json').write_text(json.dumps(res))
    held = {c['control']: c for c in gate.controls(str(tmp_path))}
    assert set(held) == set(gate.CONTROLS) and all(c['met'] for c in held.values())
    assert held['no run beats a low-pass cutoff']['gate'] == 'always'
    assert held['nothing emerges from pure noise']['gate'] == 'always'
    res['controls']['lowpass'][0]['final_res_A'] = res['controls']['lowpass'][0]['cutoff_A'] - 1.0
    (tmp_path / 'standard-1BD2.json').write_text(json.dumps(res))
    breached = {c['control']: c['met'] for c in gate.controls(str(tmp_path))}
    assert breached['no run beats a low-pass cutoff'] is False


def test_summary_of_the_committed_results_recommends_the_shipped_default(tmp_path):
    """The summary rewritten from the committed results folder as it is (every gate-*.json there,
    the trajectories and the guard report beside the results) recommends what the code ships."""
    import shutil
    for name in os.listdir(RESULTS):
        if name.startswith(('gate-', 'standard-')) and name.endswith('.json'):
            shutil.copy(os.path.join(RESULTS, name), tmp_path / name)
    recommended, why = gate.write_summary(str(tmp_path))
    assert recommended == config.DEFAULTS['gate'], why
    with open(tmp_path / 'gate-summary.json') as f:
        written = json.load(f)
    every = {(g['dataset'], g['arm']) for g in written['targets_every_arm']}
    assert {(g['dataset'], 'dem_' + recommended) for g in written['targets']} <= every
    assert ('adk_open-cone40-snr01', 'dem_stalled_k1') in every and not any(a == 'relion' for _, a in every)


def test_trajectories_read_what_relions_convergence_test_read(tmp_path):
    """A real RELION 3.1 optimiser STAR with its convergence labels set: the trajectory reads them."""
    src = os.path.join(os.path.dirname(__file__), '..', 'data', 'relion31', 'run_it000_optimiser.star')
    text = open(src).read()
    for label, value in (('_rlnOverallAccuracyRotations', '14.180000'), ('_rlnChangesOptimalOrientations', '5.843591'),
                         ('_rlnNumberOfIterWithoutResolutionGain', '2'), ('_rlnNumberOfIterWithoutChangingAssignments', '1')):
        text, n = re.subn(r'(?m)^(%s\s+)\S+' % label, lambda m: m.group(1) + value, text)
        assert n == 1, label
    path = tmp_path / 'run_it007_optimiser.star'
    path.write_text(text)
    assert gate.convergence_state(str(path)) == dict(accuracy_deg=14.2, changes_deg=5.8, no_gain=2, no_change=1)
    assert set(gate.convergence_state(None).values()) == {None}


def test_a_data_set_can_change_relions_recipe_for_every_arm():
    """The minimum-angular-step variant refines the adk cone's particles (the same simulation
    settings) with one extra relion_refine option, which every arm's recipe carries."""
    from relion_dem.core.simulation import recipes
    base, variant = gate.dataset_settings('adk_open-cone40-snr01'), gate.dataset_settings('adk_open-cone40-snr01-minang')
    assert variant['data'] == base['data']
    assert variant['refine'] == dict(base['refine'], extra=['--minimum_angular_sampling', '1.875'])
    assert 'extra' in recipes.refine_args.__code__.co_varnames
