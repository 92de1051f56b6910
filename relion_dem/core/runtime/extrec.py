"""The external-reconstruct runtime: what relion_refine calls for each half, every iteration.

``relion_refine --external_reconstruct`` runs ``$RELION_EXTERNAL_RECONSTRUCT_EXECUTABLE STAR``
and then reads the map named by ``_rlnExtReconsResult``. For one call we:

1. read the STAR by label; run ``relion_external_reconstruct`` on a copy of it that
   writes to a temporary file (the plain reconstruction);
2. ask the gate whether to regularize this call;
3. if so, run the enhancer on this half only (optionally under a device lock), check its
   output (exists, same box, finite), and apply the guards (:mod:`relion_dem.core.guards`:
   a usable gold-standard FSC, the do-no-harm guard, the FSC guard), all in a child process
   the kernel kills first when memory runs out (:mod:`~relion_dem.core.runtime.isolation`);
4. write the result atomically with the run's voxel size, append a run-log record and
   print one progress line.

Any enhancer failure, and any map the guards refuse (a request without a usable FSC
included), falls back to the plain reconstruction for this call (logged, exit 0, RELION
goes on). Only a failure of RELION's own reconstruction, or an unreadable STAR,
exits non-zero, with a message naming the file.
"""
import argparse
import contextlib
import fcntl
import os
import socket
import subprocess
import sys
import tempfile
import time

import numpy as np

from relion_dem.core.runtime import config as config_mod
from relion_dem.core import guards
from relion_dem.core.runtime import gate, isolation, runlog
from relion_dem.core.io import atomic, layout, mrc, star
from relion_dem.core.io.layout import RelionRun
from relion_dem.core.maths import fourier
from relion_dem.core.enhancers import CallContext, EnhancerError, create as create_enhancer
from relion_dem.core.enhancers.process import EnhancerFailure, check_enhanced, run_enhancer
from relion_dem.core.io.relion import find_program, RelionError

GENERAL = 'external_reconstruct_general'
TAU2 = 'external_reconstruct_tau2'
#: tau2 given to relion_external_reconstruct for the shells below ``minres_map``: 1/tau2 is then
#: nil, so it adds no prior there. RELION's own reconstruction adds the MAP term only from shell
#: ``--minres_map`` (default 5) on; relion_external_reconstruct has no such option and adds it at
#: every shell, which alone made the unregularized path coarser than vanilla RELION (1hvr, C2:
#: 0.77 Å over 3 seeds; vanilla with --minres_map 0 reproduced it).
NO_PRIOR_TAU2 = 1e30
#: what the unregularized reconstruction is, for results that must not mix revisions (the
#: benchmark reuses a finished run only with the same): 1, relion_external_reconstruct as
#: RELION calls it; 2, no prior below ``minres_map``, as RELION's own reconstruction
PLAIN_PATH_REVISION = 2


class ReconstructionError(RuntimeError):
    """RELION's own reconstruction failed, or its input is unusable: RELION must stop."""


def read_request(path):
    """The call's STAR as ``(general block, FSC list)``; ReconstructionError naming the file."""
    try:
        blocks = star.read(path)
        general = star.block(blocks, GENERAL)
        for label in ('_rlnExtReconsResult', '_rlnOriginalImageSize'):
            general.get(label)
        fsc = []
        for b in blocks:
            if b.name == TAU2 and b.has('_rlnGoldStandardFsc'):
                fsc = b.column('_rlnGoldStandardFsc', float)
        return blocks, general, fsc
    except (star.StarError, ValueError) as e:
        raise ReconstructionError(str(e))


def read_weight(path, box):
    """RELION's back-projected weight map at ``path`` (``_rlnExtReconsWeight``: a padded
    half-complex array) at the coefficients of a ``box``³ map's ``rfftn``; mrc.MapError naming the
    file. Only those coefficients are read from the padded array (8 times larger: 2.1 GB for a
    512-voxel box at RELION's padding 2)."""
    return mrc.read_selection(path, lambda padded: fourier.from_padded_halfcomplex(padded, box))


def request_weight(star_path, path, box):
    """:func:`read_weight` for the do-no-harm guard's ``harm_directions`` ``sampled``, ``path``
    being the call's ``_rlnExtReconsWeight``; EnhancerFailure naming the STAR and the file when it
    is unusable (the guard cannot judge: plain map)."""
    try:
        return read_weight(path, box)
    except mrc.MapError as e:
        raise EnhancerFailure('%s: weight %s unusable for the do-no-harm guard\'s sampled directions (%s); '
                              'plain map kept' % (star_path, path, e))


def run_log_path(cfg, call):
    return cfg.get('log') or RelionRun(call.root).log


def model_voxel_size(call):
    """``_rlnPixelSize`` from the run's latest ``_model.star`` (RELION 3.1+), or None."""
    run = RelionRun(call.root)
    for suffix in (run.HALF1_MODEL, run.MODEL):
        path = run.latest_before(call.iteration + 1, suffix)
        value = star.first_value(path, '_rlnPixelSize', float) if path else None
        if value:
            return value
    return None


def current_resolution(call):
    """``_rlnCurrentResolution`` (Å) of the previous iteration's model STAR, or None."""
    run = RelionRun(call.root)
    path = run.latest_before(call.iteration, run.HALF1_MODEL) or run.latest_before(call.iteration, run.MODEL)
    r = star.first_value(path, '_rlnCurrentResolution', float) if path else None
    return r if r is not None and np.isfinite(r) else None


def without_low_shell_prior(blocks, minres_map):
    """Give the shells below ``minres_map`` a tau2 of :data:`NO_PRIOR_TAU2` (in place), so that
    relion_external_reconstruct regularizes as RELION's own reconstruction does."""
    for b in blocks:
        if b.name != TAU2 or not b.has('_rlnReferenceTau2'):
            continue
        col = b.labels.index('_rlnReferenceTau2')
        shells = b.column('_rlnSpectralIndex', int) if b.has('_rlnSpectralIndex') else range(len(b.rows))
        for row, shell in zip(b.rows, shells):
            if shell < minres_map:
                row[col] = '%g' % NO_PRIOR_TAU2


def plain_reconstruction(blocks, general, star_path, workdir, skip_gridding=False, minres_map=5):
    """Run relion_external_reconstruct inside ``workdir``; return (map, header voxel size).
    The prior (tau2) term starts at shell ``minres_map``, as in relion_refine (``--minres_map``).

    RELION's STAR reader takes no quoted paths, so its inputs are linked into ``workdir``
    under plain names and it writes there: paths with spaces or shell metacharacters are
    never handed to RELION, and RELION's result path only ever receives a whole file.
    """
    copy = [star.Block(b.name, b.pairs, b.labels, b.rows) for b in blocks]
    request = star.block(copy, GENERAL).pairs
    for label, name in (('_rlnExtReconsDataReal', 'data_real.mrc'),
                        ('_rlnExtReconsDataImag', 'data_imag.mrc'),
                        ('_rlnExtReconsWeight', 'weight.mrc')):
        source = request.get(label)
        if not source or not os.path.exists(source):
            raise ReconstructionError('%s: %s %s does not exist' % (star_path, label, source))
        os.symlink(os.path.abspath(source), os.path.join(workdir, name))
        request[label] = name
    request['_rlnExtReconsResult'] = 'plain.mrc'
    request['_rlnExtReconsResultStarfile'] = 'plain_out.star'
    without_low_shell_prior(copy, minres_map)
    star.write(os.path.join(workdir, 'request.star'), copy)
    try:
        program = find_program('relion_external_reconstruct')
    except RelionError as e:
        raise ReconstructionError('%s: %s' % (star_path, e))
    argv = [program, 'request.star'] + (['--skip_gridding'] if skip_gridding else [])
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=workdir)
    tmp_result = os.path.join(workdir, 'plain.mrc')
    if proc.returncode != 0 or not os.path.exists(tmp_result):
        tail = (proc.stdout + proc.stderr).strip()[-1500:]
        raise ReconstructionError('%s: relion_external_reconstruct failed (exit %d)%s'
                                  % (star_path, proc.returncode, ':\n' + tail if tail else ''))
    try:
        return mrc.read(tmp_result, cubic=True)
    except mrc.MapError as e:
        raise ReconstructionError('%s: plain reconstruction unusable: %s' % (star_path, e))


@contextlib.contextmanager
def device_lock(path, timeout):
    """Exclusive ``flock`` on ``path`` (None: no lock). The kernel drops the lock of a process
    that dies, so a lock left by a killed run never blocks the next call."""
    if not path:
        yield 0.0
        return
    start = time.time()
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.time() - start > timeout:
                    raise EnhancerFailure('device lock %s still held after %.0f s' % (path, timeout))
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.write(fd, ('%s pid %d\n' % (socket.gethostname(), os.getpid())).encode())
        yield time.time() - start
    finally:
        os.close(fd)


def process(star_path, cfg=None, stdout=None):
    """Handle one external-reconstruct call; return its run-log record.

    Raises ReconstructionError when RELION's own reconstruction cannot be made.
    """
    stdout = stdout or sys.stdout
    t0 = time.time()
    star_path = os.fspath(star_path)
    call = layout.parse_call(star_path)
    record = dict(star=star_path, iteration=call.iteration,
                  half=call.half if call.half else 'final', time=time.strftime('%Y-%m-%dT%H:%M:%S'),
                  pid=os.getpid())
    config_error = None
    if cfg is None:
        path = config_mod.locate(call.root)
        try:
            cfg = config_mod.load(path) if path else config_mod.validate(config_mod.UNCONFIGURED)
        except config_mod.ConfigError as e:
            config_error = str(e)
            cfg = config_mod.validate(config_mod.UNCONFIGURED)
    record['config'] = cfg.get('_source')
    try:
        return _process(star_path, call, cfg, record, config_error, t0, stdout)
    except ReconstructionError as e:
        record.update(error=str(e), seconds=round(time.time() - t0, 3))
        with contextlib.suppress(OSError):
            runlog.append(run_log_path(cfg, call), record)
        raise


def _process(star_path, call, cfg, record, config_error, t0, stdout):
    blocks, general, fsc = read_request(star_path)
    result_path = general.get('_rlnExtReconsResult')
    ori_size = general.get('_rlnOriginalImageSize', int)

    folder = os.path.dirname(os.path.abspath(result_path))
    atomic.remove_abandoned(folder)      # what calls killed with their refinement left
    workdir = tempfile.mkdtemp(prefix=WORKDIR_PREFIX + atomic.owner_tag(), dir=folder)
    try:
        plain, header_voxel = plain_reconstruction(blocks, general, star_path, workdir,
                                                   cfg.get('skip_gridding'), cfg.get('minres_map', 5))
        if plain.shape[0] != ori_size:
            raise ReconstructionError('%s: plain reconstruction box %d differs from _rlnOriginalImageSize %d'
                                      % (star_path, plain.shape[0], ori_size))
        # RELION >= 4.0.1 names the voxel size in the request itself; its
        # relion_external_reconstruct then copies the weight file's header (1 Å in RELION 5),
        # which says nothing about the run
        request_voxel = general.get('_rlnPixelSize', float, 0.0)
        if request_voxel:
            header_voxel = None
        run_voxel = request_voxel or model_voxel_size(call)
        voxel = cfg.get('voxel_size') or run_voxel or header_voxel
        if cfg.get('voxel_size') and run_voxel and abs(run_voxel - voxel) > 0.01 * voxel:
            raise ReconstructionError('%s: voxel_size %.4g Å in %s differs from the run\'s _rlnPixelSize '
                                      '%.4g Å' % (star_path, voxel, cfg.get('_source', 'the configuration'),
                                                   run_voxel))
        if not voxel:
            raise ReconstructionError('%s: voxel size unknown: no _rlnPixelSize in the run\'s model STAR; '
                                      'set voxel_size in the configuration' % star_path)
        if header_voxel and abs(header_voxel - voxel) > 0.01 * voxel:
            raise ReconstructionError('%s: plain reconstruction header voxel size %.4g Å differs from '
                                      'the run\'s %.4g Å' % (star_path, header_voxel, voxel))
        decision = gate.decide(cfg, call)
        record.update(voxel_size=voxel, healpix_order=decision.healpix_order,
                      local_order=decision.local_order, resolution_A=current_resolution(call),
                      gate=decision.regularize, gate_reason=decision.reason,
                      enhancer=cfg['enhancer'], regularized=False, fallback=config_error,
                      enhancer_s=0.0, lock_wait_s=0.0, fsc_guard_shell=None)
        result = plain
        if decision.regularize and config_error is None:
            try:
                result = _enhance_isolated(cfg, call, star_path, plain, voxel, fsc,
                                           general.get('_rlnExtReconsWeight'), workdir, record)
                record['regularized'] = result is not plain
            except (EnhancerFailure, EnhancerError) as e:
                record['fallback'] = str(e)
        if cfg.get('keep_maps') and record['regularized']:
            keep = os.path.splitext(result_path)[0]
            mrc.write(keep + '_plain.mrc', plain, voxel)
        try:
            mrc.write(result_path, result, voxel)
        except OSError as e:
            raise ReconstructionError('%s: cannot write the result %s (%s); nothing was left there'
                                      % (star_path, result_path, e.strerror or e))
    finally:
        _remove_tree(workdir)
    record['seconds'] = round(time.time() - t0, 3)
    runlog.append(run_log_path(cfg, call), record)
    stdout.write(progress_line(record) + '\n')
    stdout.flush()
    return record


def _enhance_isolated(cfg, call, star_path, plain, voxel, fsc, weight_path, workdir, record):
    """:func:`_enhance` in a child the kernel kills first when memory runs out
    (:mod:`~relion_dem.core.runtime.isolation`): killed, it is this call's failure and RELION
    gets its plain map."""
    out = os.path.join(workdir, 'regularized.mrc')

    def child():
        rec = dict(record)
        try:
            result = _enhance(cfg, call, star_path, plain, voxel, fsc, weight_path, workdir, rec)
        except (EnhancerFailure, EnhancerError) as e:
            return dict(record=rec, failure=str(e))
        if result is not plain:
            mrc.write(out, result, voxel)
        return dict(record=rec, regularized=result is not plain)
    try:
        answer = isolation.run_forked(child, workdir)
    except isolation.Killed as e:
        raise EnhancerFailure('the regularization was %s; plain map kept' % e)
    record.update(answer['record'])
    if 'failure' in answer:
        raise EnhancerFailure(answer['failure'])
    return mrc.read(out)[0] if answer['regularized'] else plain


def _enhance(cfg, call, star_path, plain, voxel, fsc, weight_path, workdir, record):
    problem = guards.refusal(fsc, plain.shape[0], cfg)
    if problem:                             # fail closed, before the enhancer runs for nothing
        raise EnhancerFailure('guards: %s; plain map kept' % problem)
    enhancer = create_enhancer(cfg)
    record['enhancer'] = enhancer.describe()
    inp = os.path.join(workdir, 'input.mrc')
    out = os.path.join(workdir, 'enhanced.mrc')
    ctx = CallContext(os.path.abspath(star_path), call.iteration, call.half, voxel,
                      record.get('resolution_A'), list(fsc),
                      gate.solvent_mask_radius(call.root, call.iteration, voxel), cfg['guard_threshold'])
    argv = enhancer.command(inp, out, ctx)
    if argv is None:
        return plain
    mrc.write(inp, plain, voxel)
    log_path = os.path.splitext(star_path)[0] + '_enhancer.log'
    t = time.time()
    with device_lock(cfg.get('device_lock'), cfg['lock_timeout_s']) as waited:
        record['lock_wait_s'] = round(waited, 3)
        t = time.time()
        run_enhancer(argv, cfg['timeout_s'], log_path)
    record['enhancer_s'] = round(time.time() - t, 3)
    enhanced = check_enhanced(out, plain, voxel)
    if cfg.get('keep_maps'):
        mrc.write(os.path.splitext(star_path)[0] + '_enhanced.mrc', enhanced, voxel)
    weight = None
    if cfg.get('harm_guard') and cfg.get('harm_directions') == 'sampled':
        weight = request_weight(star_path, weight_path, plain.shape[0])
    result, outcome = guards.apply(enhanced, plain, fsc, cfg, weight=weight)
    if outcome.harm is not None:
        v = outcome.harm
        record['harm_guard'] = dict(shells_checked=v.shells_checked, shells_replaced=v.shells_replaced,
                                    shells_scaled=v.shells_scaled, worst_margin=v.worst_margin,
                                    failing_signal_fraction=v.failing_signal_fraction)
        if v.sampled_fraction is not None:
            record['harm_guard']['sampled_fraction'] = v.sampled_fraction
    if outcome.cutoff is not None:
        record['fsc_guard_shell'] = outcome.cutoff
        if outcome.cutoff < guards.needed_shells(plain.shape[0]):
            record['fsc_guard_resolution_A'] = round(plain.shape[0] * voxel / max(outcome.cutoff, 1), 2)
    if outcome.fallback:
        raise EnhancerFailure(outcome.fallback)
    return result


#: the runtime's work folders beside the result: <prefix><host>_<pid>_<random> (atomic.owner_tag)
WORKDIR_PREFIX = '.relion_dem_'


def _remove_tree(path):
    import shutil
    shutil.rmtree(path, ignore_errors=True)


def progress_line(r):
    what = 'regularized with %s' % r.get('enhancer') if r.get('regularized') else 'plain'
    harm = r.get('harm_guard') or {}
    if r.get('regularized') and (harm.get('shells_replaced') or harm.get('shells_scaled')):
        what += ' (do-no-harm guard: %d shell(s) plain, %d scaled)' % (len(harm['shells_replaced']),
                                                                      harm['shells_scaled'])
    if r.get('fallback'):
        what += ' (FALLBACK: %s)' % r['fallback']
    return ('relion_dem: it %s half %s: gate %s (%s); %s; %.1f s'
            % (r['iteration'], r['half'], 'open' if r.get('gate') else 'closed',
               r.get('gate_reason'), what, r.get('seconds', 0.0)))


def main(argv=None):
    p = argparse.ArgumentParser(
        prog='relion_dem_extrec',
        description='External reconstruction for relion_refine --external_reconstruct: plain '
                    'reconstruction, regularized by a denoiser once the gate opens. Set '
                    'RELION_EXTERNAL_RECONSTRUCT_EXECUTABLE=relion_dem_extrec. Configuration: '
                    '$%s, <root>_relion_dem.json or relion_dem.json beside the STAR.' % config_mod.ENV_VAR)
    p.add_argument('star', help='<root>_itNNN_half1_class001_external_reconstruct.star, written by relion_refine')
    a = p.parse_args(argv)
    try:
        process(a.star)
    except (ReconstructionError, ValueError, OSError) as e:
        sys.stderr.write('relion_dem_extrec: ERROR: %s\n' % e)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
