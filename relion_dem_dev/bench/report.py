"""The paper's benchmark on simulated data (issue 7): plain RELION vs RELION + SIDESPLITTER vs
regularized refinement (DEM, in the loop) vs the network as post-processing only vs the oracle
(a reconstruction at the true angles), with the paper's artifact controls.

    python -m relion_dem_dev.bench --scale ci|standard|paper --structure PATH [--cone DEG] [--snr X]
    relion_dem bench ...

All refinements run on the same simulated particles with one recipe
(:func:`relion_dem.core.simulation.recipes.refine_args`: same seed, so the same half sets, same sampling).
Every number is measured against the simulation's truth the same way for every run:

- ``gold_res_A``: FSC 0.143 (interpolated) of the run's two final half maps, unmasked;
- ``truth_res_A``: FSC 0.5 of the run's final map against the truth map, unmasked;
- ``ang_err_deg``, ``shift_err_A``: medians over particles vs the true angles and shifts
  (``relion_dem.core.analysis.angles``, C1);
- ``locres_median_A``: median of ``relion_postprocess --locres`` inside the particle sphere;
- ``qscore``: mean Q-score of the final map against the true (centred) atomic model;
- ``iterations``, ``regularized_iterations``, ``enhancer_s`` from the run log; ``wall_s``.

Controls: particles from the truth low-passed at three cutoffs (the regularized run must not
claim a finer resolution); a noise sweep down to an SNR where the gate never opens; pure-noise
particles (the regularized map's correlation with the truth beyond the initial reference's
resolution stays at chance).

Writes ``benchmarks/results/<scale>-<structure>.json`` and ``.md`` (+ PNG plots). The
``paper`` scale only writes the settings that mirror the paper (it is not run here).
"""
import argparse
import json
import os
import resource
import shlex
import shutil
import subprocess
import sys
import time

import numpy as np

from relion_dem.core.analysis import fsc as fsc_mod
from relion_dem.core.analysis import fourier, runinfo
from relion_dem.core.io import mrc, star
from relion_dem.core.simulation import recipes, simulate
from relion_dem.core.runtime import launch as refine
from relion_dem.core.io.relion import find_program, mpi_environment, run as run_relion

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN_NAMES = ('relion', 'sidesplitter', 'dem', 'dem_post', 'oracle')
METRIC_KEYS = ('gold_res_A', 'truth_res_A', 'ang_err_deg', 'shift_err_A', 'locres_median_A',
               'qscore', 'iterations', 'regularized_iterations', 'wall_s', 'enhancer_s')
#: structures held out from the network's training, monomers / asymmetric complexes first
#: (19hc and 1a28 are homodimers: near-C2 pseudo-symmetry flips half the particles by 180°)
DEFAULT_STRUCTURES = {'ci': '1BD2', 'standard': '1BD2', 'paper': '1BD2'}

#: Each scale: simulation, refinement sampling, controls. ``n`` of a control: particles per
#: control data set (controls answer yes/no questions and need fewer particles).
SCALES = {
    'ci': dict(
        budget_min=15,
        data=dict(box=40, voxel_size=4.5, n_particles=300, snr=0.3, max_shift_A=4.0,
                  defocus_um=(1.0, 2.5), bfactor=50.0),
        refine=dict(healpix_order=1, local_healpix_order=2, offset_range=1, offset_step=1),
        lowpass_A=(15.0, 20.0, 30.0), lowpass_n=150,
        noise_snr=(0.001,), noise_n=150,
        pure_noise_n=150,
        note='tiny: box 40 at 4.5 Å (Nyquist 9 Å), 300 particles, SNR 0.3; controls with 150 '
             'particles, one extreme-noise point (the main SNR is the sweep\'s other point). '
             'Small proteins (< 30 kDa) do not align from a 40 Å reference in a 32-voxel box '
             '(median angular error > 100°), so ci uses a ~100 kDa complex.'),
    'standard': dict(
        budget_min=90,
        data=dict(box=48, voxel_size=3.6, n_particles=600, snr=0.15, max_shift_A=4.0,
                  defocus_um=(1.0, 2.5), bfactor=50.0),
        refine=dict(healpix_order=1, local_healpix_order=2, offset_range=1, offset_step=1),
        lowpass_A=(10.0, 14.0, 20.0), lowpass_n=200,
        noise_snr=(0.01, 0.001), noise_n=200,
        pure_noise_n=200,
        note='box 48 at 3.6 Å (Nyquist 7.2 Å), 600 particles at SNR 0.15 (B 50 Å², defocus 1-2.5 µm): '
             'the data and the alignment limit the resolution, not Nyquist (the oracle shows the data\'s '
             'limit); controls with 200 particles.'),
    'paper': dict(
        budget_min=None,
        data=dict(box=192, voxel_size=1.0, n_particles=20000, snr=0.05, max_shift_A=5.0,
                  defocus_um=(0.8, 2.5), bfactor=50.0),
        refine=dict(healpix_order=2, local_healpix_order=4, offset_range=5, offset_step=1),
        lowpass_A=(4.0, 6.0, 8.0), lowpass_n=5000,
        noise_snr=(0.05, 0.02, 0.01, 0.005, 0.002, 0.001), noise_n=5000,
        pure_noise_n=5000,
        note='mirrors the paper (Ramirez-Aportela et al. IUCrJ 2022): a large complex '
             '(β-galactosidase-like sizes: here 1BD2/3PWP, ~100 kDa) at 1 Å/pixel, tens of '
             'thousands of particles, a uniform run and a tilt-cone run (0-40°, as the '
             'anisotropic proteasome); needs a workstation (days on 2 cores). Not run here.'),
}


def log(msg):
    sys.stdout.write('[bench %s] %s\n' % (time.strftime('%H:%M:%S'), msg))
    sys.stdout.flush()


# ----------------------------------------------------------------------------------------------
# set-up helpers

def resolve_structure(name):
    """Path of an atomic model: a path, or an id in shared/data/structures."""
    if os.path.exists(name):
        return os.path.abspath(name)
    from relion_dem_dev.training import split
    found = split.all_structures()
    if name in found:
        return found[name]
    raise SystemExit('bench: structure %s: no such file, and no such id in %s'
                     % (name, split.default_structures_dir()))


def structure_id(path):
    from relion_dem_dev.training import split
    return split.structure_id(path)


def holdout_status(sid):
    """(held out, note) for a structure id."""
    try:
        from relion_dem_dev.training import split
    except ImportError:
        return None, 'network split unknown'
    if sid in ('19hc', 'adk_open'):
        return True, '%s is the demo\'s structure (held out, but not a benchmark structure)' % sid
    if sid in split.HOLDOUT:
        return True, 'held out from network training (relion_dem_dev.training.split.HOLDOUT)'
    return False, 'WARNING: %s is NOT in the held-out list: the network may have been trained on it' % sid


def pick_enhancer(requested=None):
    """(backend name, note): the network when its environment and weights are ready, else classical."""
    from relion_dem.core.enhancers import unavailable
    if requested:
        return requested, 'requested on the command line'
    why = unavailable('network')
    if why is None:
        return 'network', 'bundled network'
    return 'classical', 'network not usable (%s): FALLBACK to classical' % why


def sidesplitter_source():
    """Folder with ``BUILD-sidesplitter.sh`` (``$RELION_DEM_SIDESPLITTER_SRC``, else
    ``shared/third_party`` beside the repository, as scripts/scipion-env.sh looks), or None."""
    src = os.environ.get('RELION_DEM_SIDESPLITTER_SRC') or os.path.join(os.path.dirname(REPO), 'shared',
                                                                        'third_party')
    return src if os.path.isfile(os.path.join(src, 'BUILD-sidesplitter.sh')) else None


def sidesplitter_home(path=None):
    """Folder with the ``sidesplitter`` binary and the upstream wrapper; built if missing."""
    home = path or os.environ.get('RELION_DEM_SIDESPLITTER') or os.path.join(REPO, '.tools', 'sidesplitter')
    binary = os.path.join(home, 'sidesplitter')
    wrapper = os.path.join(home, 'sidesplitter_wrapper.sh')
    if not (os.access(binary, os.X_OK) and os.path.exists(wrapper)):
        src = sidesplitter_source()
        if src:
            build = os.path.join(src, 'BUILD-sidesplitter.sh')
            log('building SIDESPLITTER: bash %s %s' % (build, home))
            subprocess.run(['bash', build, home], check=False)
    if os.access(binary, os.X_OK) and os.path.exists(wrapper):
        return home
    return None


def sleep_shim(folder):
    """A ``sleep`` that waits at most 1 s, first on the wrapper's PATH.

    The upstream ``sidesplitter_wrapper.sh`` (used unmodified) makes its second half wait
    with ``sleep 60`` polls, which would add up to a minute per iteration to SIDESPLITTER's
    wall time on a tiny data set; the shim only shortens those polls.
    """
    os.makedirs(folder, exist_ok=True)
    real = shutil.which('sleep') or '/bin/sleep'
    path = os.path.join(folder, 'sleep')
    with open(path, 'w') as f:
        f.write('#!/bin/sh\n# relion_dem bench: cap polling sleeps at 1 s\n'
                'case "$1" in\n  0*|0.*) exec %s "$@";;\n  *) exec %s 1;;\nesac\n' % (real, real))
    os.chmod(path, 0o755)
    return folder


def soft_sphere(box, radius_px, edge_px=3.0):
    c = box // 2
    z, y, x = np.ogrid[:box, :box, :box]
    r = np.sqrt((x - c) ** 2 + (y - c) ** 2 + (z - c) ** 2)
    w = np.clip((radius_px + edge_px - r) / edge_px, 0, 1)
    return (0.5 - 0.5 * np.cos(np.pi * w)).astype(np.float32)


def dataset_mask(dataset):
    """Soft spherical mask of the particle diameter (written once as ``mask.mrc``)."""
    info = simulate.load(dataset)
    path = os.path.join(dataset, 'mask.mrc')
    if not os.path.exists(path):
        box, apix = int(info['box']), float(info['voxel_size'])
        radius = min(0.5 * info['mask_diameter_A'] / apix, box / 2 - 3.5)
        mrc.write(path, soft_sphere(box, radius - 3.0, 3.0), apix)
    return path


def source_lowpass(cutoff_A, box, voxel_size, edge_shells=2.0):
    """``lowpass_A`` to give :func:`relion_dem.core.simulation.simulate.simulate` so that the particles hold
    no signal at all in RELION's shell of ``cutoff_A`` or beyond.

    ``fourier.lowpass`` has a raised-cosine edge ``edge_shells`` wide centred on its cutoff, so
    signal reaches half an edge beyond it; RELION's shell i collects radii [i - 0.5, i + 0.5).
    The filter is placed so that it reaches zero at the lower boundary of the cutoff's shell.
    """
    shell = box * voxel_size / float(cutoff_A)
    return box * voxel_size / max(shell - 0.5 - edge_shells / 2.0, 1.0)


def make_dataset(structure, folder, **opts):
    if os.path.exists(os.path.join(folder, 'dataset.json')):
        return simulate.load(folder)
    log('simulating %s -> %s (%s)' % (os.path.basename(structure), folder,
                                      ', '.join('%s=%s' % kv for kv in sorted(opts.items()))))
    return simulate.simulate(structure, folder, **opts)


# ----------------------------------------------------------------------------------------------
# runs

def _children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


#: (wall seconds, reused) of every refinement asked for since the last :func:`run_bench` began
LEDGER = []


def _done(dataset, root, enhancer):
    """The bench metadata of a finished run with this enhancer, else None (it is run again)."""
    meta = os.path.join(dataset, root + '_bench.json')
    if os.path.exists(os.path.join(dataset, root + '_model.star')) and os.path.exists(meta):
        with open(meta) as f:
            done = json.load(f)
        if done.get('enhancer') == enhancer:
            LEDGER.append((done['wall_s'], True))
            return done
    return None


def _fresh(dataset, root):
    folder = os.path.join(dataset, os.path.dirname(root))
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)


def run_dem(dataset, name, enhancer, refine_kw, np_procs=3, settings=None):
    """Auto-refine through our runtime (enhancer 'none' is plain RELION); (root, meta)."""
    root = os.path.join('runs', name, 'run')
    meta = _done(dataset, root, enhancer)
    if meta:
        log('%s: reusing finished run %s' % (name, root))
        return root, meta
    _fresh(dataset, root)
    cfg = dict(enhancer=enhancer)
    cfg.update(settings or {})
    log_path = os.path.join(dataset, root + '.log')
    log('%s: relion_refine (enhancer %s) in %s' % (name, enhancer, dataset))
    t, c = time.time(), _children_cpu()
    with open(log_path, 'w') as out:
        rc = refine.run(recipes.refine_args(dataset, root, **refine_kw), cfg, np_procs, log=out, cwd=dataset)
    meta = dict(wall_s=round(time.time() - t, 1), cpu_s=round(_children_cpu() - c, 1), rc=rc,
                enhancer=enhancer)
    if rc != 0 or not os.path.exists(os.path.join(dataset, root + '_model.star')):
        raise RuntimeError('%s: relion_refine failed (exit %d); see %s' % (name, rc, log_path))
    with open(os.path.join(dataset, root + '_bench.json'), 'w') as f:
        json.dump(meta, f)
    LEDGER.append((meta['wall_s'], False))
    log('%s: done in %.0f s' % (name, meta['wall_s']))
    return root, meta


def run_sidesplitter(dataset, refine_kw, home, np_procs=3):
    """Auto-refine with the upstream ``sidesplitter_wrapper.sh`` as external reconstruction."""
    root = os.path.join('runs', 'sidesplitter', 'run')
    meta = _done(dataset, root, 'sidesplitter')
    if meta:
        log('sidesplitter: reusing finished run %s' % root)
        return root, meta
    _fresh(dataset, root)
    folder = os.path.join(dataset, 'runs', 'sidesplitter')
    mask = os.path.abspath(dataset_mask(dataset))
    # the wrapper reads the mask and thread count from job.star in the run folder
    with open(os.path.join(folder, 'job.star'), 'w') as f:
        f.write('\ndata_joboptions_values\n\nloop_\n_rlnJobOptionVariable #1\n_rlnJobOptionValue #2\n'
                'fn_mask %s\nnr_threads 1\n' % mask)
    args = recipes.refine_args(dataset, root, **refine_kw) + ['--external_reconstruct']
    env = mpi_environment()
    env['RELION_EXTERNAL_RECONSTRUCT_EXECUTABLE'] = os.path.join(home, 'sidesplitter_wrapper.sh')
    env['SIDESPLITTER'] = os.path.join(home, 'sidesplitter')
    env['PATH'] = sleep_shim(os.path.join(dataset, 'runs', 'shim')) + os.pathsep + env.get('PATH', '')
    argv = shlex.split(env.get('RELION_DEM_MPIRUN', 'mpirun')) + ['-np', str(np_procs),
                                                                  find_program('relion_refine_mpi')] + args
    log_path = os.path.join(dataset, root + '.log')
    log('sidesplitter: relion_refine + sidesplitter_wrapper.sh in %s' % dataset)
    t, c = time.time(), _children_cpu()
    with open(log_path, 'w') as out:
        rc = subprocess.run(argv, env=env, cwd=dataset, stdout=out, stderr=subprocess.STDOUT).returncode
    meta = dict(wall_s=round(time.time() - t, 1), cpu_s=round(_children_cpu() - c, 1), rc=rc,
                enhancer='sidesplitter')
    if rc != 0 or not os.path.exists(os.path.join(dataset, root + '_model.star')):
        raise RuntimeError('sidesplitter: relion_refine failed (exit %d); see %s' % (rc, log_path))
    with open(os.path.join(dataset, root + '_bench.json'), 'w') as f:
        json.dump(meta, f)
    LEDGER.append((meta['wall_s'], False))
    log('sidesplitter: done in %.0f s' % meta['wall_s'])
    return root, meta


def sidesplitter_iterations(dataset, root):
    """Iterations where SIDESPLITTER processed the half maps (its ``.out`` files)."""
    import glob
    import re
    its = set()
    for p in glob.glob(os.path.join(dataset, glob.escape(root)) + '_it*_sidesplitter.out'):
        m = re.search(r'_it(\d{3,})_', os.path.basename(p))
        if m:
            its.add(int(m.group(1)))
    return len(its)


def post_process(dataset, plain_root, enhancer, folder):
    """The enhancer applied once to a run's final half maps (the plain run's: paper Fig. S11),
    with the in-loop guard (enhanced map up to the halves' FSC 1/7, plain beyond);
    (half1, half2, average, seconds)."""
    from relion_dem.core.runtime import guard
    from relion_dem.core.enhancers import CallContext, create
    os.makedirs(folder, exist_ok=True)
    halves = [os.path.join(dataset, plain_root + '_half%d_class001_unfil.mrc' % h) for h in (1, 2)]
    a, voxel = mrc.read(halves[0], cubic=True)
    b, _ = mrc.read(halves[1], cubic=True)
    curve = fsc_mod.fsc(a, b)
    star_path = os.path.join(folder, 'post_it999_half1_class001_external_reconstruct.star')
    star.write(star_path, [star.Block('external_reconstruct_tau2', labels=['_rlnSpectralIndex',
                                                                           '_rlnGoldStandardFsc'],
                                      rows=[[i, '%.6f' % v] for i, v in enumerate(curve)])])
    res = fsc_mod.resolution(curve, voxel, 0.143)
    backend = create({'enhancer': enhancer})
    outs, seconds = [], 0.0
    for h, (path, plain) in enumerate(zip(halves, (a, b)), 1):
        out = os.path.join(folder, 'half%d_enhanced.mrc' % h)
        ctx = CallContext(os.path.abspath(star_path), 999, h, voxel, res, list(curve))
        argv = backend.command(os.path.abspath(path), out, ctx)
        t = time.time()
        with open(os.path.join(folder, 'enhancer.log'), 'ab') as lg:
            subprocess.run(argv, check=True, stdout=lg, stderr=subprocess.STDOUT)
        seconds += time.time() - t
        enhanced, _ = mrc.read(out, cubic=True)
        enhanced, _shell = guard.blend(enhanced, plain, curve)
        final = os.path.join(folder, 'half%d.mrc' % h)
        mrc.write(final, enhanced, voxel)
        outs.append(final)
    avg = 0.5 * (mrc.read(outs[0])[0] + mrc.read(outs[1])[0])
    mrc.write(os.path.join(folder, 'final.mrc'), avg, voxel)
    return outs[0], outs[1], os.path.join(folder, 'final.mrc'), round(seconds, 2)


def oracle(dataset, split_root, folder):
    """relion_reconstruct at the true angles and shifts, per half (the halves of ``split_root``)
    and for all particles; (half1, half2, full, seconds)."""
    os.makedirs(folder, exist_ok=True)
    info = simulate.load(dataset)
    blocks = star.read(os.path.join(dataset, info['truth_particles']))
    optics, parts = star.block(blocks, 'optics'), star.block(blocks, 'particles')
    run_parts = star.block(star.read(os.path.join(dataset, split_root + '_data.star')), 'particles')
    subset = dict(zip(run_parts.column('_rlnImageName'), run_parts.column('_rlnRandomSubset')))
    names = parts.column('_rlnImageName')
    rows = [list(r) + [subset.get(n, '1')] for r, n in zip(parts.rows, names)]
    truth_star = os.path.join(folder, 'truth_halves.star')
    star.write(truth_star, [optics, star.Block('particles', labels=list(parts.labels) + ['_rlnRandomSubset'],
                                               rows=rows)])
    # image names are relative to the data-set folder: run there
    rel = os.path.relpath(truth_star, dataset)
    t = time.time()
    outs = []
    for tag, sub in (('half1', '1'), ('half2', '2'), ('full', '0')):
        out = os.path.relpath(os.path.join(folder, tag + '.mrc'), dataset)
        args = ['relion_reconstruct', '--i', rel, '--o', out, '--ctf', '--sym', 'C1']
        if sub != '0':
            args += ['--subset', sub]
        with open(os.path.join(folder, 'reconstruct.log'), 'a') as lg:
            run_relion(args, log=lg, cwd=dataset)
        outs.append(os.path.join(dataset, out))
    return outs[0], outs[1], outs[2], round(time.time() - t, 1)


# ----------------------------------------------------------------------------------------------
# measures

class Scorer:
    """Scores maps and particle STARs of one data set against its truth."""

    def __init__(self, dataset, structure):
        self.dataset = dataset
        self.info = simulate.load(dataset)
        self.truth, self.voxel = mrc.read(os.path.join(dataset, self.info['truth']))
        self.box = self.truth.shape[0]
        self.mask = mrc.read(dataset_mask(dataset))[0]
        self.structure = structure
        self._atoms = None

    def fsc_truth(self, map_path):
        data = mrc.read(map_path, cubic=True)[0]
        return fsc_mod.fsc(data, self.truth)

    def truth_res(self, map_path):
        return round(float(fsc_mod.resolution(self.fsc_truth(map_path), self.voxel, 0.5)), 2)

    def gold(self, half1, half2):
        a = mrc.read(half1, cubic=True)[0]
        b = mrc.read(half2, cubic=True)[0]
        curve = fsc_mod.fsc(a, b)
        return round(float(fsc_mod.resolution(curve, self.voxel, 0.143)), 2), curve

    def angles(self, data_star):
        try:
            from relion_dem.core.analysis import angles
        except ImportError:
            return None, None
        c = angles.compare(os.path.join(self.dataset, self.info['truth_particles']), data_star, sym='C1')
        return round(c['angle_median_deg'], 2), round(c['shift_median_A'], 2)

    def locres(self, half1, half2, out_root):
        try:
            from relion_dem.core.analysis import locres
            # RELION's defaults: local windows of radius sampling/2; sampling 25 Å (capped at box/4)
            with open(os.devnull, 'w') as devnull:
                m, _, _ = locres.relion_locres(half1, half2, out_root, voxel_size=self.voxel,
                                               log=devnull, timeout=900)
            return round(locres.statistics(m, self.mask)['median_A'], 2)
        except Exception as e:  # noqa: BLE001 - a missing metric is reported as null
            log('locres unavailable: %s' % e)
            return None

    def qscore(self, map_path):
        try:
            from relion_dem.core.analysis import model as model_mod, qscore
            if self._atoms is None:
                self._atoms = model_mod.load(self.structure, self.box, self.voxel, centre=True)[0]
            data = mrc.read(map_path, cubic=True)[0]
            q = qscore.qscores(data, self.voxel, self._atoms.xyz)
            return round(qscore.summary(q)['q_mean'], 3)
        except Exception as e:  # noqa: BLE001
            log('Q-score unavailable: %s' % e)
            return None

    def band_corr(self, map_path, finer_than_A, n_random=20, seed=0):
        """Correlation of a map with the truth over Fourier shells finer than ``finer_than_A``,
        and the chance level: mean and sd of the same correlation with phase-randomized truths."""
        data = mrc.read(map_path, cubic=True)[0]
        r = fourier.radial_frequency(data.shape)
        band = (r >= self.box * self.voxel / finer_than_A) & (r <= self.box // 2)
        fa, ft = np.fft.rfftn(data)[band], np.fft.rfftn(self.truth)[band]

        def corr(x, y):
            return float((x * np.conj(y)).real.sum() / np.sqrt((np.abs(x) ** 2).sum() * (np.abs(y) ** 2).sum()))
        rng = np.random.default_rng(seed)
        chance = [corr(fa, np.abs(ft) * np.exp(2j * np.pi * rng.random(ft.shape))) for _ in range(n_random)]
        return corr(fa, ft), float(np.mean(chance)), float(np.std(chance)), int(band.sum())


def empty_metrics():
    return {k: None for k in METRIC_KEYS}


def score_refinement(sc, dataset, root, meta, regularized=None, locres=True, qscore=True):
    full = lambda suffix: os.path.join(dataset, root + suffix)  # noqa: E731
    h1, h2 = full('_half1_class001_unfil.mrc'), full('_half2_class001_unfil.mrc')
    s = runinfo.summary(full(''))
    gold, gold_curve = sc.gold(h1, h2)
    ang, shift = sc.angles(full('_data.star'))
    m = dict(gold_res_A=gold, truth_res_A=sc.truth_res(full('_class001.mrc')), ang_err_deg=ang,
             shift_err_A=shift,
             locres_median_A=sc.locres(h1, h2, full('_locres/post')) if locres else None,
             qscore=sc.qscore(full('_class001.mrc')) if qscore else None,
             iterations=s['iterations'],
             regularized_iterations=s['regularized_iterations'] if regularized is None else regularized,
             wall_s=meta['wall_s'], enhancer_s=s['enhancer_s'] if regularized is None else None)
    extra = dict(relion_reported_res_A=s['relion_reported_resolution_A'], resolution_note=s['resolution_note'],
                 cpu_s=meta.get('cpu_s'), fallbacks=s['fallbacks'], enhancer=meta.get('enhancer'),
                 per_iteration=runinfo.per_iteration(full('')),
                 fsc_truth=[round(float(v), 4) for v in sc.fsc_truth(full('_class001.mrc'))],
                 fsc_gold=[round(float(v), 4) for v in gold_curve])
    return m, extra


def score_post(sc, dataset, root, base, enhancer, name):
    """Metrics of :func:`post_process` applied to the final half maps of run ``root`` (whose
    metrics ``base`` give the angles, iterations and wall time); (metrics, details)."""
    folder = os.path.join(dataset, 'runs', name)
    try:
        h1, h2, final, secs = post_process(dataset, root, enhancer, folder)
    except (subprocess.CalledProcessError, OSError, ValueError) as e:
        log('%s failed: %s' % (name, e))
        return empty_metrics(), dict(error=str(e))
    gold, curve = sc.gold(h1, h2)
    m = dict(gold_res_A=gold, truth_res_A=sc.truth_res(final), ang_err_deg=base['ang_err_deg'],
             shift_err_A=base['shift_err_A'], locres_median_A=sc.locres(h1, h2, os.path.join(folder, 'locres', 'post')),
             qscore=sc.qscore(final), iterations=base['iterations'],
             regularized_iterations=base['regularized_iterations'],
             wall_s=round(base['wall_s'] + secs, 1), enhancer_s=round((base['enhancer_s'] or 0.0) + secs, 2))
    return m, dict(fsc_truth=[round(float(v), 4) for v in sc.fsc_truth(final)],
                   fsc_gold=[round(float(v), 4) for v in curve], enhancer=enhancer, post_s=secs)


def max_healpix(dataset, root):
    orders = [r['healpix_order'] for r in runinfo.per_iteration(os.path.join(dataset, root))
              if r['healpix_order'] is not None]
    return max(orders) if orders else None


# ----------------------------------------------------------------------------------------------
# the benchmark

def settings_for(scale, snr=None, cone=None, particles=None):
    s = json.loads(json.dumps(SCALES[scale]))
    if snr is not None:
        s['data']['snr'] = snr
    if particles:
        s['data']['n_particles'] = particles
    s['data']['cone_deg'] = cone
    s['data']['defocus_um'] = tuple(s['data']['defocus_um'])
    return s


def run_bench(scale, structure, work, cone=None, snr=None, particles=None, enhancer=None,
              controls=True, extra_classical=True, np_procs=3, sidesplitter=None, seed=1):
    """Run everything; return the result dict (the JSON's shape, plus ``extra``)."""
    t_start = time.time()
    del LEDGER[:]
    s = settings_for(scale, snr, cone, particles)
    sid = structure_id(structure)
    held, held_note = holdout_status(sid)
    backend, backend_note = pick_enhancer(enhancer)
    log('structure %s (%s); enhancer %s (%s)' % (sid, held_note, backend, backend_note))
    main = os.path.join(work, 'data')
    make_dataset(structure, main, seed=seed, **s['data'])
    sc = Scorer(main, structure)
    rk = s['refine']
    runs, extra_runs, details = {}, {}, {}

    # 1. plain RELION (through our runtime with enhancer 'none': same code path, no change)
    root, meta = run_dem(main, 'relion', 'none', rk, np_procs)
    runs['relion'], details['relion'] = score_refinement(sc, main, root, meta)
    relion_root = root

    # 2. RELION + SIDESPLITTER (upstream wrapper)
    home = sidesplitter_home(sidesplitter)
    if home:
        try:
            root, meta = run_sidesplitter(main, rk, home, np_procs)
            runs['sidesplitter'], details['sidesplitter'] = score_refinement(
                sc, main, root, meta, regularized=sidesplitter_iterations(main, root))
        except RuntimeError as e:
            log(str(e))
            runs['sidesplitter'] = empty_metrics()
            details['sidesplitter'] = dict(error=str(e))
    else:
        runs['sidesplitter'] = empty_metrics()
        details['sidesplitter'] = dict(error='SIDESPLITTER not built (see benchmarks/README.md)')

    # 3. regularized in the loop
    root, meta = run_dem(main, 'dem', backend, rk, np_procs)
    runs['dem'], details['dem'] = score_refinement(sc, main, root, meta)
    dem_root = root
    if extra_classical and backend != 'classical':
        root, meta = run_dem(main, 'dem_classical', 'classical', rk, np_procs)
        extra_runs['dem_classical'], details['dem_classical'] = score_refinement(sc, main, root, meta)

    # 4. the same enhancer as post-processing only, on the plain run's half maps; and, for the
    # like-for-like comparison of in-loop vs post-processing, on the regularized run's half maps
    runs['dem_post'], details['dem_post'] = score_post(sc, main, relion_root, runs['relion'], backend, 'dem_post')
    extra_runs['dem_then_post'], details['dem_then_post'] = score_post(sc, main, dem_root, runs['dem'], backend,
                                                                       'dem_then_post')

    # 5. the oracle: reconstruction at the true angles, same half sets as the plain run
    folder = os.path.join(main, 'runs', 'oracle')
    h1, h2, full, secs = oracle(main, relion_root, folder)
    gold, curve = sc.gold(h1, h2)
    runs['oracle'] = dict(gold_res_A=gold, truth_res_A=sc.truth_res(full), ang_err_deg=0.0, shift_err_A=0.0,
                          locres_median_A=sc.locres(h1, h2, os.path.join(folder, 'locres', 'post')),
                          qscore=sc.qscore(full), iterations=None, regularized_iterations=None,
                          wall_s=secs, enhancer_s=None)
    details['oracle'] = dict(fsc_truth=[round(float(v), 4) for v in sc.fsc_truth(full)],
                             fsc_gold=[round(float(v), 4) for v in curve])
    log('main runs done after %.0f s' % (time.time() - t_start))

    ctl = dict(lowpass=[], noise=[], pure_noise=dict(truth_corr=None))
    ctl_details = dict(lowpass=[], noise=[], pure_noise={})
    if controls:
        cn = dict(s['data'])
        # low-pass: particles from the truth low-passed at each cutoff, regularized refinement
        for cut in s['lowpass_A']:
            d = os.path.join(work, 'lowpass_%g' % cut)
            make_dataset(structure, d, **dict(cn, n_particles=s['lowpass_n'], lowpass_A=source_lowpass(
                cut, cn['box'], cn['voxel_size']), seed=seed + 10))
            root, meta = run_dem(d, 'dem', backend, rk, np_procs)
            summ = runinfo.summary(os.path.join(d, root))
            rc = runinfo.resolution_check(os.path.join(d, root))
            sc_l = Scorer(d, structure)
            gold, _ = sc_l.gold(*[os.path.join(d, root + '_half%d_class001_unfil.mrc' % h) for h in (1, 2)])
            final = summ['final_resolution_A']
            ctl['lowpass'].append(dict(cutoff_A=cut, final_res_A=final))
            ctl_details['lowpass'].append(dict(
                cutoff_A=cut, final_res_A=final, gold_res_A=gold,
                relion_reported_res_A=rc['relion_reported_A'], fsc_first_crossing_A=rc['fsc_first_crossing_A'],
                isolated_shell=rc['isolated_shell'], aligned_up_to_shell=rc['aligned_up_to_shell'],
                truth_res_A=sc_l.truth_res(os.path.join(d, root + '_class001.mrc')),
                source_lowpass_A=round(source_lowpass(cut, cn['box'], cn['voxel_size']), 2),
                regularized_iterations=summ['regularized_iterations'], wall_s=meta['wall_s']))
        # noise sweep: the main SNR (the dem run above), then lower SNRs
        ctl['noise'].append(dict(snr=s['data']['snr'], max_healpix=max_healpix(main, dem_root),
                                 regularized_iterations=runs['dem']['regularized_iterations']))
        for snr_i in s['noise_snr']:
            d = os.path.join(work, 'noise_%g' % snr_i)
            make_dataset(structure, d, **dict(cn, n_particles=s['noise_n'], snr=snr_i, seed=seed + 20))
            root, meta = run_dem(d, 'dem', backend, rk, np_procs)
            summ = runinfo.summary(os.path.join(d, root))
            ctl['noise'].append(dict(snr=snr_i, max_healpix=max_healpix(d, root),
                                     regularized_iterations=summ['regularized_iterations']))
            ctl_details['noise'].append(dict(snr=snr_i, final_res_A=summ['final_resolution_A'],
                                             truth_res_A=Scorer(d, structure).truth_res(
                                                 os.path.join(d, root + '_class001.mrc')),
                                             wall_s=meta['wall_s']))
        # pure noise: no structure may emerge beyond what the 40 Å reference already held
        d = os.path.join(work, 'pure_noise')
        make_dataset(structure, d, **dict(cn, n_particles=s['pure_noise_n'], pure_noise=True, seed=seed + 30))
        root, meta = run_dem(d, 'dem', backend, rk, np_procs)
        sc_p = Scorer(d, structure)
        band_A = 30.0
        corr, chance_mean, chance_sd, n_coef = sc_p.band_corr(os.path.join(d, root + '_class001.mrc'), band_A)
        full_corr = float(np.corrcoef(mrc.read(os.path.join(d, root + '_class001.mrc'))[0].ravel(),
                                      sc_p.truth.ravel())[0, 1])
        summ = runinfo.summary(os.path.join(d, root))
        ctl['pure_noise'] = dict(truth_corr=round(corr, 4))
        ctl_details['pure_noise'] = dict(
            truth_corr=round(corr, 4), band='Fourier shells finer than %g Å (the initial reference '
                                            'is the truth low-passed at 40 Å)' % band_A,
            chance_mean=round(chance_mean, 4), chance_sd=round(chance_sd, 4), coefficients=n_coef,
            full_band_corr=round(full_corr, 4), final_res_A=summ['final_resolution_A'],
            regularized_iterations=summ['regularized_iterations'], wall_s=meta['wall_s'])

    result = dict(scale=scale, structure=sid, snr=s['data']['snr'], cone_deg=cone, runs=runs, controls=ctl)
    result['extra'] = dict(
        runs=extra_runs, details=details, controls=ctl_details,
        enhancer=backend, enhancer_note=backend_note, holdout=held, holdout_note=held_note,
        structure_path=structure, settings=s, total_wall_s=round(time.time() - t_start, 1),
        refinements=dict(count=len(LEDGER), reused=sum(1 for _, r in LEDGER if r),
                         wall_s=round(sum(w for w, _ in LEDGER), 1)),
        machine=dict(cpus=os.cpu_count(), load_avg_end=list(os.getloadavg())),
        sidesplitter_home=home, date=time.strftime('%Y-%m-%d %H:%M'))
    return result


# ----------------------------------------------------------------------------------------------
# judging and writing

def _reported_note(control, res):
    """' (RELION reported X Å, isolated shell)' for a low-pass control where RELION's own number differs."""
    for c in (res.get('extra') or {}).get('controls', {}).get('lowpass') or []:
        if c.get('cutoff_A') == control['cutoff_A'] and c.get('isolated_shell'):
            return ' (RELION reported %s Å, isolated shell)' % _fmt(c.get('relion_reported_res_A'))
    return ''


def targets(res):
    """Issue 7's targets, each as (name, met: bool|None, detail)."""
    runs, out = res['runs'], []

    def val(run, key):
        return (runs.get(run) or {}).get(key)
    d, r, s, o = (val(n, 'truth_res_A') for n in ('dem', 'relion', 'sidesplitter', 'oracle'))

    def finer(x, y, frac, what):
        if x is None or y is None:
            return what, None, 'n/a'
        gain = (y - x) / y
        return what, gain >= frac, 'DEM %.2f Å vs %.2f Å: %+.1f %% (target >= %.0f %% finer)' % (x, y, 100 * gain, 100 * frac)
    out.append(finer(d, r, 0.10, 'map-vs-truth >= 10 % finer than plain RELION'))
    out.append(finer(d, s, 0.05, 'map-vs-truth >= 5 % finer than SIDESPLITTER'))
    if d is not None and o is not None:
        gap = (d - o) / o
        out.append(('map-vs-truth within 15 % of the oracle', gap <= 0.15,
                    'DEM %.2f Å vs oracle %.2f Å: %.1f %% coarser' % (d, o, 100 * gap)))
    a_d, a_r = val('dem', 'ang_err_deg'), val('relion', 'ang_err_deg')
    if a_d is not None and a_r:
        out.append(('median angular error <= 0.7 x plain RELION', a_d <= 0.7 * a_r,
                    '%.2f° vs %.2f°: ratio %.2f' % (a_d, a_r, a_d / a_r)))
    if res.get('cone_deg'):
        q = [val(n, 'qscore') for n in ('dem', 'relion', 'sidesplitter')]
        if None not in q:
            out.append(('tilt cone: Q-score above both peers', q[0] > max(q[1:]),
                        'DEM %.3f, RELION %.3f, SIDESPLITTER %.3f' % tuple(q)))
    ctl = res['controls']
    box, voxel = res['extra']['settings']['data']['box'], res['extra']['settings']['data']['voxel_size']
    if ctl['lowpass']:
        bad = [c for c in ctl['lowpass'] if c['final_res_A'] is not None and c['final_res_A'] < c['cutoff_A']]
        out.append(('no run beats a low-pass cutoff', not bad,
                    '; '.join('cutoff %g Å -> %s Å%s' % (c['cutoff_A'], _fmt(c['final_res_A']), _reported_note(c, res))
                              for c in ctl['lowpass'])))
    if ctl['noise']:
        last = min(ctl['noise'], key=lambda c: c['snr'])
        out.append(('gate stays closed at the extreme noise', last['regularized_iterations'] == 0,
                    'SNR %g: max healpix %s, %s regularized iterations'
                    % (last['snr'], last['max_healpix'], last['regularized_iterations'])))
    pn = res['extra']['controls'].get('pure_noise') or {}
    if pn.get('truth_corr') is not None:
        lim = pn['chance_mean'] + 3 * pn['chance_sd']
        out.append(('nothing emerges from pure noise', pn['truth_corr'] <= lim,
                    'correlation with the truth beyond 30 Å %.3f; chance %.3f ± %.3f (3 sd limit %.3f)'
                    % (pn['truth_corr'], pn['chance_mean'], pn['chance_sd'], lim)))
    for name in ('relion', 'sidesplitter', 'dem', 'dem_post'):
        g, t = val(name, 'gold_res_A'), val(name, 'truth_res_A')
        if g is None or t is None:
            continue
        # one shell beyond: compare in shell units
        sg, st = box * voxel / g, box * voxel / t
        out.append(('%s: gold-standard claims <= 1 shell beyond map-vs-truth' % name, sg - st <= 1.0,
                    'gold %.2f Å (shell %.1f) vs truth %.2f Å (shell %.1f)' % (g, sg, t, st)))
    d_w, r_w = val('dem', 'wall_s'), val('relion', 'wall_s')
    if d_w and r_w:
        det = res['extra']['details']
        cpu_d, cpu_r = det.get('dem', {}).get('cpu_s'), det.get('relion', {}).get('cpu_s')
        out.append(('regularized wall time <= 1.3 x plain RELION', d_w <= 1.3 * r_w,
                    '%.0f s vs %.0f s: ratio %.2f (CPU %s s vs %s s) with %s'
                    % (d_w, r_w, d_w / r_w, cpu_d, cpu_r, res['extra']['enhancer'])))
    return out


def diagnosis(res):
    """Measured reasons behind missed targets (lines of Markdown; empty when nothing is missed)."""
    missed = [name for name, ok, _ in targets(res) if ok is False]
    runs, box = res['runs'], res['extra']['settings']['data']['box']
    voxel = res['extra']['settings']['data']['voxel_size']
    rel, dem, post = (runs.get(n) or {} for n in ('relion', 'dem', 'dem_post'))
    lines = []
    if any(m.startswith('map-vs-truth') or m.startswith('median angular') for m in missed):
        if rel.get('truth_res_A') and dem.get('truth_res_A') and post.get('truth_res_A'):
            lines.append('- Resolution: DEM in the loop gains %.2f Å of map-vs-truth resolution over plain '
                         'RELION, the network applied once to the plain run\'s final half maps (dem_post) %.2f Å. '
                         'DEM\'s final map is the plain reconstruction at its refined angles (the final call is '
                         'not regularized by default), so its figure measures what the angles gained (median angular error '
                         '%.2f° vs RELION %.2f°, oracle 0°), while dem_post\'s includes the denoising itself.'
                         % (rel['truth_res_A'] - dem['truth_res_A'], rel['truth_res_A'] - post['truth_res_A'],
                            dem.get('ang_err_deg') or float('nan'), rel.get('ang_err_deg') or float('nan')))
            both = (res['extra'].get('runs') or {}).get('dem_then_post') or {}
            if both.get('truth_res_A'):
                lines.append('- In the loop vs post-processing at equal final processing: the network applied once '
                             'to DEM\'s final half maps (dem_then_post) gives %.2f Å map-vs-truth, to the plain '
                             'run\'s (dem_post) %.2f Å: %s.'
                             % (both['truth_res_A'], post['truth_res_A'],
                                'regularizing in the loop adds %.2f Å to what post-processing alone gives'
                                % (post['truth_res_A'] - both['truth_res_A'])
                                if both['truth_res_A'] < post['truth_res_A'] else
                                'here the in-loop refinement adds nothing that post-processing alone does not give'))
    gaps = {}
    for name in ('relion', 'sidesplitter', 'dem', 'dem_post', 'oracle'):
        g, t = (runs.get(name) or {}).get('gold_res_A'), (runs.get(name) or {}).get('truth_res_A')
        if g and t:
            gaps[name] = box * voxel / g - box * voxel / t
    if any('gold-standard claims' in m for m in missed) and 'relion' in gaps:
        text = ('- Gold-standard vs map-vs-truth: plain RELION itself claims %.1f shells beyond its map-vs-truth '
                'resolution (DEM %s, SIDESPLITTER %s); at the true angles (oracle) the gap is %s shells. '
                % (gaps['relion'], *('%.1f' % gaps[n] if n in gaps else 'n/a'
                                     for n in ('dem', 'sidesplitter', 'oracle'))))
        if gaps.get('oracle') is not None and gaps['oracle'] <= 1.0:
            text += ('So the gap is the alignment error, which blurs both half maps alike and escapes the '
                     'half-map FSC. ')
        elif gaps.get('oracle') is not None:
            text += ('Even the true angles leave a gap: part of it belongs to the data (orientation coverage, '
                     'unmasked FSC of few particles). ')
        if 'dem' in gaps and gaps['dem'] > gaps['relion'] + 1.0:
            text += ('DEM\'s gap exceeds plain RELION\'s by %.1f shells: references regularized alike steer the '
                     'two halves\' alignments alike, so their FSC overstates (the guard keeps the network out of '
                     'the shells beyond FSC 1/7, not out of the alignment)%s.'
                     % (gaps['dem'] - gaps['relion'],
                        '; SIDESPLITTER shows the same (%.1f shells)' % gaps['sidesplitter']
                        if gaps.get('sidesplitter', 0) > gaps['relion'] + 1.0 else ''))
        else:
            text += 'The regularizer does not widen it (DEM within a shell of RELION, or below).'
        lines.append(text)
    if 'no run beats a low-pass cutoff' in missed:
        for c in res['extra']['controls'].get('lowpass') or []:
            fin = c.get('final_res_A')
            if fin is not None and fin < c['cutoff_A']:
                lines.append('- Low-pass control at %g Å: final resolution %.2f Å; RELION\'s gold-standard FSC '
                             'stays above 0.143 beyond the cutoff (half maps here: %s Å, map vs truth: %s Å).'
                             % (c['cutoff_A'], fin, _fmt(c.get('gold_res_A')), _fmt(c.get('truth_res_A'))))
    if any(m.startswith('regularized wall time') for m in missed):
        reg = dem.get('regularized_iterations') or 0
        if reg and rel.get('wall_s') and rel.get('iterations') and dem.get('wall_s') is not None:
            lines.append('- Wall time: RELION takes %.1f s per iteration here; each regularized iteration adds '
                         '%.1f s (%.1f s per half-map call, the second half waiting for the first on %d cores) over %d '
                         'regularized iterations. The ratio falls as RELION\'s iterations lengthen: on real data '
                         '(minutes per iteration) the same calls cost a few percent.'
                         % (rel['wall_s'] / rel['iterations'], (dem['wall_s'] - rel['wall_s']) / reg,
                            (dem.get('enhancer_s') or 0.0) / (2 * reg), os.cpu_count() or 1, reg))
    return lines


def _duration(x, s):
    """How long the benchmark took, honest about refinements reused from an earlier invocation."""
    total = 'this invocation %.0f s (%.1f min; budget of the scale: %s min)' % (
        x['total_wall_s'], x['total_wall_s'] / 60.0, s.get('budget_min'))
    ref = x.get('refinements')
    if not ref or not ref['reused']:
        return total
    return ('%s, reusing %d of its %d refinements from an earlier invocation; the refinements took %.0f s '
            '(%.1f min) when they ran' % (total, ref['reused'], ref['count'], ref['wall_s'], ref['wall_s'] / 60.0))


def _fmt(v):
    if v is None:
        return '–'
    if isinstance(v, float):
        return '%.3f' % v if abs(v) < 1 and v != 0 else '%.2f' % v
    return str(v)


def plots(res, prefix):
    """PNG plots beside the report; returns their file names."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    names = []
    det = res['extra']['details']
    box = res['extra']['settings']['data']['box']
    voxel = res['extra']['settings']['data']['voxel_size']
    freq = np.arange(box // 2 + 1) / (box * voxel)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    every = list(RUN_NAMES) + sorted(res['extra']['runs'])
    for name in every:
        d = det.get(name) or {}
        if d.get('fsc_truth'):
            axes[0].plot(freq, d['fsc_truth'], label=name)
        if d.get('fsc_gold'):
            axes[1].plot(freq, d['fsc_gold'], label=name)
    axes[0].axhline(0.5, color='grey', ls=':')
    axes[1].axhline(0.143, color='grey', ls=':')
    axes[0].set_title('map vs truth (FSC 0.5)')
    axes[1].set_title('half map vs half map (FSC 0.143)')
    for ax in axes:
        ax.set_xlabel('spatial frequency (1/Å)')
        ax.set_ylim(-0.1, 1.02)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fn = prefix + '-fsc.png'
    fig.savefig(fn, dpi=90)
    plt.close(fig)
    names.append(os.path.basename(fn))

    fig, ax = plt.subplots(figsize=(6, 4))
    for name in every:
        its = (det.get(name) or {}).get('per_iteration') or []
        pts = [(r['iteration'], r['resolution_A']) for r in its if r['resolution_A']]
        if pts:
            ax.plot(*zip(*pts), marker='o', label=name)
    ax.set_xlabel('iteration')
    ax.set_ylabel('gold-standard resolution (Å)')
    ax.invert_yaxis()
    ax.legend(fontsize=8)
    fig.tight_layout()
    fn = prefix + '-iterations.png'
    fig.savefig(fn, dpi=90)
    plt.close(fig)
    names.append(os.path.basename(fn))

    ctl = res['controls']
    if ctl['lowpass'] or ctl['noise']:
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        if ctl['lowpass']:
            cut = [c['cutoff_A'] for c in ctl['lowpass']]
            axes[0].plot(cut, [c['final_res_A'] for c in ctl['lowpass']], 'o', label='final (gold-standard)')
            axes[0].plot([min(cut), max(cut)], [min(cut), max(cut)], 'k:', label='cutoff')
            axes[0].set_xlabel('low-pass cutoff of the particles (Å)')
            axes[0].set_ylabel('reported resolution (Å)')
            axes[0].legend(fontsize=8)
        if ctl['noise']:
            n = sorted(ctl['noise'], key=lambda c: c['snr'])
            axes[1].semilogx([c['snr'] for c in n], [c['regularized_iterations'] for c in n], 'o-',
                             label='regularized iterations')
            axes[1].semilogx([c['snr'] for c in n], [c['max_healpix'] for c in n], 's--', label='max healpix order')
            axes[1].set_xlabel('SNR')
            axes[1].legend(fontsize=8)
        fig.tight_layout()
        fn = prefix + '-controls.png'
        fig.savefig(fn, dpi=90)
        plt.close(fig)
        names.append(os.path.basename(fn))
    return names


def markdown(res, pngs):
    x = res['extra']
    s = x['settings']
    lines = ['# Benchmark `%s` on %s' % (res['scale'], res['structure']), '',
             'Simulated from `%s` (%s). %s' % (os.path.basename(x['structure_path']), x['holdout_note'], s['note']),
             '',
             '- data: box %d, %.2f Å/px (Nyquist %.1f Å), %d particles, SNR %g, %s orientations, defocus %s µm, '
             'B %g Å², shifts up to %g Å; initial reference = truth low-passed to 40 Å'
             % (s['data']['box'], s['data']['voxel_size'], 2 * s['data']['voxel_size'], s['data']['n_particles'],
                s['data']['snr'], 'tilt-cone 0-%g°' % res['cone_deg'] if res['cone_deg'] else 'uniform',
                '-'.join('%g' % v for v in s['data']['defocus_um']), s['data'].get('bfactor', 0.0),
                s['data']['max_shift_A']),
             '- refinement: `relion_dem.core.simulation.recipes.refine_args` (%s), 3 MPI ranks, 1 thread, same seed '
             'and half sets for every run' % ', '.join('%s=%s' % kv for kv in sorted(s['refine'].items())),
             '- regularizer of `dem`, `dem_post` and the controls: **%s** (%s)' % (x['enhancer'], x['enhancer_note']),
             '- machine: %s CPUs, load average at the end %s (it includes the benchmark\'s own '
             'processes; wall times also count anything else that ran; CPU seconds are in the JSON '
             '`extra.details.*.cpu_s`); %s; %s'
             % (x['machine']['cpus'], ', '.join('%.1f' % v for v in x['machine']['load_avg_end']),
                _duration(x, s), x['date']),
             '', '## Runs', '',
             '| run | gold-std FSC 0.143 (Å) | map vs truth FSC 0.5 (Å) | median ang err (°) | median shift err (Å) '
             '| locres median (Å) | Q-score | iterations | regularized its | wall (s) | enhancer (s) |',
             '|' + '---|' * 11]
    every = [(n, res['runs'][n]) for n in RUN_NAMES] + sorted(x['runs'].items())
    for name, m in every:
        lines.append('| %s | ' % name + ' | '.join(_fmt(m.get(k)) for k in METRIC_KEYS) + ' |')
    lines += ['', 'relion: plain auto-refine (through relion_dem\'s runtime with enhancer `none`); sidesplitter: '
              'upstream `sidesplitter_wrapper.sh` as external reconstruction (SIDESPLITTER built from '
              '`shared/third_party`; its polling `sleep` capped at 1 s); dem: regularized in the loop; '
              'dem_post: the same regularizer applied once to the plain run\'s final half maps (paper Fig. S11; '
              'angles are the plain run\'s); dem_then_post (extra): the same once more on dem\'s final half '
              'maps, so that in-loop and post-processing-only compare at equal final processing; oracle: `relion_reconstruct` at the true angles and shifts, same half '
              'sets. Gold-standard and map-vs-truth FSCs are computed here, unmasked, the same way for every run '
              '(RELION\'s own reported resolution is in the JSON, `extra.details.*.relion_reported_res_A`).', '']
    ctl, cd = res['controls'], x['controls']
    lines += ['## Controls', '']
    if not ctl['lowpass'] and not ctl['noise']:
        lines += ['Not run for this result (`--no-controls`, for time): see the `ci` result for the controls, '
                  'or run this command without `--no-controls` (finished runs in the work folder are reused).', '']
    if ctl['lowpass']:
        lines += ['### Low-pass particles (regularized refinement)', '',
                  'Particles made from the truth low-passed so that no signal reaches RELION\'s shell of the '
                  'cutoff (raised-cosine filter reaching zero half a shell below it). The final resolution '
                  '(`runinfo.resolution_check`: the last shell before RELION\'s gold-standard FSC first falls '
                  'below 0.143, which is RELION\'s own number unless RELION took an isolated shell beyond it) '
                  'must not be finer than the cutoff.', '',
                  '| cutoff (Å) | final (Å) | RELION reported (Å) | gold FSC 0.143, half maps here (Å) '
                  '| map vs truth (Å) | regularized its |',
                  '|---|---|---|---|---|---|']
        isolated = []
        for c in cd['lowpass']:
            rep = c.get('relion_reported_res_A', c['final_res_A'])
            if c.get('isolated_shell'):
                isolated.append(c)
            lines.append('| %s | %s | %s%s | %s | %s | %s |'
                         % (c['cutoff_A'], _fmt(c['final_res_A']), _fmt(rep), ' (isolated shell)' if c in isolated
                            else '', _fmt(c['gold_res_A']), _fmt(c['truth_res_A']), c['regularized_iterations']))
        lines.append('')
        if isolated:
            lines += ['RELION 3.1 reported a finer resolution than its FSC supports (%s): after the first drop of '
                      'the FSC below 1/7 it scans back from Nyquist and takes the last shell above 1/7 when that '
                      'lies more than 3 shells further out. %s How often this happens with and without regularization: '
                      '`benchmarks/results/lowpass-repeats-3PWP.md`.'
                      % ('; '.join('cutoff %g Å: %s Å' % (c['cutoff_A'], _fmt(c.get('relion_reported_res_A')))
                                   for c in isolated),
                         ' '.join('At %g Å that shell (%s) lies beyond every shell the refinement compared with its '
                                  'references before the final iteration (up to shell %s): a noise value in a shell '
                                  'no reference was ever compared in.'
                                  % (c['cutoff_A'], c['isolated_shell'], c['aligned_up_to_shell'])
                                  for c in isolated if c.get('aligned_up_to_shell')
                                  and c['isolated_shell'] > c['aligned_up_to_shell'])), '']
    if ctl['noise']:
        lines += ['### Noise sweep (regularized refinement)', '',
                  '| SNR | max healpix order | regularized iterations |', '|---|---|---|']
        for c in sorted(ctl['noise'], key=lambda c: -c['snr']):
            lines.append('| %g | %s | %s |' % (c['snr'], c['max_healpix'], c['regularized_iterations']))
        lines.append('')
    pn = cd.get('pure_noise') or {}
    if pn:
        lines += ['### Pure noise (regularized refinement)', '',
                  'Correlation of the final map with the truth over %s: **%.4f**; chance (phase-randomized '
                  'truths): %.4f ± %.4f over %d coefficients. Whole-map correlation (includes the 40 Å '
                  'reference\'s own signal, einstein-from-noise): %.4f. Regularized iterations: %s.'
                  % (pn['band'], pn['truth_corr'], pn['chance_mean'], pn['chance_sd'], pn['coefficients'],
                     pn['full_band_corr'], pn['regularized_iterations'])
                  + (' The gate never opened, so the regularizer was never applied: this control then '
                     'tests RELION alone.' if not pn['regularized_iterations'] else ''), '']
    lines += ['## Targets of issue 7', '', '| target | met | measured |', '|---|---|---|']
    for name, ok, detail in targets(res):
        lines.append('| %s | %s | %s |' % (name, {True: 'yes', False: '**NO**', None: 'n/a'}[ok], detail))
    why = diagnosis(res)
    if why:
        lines += ['', '### Why targets are missed (measured here)', ''] + why
    lines += ['', '## Plots', ''] + ['![%s](%s)' % (p, p) for p in pngs]
    lines += ['', '## Reproduce', '', '```', 'python -m relion_dem_dev.bench --scale %s --structure %s%s --snr %g'
              % (res['scale'], x['structure_path'], ' --cone %g' % res['cone_deg'] if res['cone_deg'] else '',
                 res['snr']), '```', '']
    return '\n'.join(lines)


def paper_markdown():
    s = SCALES['paper']
    return '\n'.join([
        '# Benchmark `paper` scale (settings only: not run on this machine)', '', s['note'], '',
        '| setting | value |', '|---|---|'] +
        ['| data.%s | %s |' % kv for kv in sorted(s['data'].items())] +
        ['| refine.%s | %s |' % kv for kv in sorted(s['refine'].items())] +
        ['| low-pass controls (Å) | %s |' % ', '.join('%g' % v for v in s['lowpass_A']),
         '| noise sweep SNRs | %s |' % ', '.join('%g' % v for v in s['noise_snr']),
         '| particles per control | %d |' % s['lowpass_n'], '',
         'Run it (one uniform and one tilt-cone case, as the paper\'s β-galactosidase and proteasome):', '',
         '```', 'python -m relion_dem_dev.bench --scale paper --run-paper --structure 1BD2',
         'python -m relion_dem_dev.bench --scale paper --run-paper --structure 3PWP --cone 40', '```', '',
         'Use `--np` for more MPI ranks (and a GPU for the network, `--enhancer network`). Expect days on 2 '
         'cores; hours on a 32-core workstation.', ''])


def write_results(res, outdir):
    os.makedirs(outdir, exist_ok=True)
    prefix = os.path.join(outdir, '%s-%s' % (res['scale'], res['structure']))
    pngs = plots(res, prefix)
    with open(prefix + '.json', 'w') as f:
        json.dump(res, f, indent=1)
    with open(prefix + '.md', 'w') as f:
        f.write(markdown(res, pngs))
    return prefix


def check_shape(res):
    """Problems with a result's JSON shape (empty list: as issue 7 specifies)."""
    bad = []
    for k in ('scale', 'structure', 'snr', 'cone_deg', 'runs', 'controls'):
        if k not in res:
            bad.append('missing key %s' % k)
    for name in RUN_NAMES:
        m = res.get('runs', {}).get(name)
        if m is None:
            bad.append('missing run %s' % name)
        elif set(m) != set(METRIC_KEYS):
            bad.append('run %s keys %s' % (name, sorted(set(m) ^ set(METRIC_KEYS))))
    c = res.get('controls', {})
    if set(c) != {'lowpass', 'noise', 'pure_noise'}:
        bad.append('controls keys %s' % sorted(c))
    for e in c.get('lowpass', []):
        if set(e) != {'cutoff_A', 'final_res_A'}:
            bad.append('lowpass entry %s' % e)
    for e in c.get('noise', []):
        if set(e) != {'snr', 'max_healpix', 'regularized_iterations'}:
            bad.append('noise entry %s' % e)
    if set(c.get('pure_noise', {})) != {'truth_corr'}:
        bad.append('pure_noise %s' % c.get('pure_noise'))
    return bad


def main(argv=None):
    p = argparse.ArgumentParser(prog='relion_dem bench', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--scale', choices=sorted(SCALES), default='ci')
    p.add_argument('--structure', help='atomic model file or an id in shared/data/structures '
                                       '(default per scale: %s)' % DEFAULT_STRUCTURES)
    p.add_argument('--cone', type=float, help='tilt-cone half angle (°): anisotropic orientations')
    p.add_argument('--snr', type=float, help='SNR of the particles (default per scale)')
    p.add_argument('--particles', type=int, help='number of particles (default per scale)')
    p.add_argument('--enhancer', help='regularizer (default: network when installed, else classical)')
    p.add_argument('--out', default=os.path.join(REPO, 'benchmarks', 'results'), help='results folder')
    p.add_argument('--work', help='working folder (default benchmarks/work/<scale>-<structure>); '
                                  'finished runs found there are reused')
    p.add_argument('--no-controls', action='store_true', help='skip the controls')
    p.add_argument('--no-extra-classical', action='store_true',
                   help='do not add a classical-filter run when the network is the regularizer')
    p.add_argument('--np', type=int, default=3, help='MPI ranks of relion_refine_mpi (default 3)')
    p.add_argument('--sidesplitter', help='folder with sidesplitter and sidesplitter_wrapper.sh '
                                          '(default .tools/sidesplitter, built if missing)')
    p.add_argument('--seed', type=int, default=1)
    p.add_argument('--run-paper', action='store_true', help='really run the paper scale (days on 2 cores)')
    p.add_argument('--report-only', metavar='JSON', help='rewrite the .md and plots of a result JSON')
    a = p.parse_args(argv)
    if a.report_only:
        with open(a.report_only) as f:
            res = json.load(f)
        prefix = write_results(res, os.path.dirname(os.path.abspath(a.report_only)))
        print('rewrote %s.md' % prefix)
        return 0
    if a.scale == 'paper' and not a.run_paper:
        os.makedirs(a.out, exist_ok=True)
        path = os.path.join(a.out, 'paper-settings.md')
        with open(path, 'w') as f:
            f.write(paper_markdown())
        print('paper scale: settings written to %s (add --run-paper to run it)' % path)
        return 0
    from relion_dem.core.simulation.density import ModelError, read_model
    try:
        structure = resolve_structure(a.structure or DEFAULT_STRUCTURES[a.scale])
        read_model(structure)
    except (ModelError, SystemExit, ValueError, OSError) as e:
        sys.stderr.write('relion_dem bench: ERROR: %s\n' % e)
        return 2
    sid = structure_id(structure)
    work = os.path.abspath(a.work or os.path.join(REPO, 'benchmarks', 'work', '%s-%s%s' % (
        a.scale, sid, '-cone%g' % a.cone if a.cone else '')))
    res = run_bench(a.scale, structure, work, cone=a.cone, snr=a.snr, particles=a.particles,
                    enhancer=a.enhancer, controls=not a.no_controls, extra_classical=not a.no_extra_classical,
                    np_procs=a.np, sidesplitter=a.sidesplitter, seed=a.seed)
    prefix = write_results(res, a.out)
    bad = check_shape(res)
    print('results: %s.json, %s.md%s' % (prefix, prefix, '' if not bad else '\nSHAPE PROBLEMS: %s' % bad))
    for name, ok, detail in targets(res):
        print('%-4s %s: %s' % ({True: 'MET', False: 'MISS', None: 'n/a'}[ok], name, detail))
    return 0 if not bad else 1


if __name__ == '__main__':
    sys.exit(main())
