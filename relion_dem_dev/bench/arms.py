"""The arms of the benchmark, each run on one data set: plain RELION and the regularized refinement
(DEM) through relion_dem's runtime, RELION + SIDESPLITTER (the upstream wrapper), the regularizer
as post-processing only, and the oracle (``relion_reconstruct`` at the true angles).

A refinement runs under ``<data set>/runs/<name>/run``; a finished one with the same enhancer,
recipe and (through the runtime) the same revision of the unregularized reconstruction
(``run_bench.json`` beside it) is reused. :class:`Session` holds what the refinements of one
invocation share, and its :class:`Ledger` counts them.
"""
import json
import os
import resource
import shlex
import shutil
import subprocess
import time

from relion_dem.core.io import leftovers, star
from relion_dem.core.io.layout import RelionRun
from relion_dem.core.io.relion import find_program, mpi_environment, run as run_relion
from relion_dem.core.runtime import extrec, launch
from relion_dem.core.simulation import recipes, simulate

from .data import dataset_mask
from .settings import log


class Ledger:
    """The refinements one invocation asked for: (wall seconds, reused from an earlier invocation,
    files left behind where RELION reads)."""

    def __init__(self):
        self.entries = []

    def record(self, wall_s, reused, lost=()):
        self.entries.append((wall_s, reused, list(lost)))

    def summary(self):
        return dict(count=len(self.entries), reused=sum(1 for _, r, _ in self.entries if r),
                    wall_s=round(sum(w for w, _, _ in self.entries), 1),
                    files_lost=[p for _, _, lost in self.entries for p in lost])


class Session:
    """What the refinements of one invocation share: the recipe's sampling (``refine_kw`` of
    :func:`relion_dem.core.simulation.recipes.refine_args`), the regularizer, the MPI ranks;
    and the :class:`Ledger` of the refinements."""

    def __init__(self, refine_kw, enhancer, np_procs=3, ledger=None):
        self.refine_kw = refine_kw
        self.enhancer = enhancer
        self.np_procs = np_procs
        self.ledger = ledger or Ledger()

    def refine(self, dataset, name='dem', enhancer=None, settings=None):
        """:func:`run_dem` with the session's regularizer unless ``enhancer`` is given, and runtime
        ``settings`` (gate, guards); (root, meta)."""
        return run_dem(dataset, name, enhancer or self.enhancer, self.refine_kw, self.np_procs, settings,
                       ledger=self.ledger)

    def vanilla(self, dataset, name='relion'):
        return run_vanilla(dataset, name, self.refine_kw, self.np_procs, ledger=self.ledger)

    def sidesplitter(self, dataset, home):
        return run_sidesplitter(dataset, self.refine_kw, home, self.np_procs, ledger=self.ledger)


def pick_enhancer(requested=None):
    """(backend name, note): the network when its environment and weights are ready, else classical."""
    from relion_dem.core.enhancers import unavailable
    if requested:
        return requested, 'requested on the command line'
    why = unavailable('network')
    if why is None:
        return 'network', 'bundled network'
    return 'classical', 'network not usable (%s): FALLBACK to classical' % why


# ----------------------------------------------------------------------------------------------
# refinements

def _children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _meta_path(dataset, root):
    return os.path.join(dataset, root + '_bench.json')


def _finished(dataset, root, enhancer, refine_kw=None, runtime=None):
    """The bench metadata of a finished run with this enhancer, recipe (runs recorded before the
    recipe was kept pass) and runtime revision, else None (it is run again)."""
    meta = _meta_path(dataset, root)
    if RelionRun(os.path.join(dataset, root)).converged and os.path.exists(meta):
        with open(meta) as f:
            done = json.load(f)
        if done.get('enhancer') == enhancer and done.get('runtime') == runtime and \
                done.get('refine', refine_kw) == refine_kw:
            return done
    return None


def _recipe(refine_kw):
    return json.loads(json.dumps(refine_kw)) if refine_kw is not None else None


def _refine(dataset, name, enhancer, what, launcher, ledger=None, refine_kw=None, runtime=None):
    """Run ``launcher(root, log file) -> exit status`` in a fresh ``runs/<name>`` folder of ``dataset``
    unless a finished run with ``enhancer``, ``refine_kw`` and ``runtime`` (the revision of the
    runtime's unregularized reconstruction, None for runs without it) is there; record it in
    ``ledger``; (root, meta), the root relative to ``dataset``."""
    root = os.path.join('runs', name, 'run')
    refine_kw = _recipe(refine_kw)
    meta = _finished(dataset, root, enhancer, refine_kw, runtime)
    reused = meta is not None
    if reused:
        log('%s: reusing finished run %s' % (name, root))
    else:
        folder = os.path.join(dataset, 'runs', name)
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
        log_path = os.path.join(dataset, root + '.log')
        log('%s: %s in %s' % (name, what, dataset))
        t, c = time.time(), _children_cpu()
        with open(log_path, 'w') as out:
            rc = launcher(root, out)
        meta = dict(wall_s=round(time.time() - t, 1), cpu_s=round(_children_cpu() - c, 1), rc=rc,
                    enhancer=enhancer, refine=refine_kw, runtime=runtime)
        if rc != 0 or not RelionRun(os.path.join(dataset, root)).converged:
            raise RuntimeError('%s: relion_refine failed (exit %d); see %s' % (name, rc, log_path))
        # the loss check, as after every refinement test: nothing left where RELION reads
        meta['files_lost'] = ['%s (%s)' % (os.path.relpath(p, dataset), why) for p, why in leftovers.find(folder)]
        if meta['files_lost']:
            log('%s: LEFT BEHIND %s' % (name, '; '.join(meta['files_lost'])))
        with open(_meta_path(dataset, root), 'w') as f:
            json.dump(meta, f)
        log('%s: done in %.0f s' % (name, meta['wall_s']))
    if ledger is not None:
        ledger.record(meta['wall_s'], reused, meta.get('files_lost', ()))
    return root, meta


def run_dem(dataset, name, enhancer, refine_kw, np_procs=3, settings=None, ledger=None):
    """Auto-refine through our runtime (enhancer 'none': the same path, unregularized); (root, meta).
    A finished run is reused only with the same enhancer and settings."""
    cfg = dict(enhancer=enhancer)
    cfg.update(settings or {})
    tag = enhancer if not settings else '%s %s' % (enhancer, json.dumps(settings, sort_keys=True))

    def launcher(root, out):
        return launch.run(recipes.refine_args(dataset, root, **refine_kw), cfg, np_procs, log=out, cwd=dataset)
    return _refine(dataset, name, tag, 'relion_refine (enhancer %s)' % tag, launcher, ledger, refine_kw,
                   extrec.PLAIN_PATH_REVISION)


def run_vanilla(dataset, name, refine_kw, np_procs=3, ledger=None):
    """Vanilla ``relion_refine_mpi``: no external reconstruction, no relion_dem; (root, meta)."""
    def launcher(root, out):
        argv = shlex.split(mpi_environment().get('RELION_DEM_MPIRUN', 'mpirun')) + [
            '-np', str(np_procs), find_program('relion_refine_mpi')] + recipes.refine_args(dataset, root, **refine_kw)
        return subprocess.run(argv, env=mpi_environment(), cwd=dataset, stdout=out,
                              stderr=subprocess.STDOUT).returncode
    return _refine(dataset, name, 'vanilla', 'vanilla relion_refine_mpi', launcher, ledger, refine_kw)


def run_sidesplitter(dataset, refine_kw, home, np_procs=3, ledger=None):
    """Auto-refine with the upstream ``sidesplitter_wrapper.sh`` in ``home`` as external reconstruction."""
    def launcher(root, out):
        folder = os.path.join(dataset, os.path.dirname(root))
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
        argv = shlex.split(env.get('RELION_DEM_MPIRUN', 'mpirun')) + [
            '-np', str(np_procs), find_program('relion_refine_mpi')] + args
        return subprocess.run(argv, env=env, cwd=dataset, stdout=out, stderr=subprocess.STDOUT).returncode
    return _refine(dataset, 'sidesplitter', 'sidesplitter', 'relion_refine + sidesplitter_wrapper.sh', launcher,
                   ledger, refine_kw)


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


def sidesplitter_iterations(dataset, root):
    """Iterations where SIDESPLITTER processed the half maps (its wrapper's ``.out`` files)."""
    return len(RelionRun(os.path.join(dataset, root)).sidesplitter_logs())


# ----------------------------------------------------------------------------------------------
# maps without a refinement of their own

def post_process(dataset, plain_root, enhancer, folder):
    """The shipped ``relion_dem denoise`` (``core.postprocess.denoise``: the average of the run's
    final half-maps through the enhancer and both guards) on a run's final half-maps (paper
    Fig. S11); (half1, half2, denoised map, seconds). The halves are the run's own: ``denoise``
    makes one map, so the arm's gold standard is the run's."""
    from relion_dem.core.postprocess import denoise
    from relion_dem.core.runtime import config
    os.makedirs(folder, exist_ok=True)
    plain_run = RelionRun(os.path.join(dataset, plain_root))
    halves = [plain_run.half_map(h) for h in (1, 2)]
    out = os.path.join(folder, 'denoised.mrc')
    t = time.time()
    denoise.denoise(halves[0], halves[1], out, config.validate({'enhancer': enhancer}, 'benchmark'),
                    force=True, log=lambda *a, **k: None)          # its record: denoised.json
    return halves[0], halves[1], out, round(time.time() - t, 2)


def oracle(dataset, split_root, folder):
    """relion_reconstruct at the true angles and shifts, per half (the halves of ``split_root``)
    and for all particles; (half1, half2, full, seconds, the particle STAR used)."""
    os.makedirs(folder, exist_ok=True)
    info = simulate.load(dataset)
    blocks = star.read(os.path.join(dataset, info['truth_particles']))
    optics, parts = star.block(blocks, 'optics'), star.block(blocks, 'particles')
    run_parts = star.block(star.read(RelionRun(os.path.join(dataset, split_root)).final_data), 'particles')
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
        args = ['relion_reconstruct', '--i', rel, '--o', out, '--ctf', '--sym', info.get('symmetry') or 'C1']
        if sub != '0':
            args += ['--subset', sub]
        with open(os.path.join(folder, 'reconstruct.log'), 'a') as lg:
            run_relion(args, log=lg, cwd=dataset)
        outs.append(os.path.join(dataset, out))
    return outs[0], outs[1], outs[2], round(time.time() - t, 1), truth_star
