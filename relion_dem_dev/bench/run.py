"""One benchmark: the main data set's arms, scored, then the controls; the result dict."""
import os
import subprocess
import time

from relion_dem.core.runtime import config, extrec
from relion_dem.tests import sidesplitter_home, sidesplitter_source

from . import arms, controls as controls_mod, data, repeats
from .score import Scorer, empty_metrics, score_oracle, score_post, score_refinement
from .settings import log, settings_for


def sidesplitter_arm(session, sc, dataset, home):
    """RELION + SIDESPLITTER (upstream wrapper) when built: (metrics, details)."""
    if not home:
        if sidesplitter_source():
            raise RuntimeError('SIDESPLITTER could not be built from %s (see benchmarks/README.md)'
                               % sidesplitter_source())
        return empty_metrics(), dict(error='SIDESPLITTER not here: no source to build it (shared/third_party)')
    try:
        root, meta = session.sidesplitter(dataset, home)
    except RuntimeError as e:
        log(str(e))
        return empty_metrics(), dict(error=str(e))
    return score_refinement(sc, dataset, root, meta, regularized=arms.sidesplitter_iterations(dataset, root))


def post_arm(sc, dataset, root, base, enhancer, name):
    """The enhancer applied once to the final half maps of run ``root`` (whose metrics ``base``
    give the angles, iterations and wall time): (metrics, details)."""
    folder = os.path.join(dataset, 'runs', name)
    try:
        outputs = arms.post_process(dataset, root, enhancer, folder)
    except (subprocess.CalledProcessError, OSError, ValueError) as e:
        log('%s failed: %s' % (name, e))
        return empty_metrics(), dict(error=str(e))
    return score_post(sc, outputs, folder, base, enhancer)


def main_arms(session, sc, dataset, sidesplitter=None, extra_classical=True, design_arms=True):
    """Every arm on the main data set; (runs, extra runs, details, SIDESPLITTER's folder, the
    regularized run's root). ``design_arms`` False leaves out the design's comparisons
    (``dem_from_first``, ``dem_no_guards``, ``dem_then_post``): the test of the ci scale runs
    without them (they are the benchmark's questions, not its checks)."""
    runs, extra_runs, details = {}, {}, {}
    # vanilla RELION, and the same refinement through relion_dem's runtime unregularized (the control)
    relion_root, meta = session.vanilla(dataset)
    runs['relion'], details['relion'] = score_refinement(sc, dataset, relion_root, meta)
    root, meta = session.refine(dataset, 'none_control', 'none')
    extra_runs['none_control'], details['none_control'] = score_refinement(sc, dataset, root, meta)

    home = sidesplitter_home(sidesplitter, log=log)
    runs['sidesplitter'], details['sidesplitter'] = sidesplitter_arm(session, sc, dataset, home)

    # regularized in the loop
    dem_root, meta = session.refine(dataset, 'dem')
    runs['dem'], details['dem'] = score_refinement(sc, dataset, dem_root, meta)
    if extra_classical and session.enhancer != 'classical':
        root, meta = session.refine(dataset, 'dem_classical', 'classical')
        extra_runs['dem_classical'], details['dem_classical'] = score_refinement(sc, dataset, root, meta)
    # the design's choices: regularizing from the first iteration; without the guards
    for name, settings in (('dem_from_first', dict(gate='from_iteration', gate_iteration=1)),
                           ('dem_no_guards', dict(fsc_guard=False, harm_guard=False))) if design_arms else ():
        root, meta = session.refine(dataset, name, settings=settings)
        extra_runs[name], details[name] = score_refinement(sc, dataset, root, meta)

    # the same enhancer as post-processing only, on the plain run's half maps; and, for the
    # like-for-like comparison of in-loop vs post-processing, on the regularized run's half maps
    runs['dem_post'], details['dem_post'] = post_arm(sc, dataset, relion_root, runs['relion'], session.enhancer,
                                                     'dem_post')
    if design_arms:
        extra_runs['dem_then_post'], details['dem_then_post'] = post_arm(sc, dataset, dem_root, runs['dem'],
                                                                         session.enhancer, 'dem_then_post')

    # the oracle: reconstruction at the true angles, same half sets as the plain run
    folder = os.path.join(dataset, 'runs', 'oracle')
    runs['oracle'], details['oracle'] = score_oracle(sc, arms.oracle(dataset, relion_root, folder), folder)
    return runs, extra_runs, details, home, dem_root


def run_bench(scale, structure, work, cone=None, snr=None, particles=None, enhancer=None,
              controls=True, extra_classical=True, np_procs=3, sidesplitter=None, seed=1, seeds=1, sym=None,
              design_arms=True, lowpass_A=None):
    """Run everything; return the result dict (the JSON's shape, plus ``extra``). With ``seeds`` > 1
    the main arms run on ``seeds`` data sets (simulation and RELION seeds ``seed``, ``seed + 1``...):
    ``runs`` holds the means, ``extra.repeats`` the spread and the paired comparisons; the
    controls run once. ``sym`` (Cn): every data set is the exact Cn assembly and every arm refines
    with that symmetry. ``lowpass_A``: the low-pass controls' cutoffs instead of the scale's."""
    t_start = time.time()
    s = settings_for(scale, snr, cone, particles, sym)
    if lowpass_A:
        s['lowpass_A'] = list(lowpass_A)
    sid = data.structure_id(structure)
    held, held_note = data.holdout_status(sid)
    backend, backend_note = arms.pick_enhancer(enhancer)
    log('structure %s (%s); enhancer %s (%s)' % (sid, held_note, backend, backend_note))
    ledger = arms.Ledger()
    per_seed = []
    for k in range(seeds):
        folder = os.path.join(work, 'data' if k == 0 else 'data_seed%d' % (seed + k))
        d = data.main_dataset(structure, folder, s, seed + k)
        sess = arms.Session(dict(s['refine'], seed=seed + k), backend, np_procs, ledger)
        got = main_arms(sess, Scorer(d, structure), d, sidesplitter, extra_classical, design_arms)
        per_seed.append(dict(seed=seed + k, runs=got[0], extra_runs=got[1]))
        if k == 0:
            main, session = d, sess
            runs, extra_runs, details, home, dem_root = got
        log('main runs of seed %d done after %.0f s' % (seed + k, time.time() - t_start))
    if seeds > 1:
        runs = repeats.mean_runs(per_seed, list(runs))
        extra_runs = repeats.mean_runs(per_seed, list(extra_runs))
    if controls:
        ctl, ctl_details = controls_mod.run_controls(session, structure, work, s, seed, main, dem_root)
    else:
        ctl, ctl_details = controls_mod.empty()

    result = dict(scale=scale, structure=sid, snr=s['data']['snr'], cone_deg=cone, runs=runs, controls=ctl)
    result['symmetry'] = s['data'].get('symmetry', 'C1')
    result['extra'] = dict(
        runs=extra_runs, details=details, controls=ctl_details,
        enhancer=backend, enhancer_note=backend_note, holdout=held, holdout_note=held_note,
        structure_path=structure, settings=s, total_wall_s=round(time.time() - t_start, 1),
        refinements=ledger.summary(),
        repeats=dict(seeds=[p['seed'] for p in per_seed], arms=repeats.arm_statistics(per_seed),
                     paired=repeats.paired(per_seed)) if seeds > 1 else None,
        machine=dict(cpus=os.cpu_count(), load_avg_end=list(os.getloadavg())),
        plain_path_revision=extrec.PLAIN_PATH_REVISION, dem_gate=config.DEFAULTS['gate'],
        sidesplitter_home=home, date=time.strftime('%Y-%m-%d %H:%M'))
    return result
