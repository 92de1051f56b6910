"""``relion_dem denoise``: a refinement's half-maps denoised once, as deepEMhancer and
``relion_postprocess`` are used, with the runtime's guards and a provenance map.

    relion_dem denoise HALF1 HALF2 --out OUT.mrc [--enhancer network] [--mask MASK]
    relion_dem denoise --root Refine/run --out OUT.mrc

The average of the two half-maps goes through the enhancer (a program in its own process,
as in the refinement loop). Then the guards (:mod:`relion_dem.core.guards`, for the average of
the halves: the do-no-harm guard, then the enhanced map only where the half-maps' FSC >= 1/7)
give ``OUT.mrc``; where they refuse the enhanced map (half-maps without a usable FSC
included) ``OUT.mrc`` is the plain average and the report says why. Beside it: ``OUT_provenance.mrc``
(:mod:`.provenance`: |denoised − plain| over the local noise; colour the map by it in
ChimeraX) and ``OUT.json`` (the numbers printed). Nothing is overwritten unless ``--force``,
and never an input.
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
import time

import numpy as np

from relion_dem.core.maths import masks
from relion_dem.core.maths.fourier import fsc, resolution, shell_resolutions
from relion_dem.core.enhancers import CallContext, EnhancerError, create, default_enhancer
from relion_dem.core.enhancers.process import EnhancerFailure, check_enhanced, run_enhancer
from relion_dem.core.io import mrc, star
from relion_dem.core.io.layout import RelionRun
from relion_dem.core.postprocess import provenance as prov
from relion_dem.core import guards, options
from relion_dem.core.guards import fsc as fsc_guard


class DenoiseError(ValueError):
    """An input is missing or unusable, or an output would be overwritten (the message names it)."""


def outputs(out):
    """The files ``--out OUT.mrc`` writes: the map, the provenance map, the report."""
    base = out[:-4] if out.endswith('.mrc') else out
    return dict(map=base + '.mrc', provenance=base + '_provenance.mrc', report=base + '.json')


def resolve_inputs(half1=None, half2=None, root=None):
    """(half1, half2, voxel size in the run's model STAR or None)."""
    if root:
        run = RelionRun(root)
        half1, half2 = run.half_map(1), run.half_map(2)
        voxel = star.first_value(run.final_model, '_rlnPixelSize', float) if os.path.exists(run.final_model) else None
    else:
        voxel = None
    for p in (half1, half2):
        if not p or not os.path.exists(p):
            raise DenoiseError('%s: half-map does not exist%s' % (p, ' (has run %s finished?)' % root if root else ''))
    return half1, half2, voxel


def read_halves(half1, half2, star_voxel=None):
    """The two half-maps and their voxel size, checked: same box, same voxel size (and the run's, if given)."""
    a, va = mrc.read(half1, cubic=True)
    b, vb = mrc.read(half2, cubic=True)
    if a.shape != b.shape:
        raise DenoiseError('%s: box %s differs from %s: %s' % (half2, b.shape, half1, a.shape))
    if abs(va - vb) > 0.01 * va:
        raise DenoiseError('%s: voxel size %.4g Å differs from %s: %.4g Å' % (half2, vb, half1, va))
    if star_voxel and abs(va - star_voxel) > 0.01 * star_voxel:
        raise DenoiseError('%s: header voxel size %.4g Å differs from the run\'s _rlnPixelSize %.4g Å'
                           % (half1, va, star_voxel))
    if not va > 0:
        raise DenoiseError('%s: no voxel size in the header' % half1)
    return a, b, va


def read_mask(path, shape):
    """The mask at ``path``, checked: the half-maps' box, values in [0, 1]."""
    m, _ = mrc.read(path, cubic=True)
    if m.shape != shape:
        raise DenoiseError('%s: mask box %s differs from the half-maps %s' % (path, m.shape, shape))
    if m.min() < -1e-3 or m.max() > 1 + 1e-3:
        raise DenoiseError('%s: mask values must lie in [0, 1] (found %.3g .. %.3g)' % (path, m.min(), m.max()))
    return m


def write_fsc_star(path, curve):
    """The half-maps' FSC as an external-reconstruct STAR, the form enhancers read it in."""
    rows = [[str(i), '%.6f' % v] for i, v in enumerate(curve)]
    star.write(path, [star.Block('external_reconstruct_tau2', {}, ['_rlnSpectralIndex', '_rlnGoldStandardFsc'],
                                 rows)])


def enhance(cfg, plain, voxel, curve, workdir, timeout):
    """The enhancer's map of ``plain`` (a program in its own process group)."""
    enhancer = create(cfg)
    enhancer.check()
    inp, out = os.path.join(workdir, 'input.mrc'), os.path.join(workdir, 'enhanced.mrc')
    star_path = os.path.join(workdir, 'fsc.star')
    write_fsc_star(star_path, curve)
    mrc.write(inp, plain, voxel)
    ctx = CallContext(star_path, None, None, voxel, resolution(curve, voxel), list(curve), None,
                      cfg['guard_threshold'])
    argv = enhancer.command(inp, out, ctx)
    if argv is None:
        return plain, enhancer.describe()
    run_enhancer(argv, timeout, os.path.join(workdir, 'enhancer.log'))
    return check_enhanced(out, plain, voxel), enhancer.describe()


def denoise(half1, half2, out, cfg, mask_path=None, star_voxel=None, force=False, timeout=1800.0, log=print):
    """Denoise the average of two half-maps with both guards; write the outputs; return the report."""
    paths = outputs(out)
    inputs = {os.path.realpath(p) for p in (half1, half2, mask_path) if p}
    for what, p in paths.items():
        if os.path.realpath(p) in inputs:
            raise DenoiseError('%s: the %s output would overwrite an input' % (p, what))
        if os.path.exists(p) and not force:
            raise DenoiseError('%s exists: choose another --out, or --force to replace it' % p)
    t0 = time.time()
    a, b, voxel = read_halves(half1, half2, star_voxel)
    mask = read_mask(mask_path, a.shape) if mask_path else None
    curve = fsc(a, b)
    cut = fsc_guard.cutoff_shell(curve, cfg['guard_threshold'])
    plain = ((a.astype(np.float64) + b) / 2.0).astype(np.float32)
    box = a.shape[0]
    report = dict(half1=os.path.abspath(half1), half2=os.path.abspath(half2), box=box, voxel_size=voxel,
                  fsc_resolution_A=round(resolution(curve, voxel, 0.143), 2),
                  guard_cutoff_A=round(box * voxel / max(cut, 1), 2) if cut < len(curve) else None,
                  enhancer=cfg['enhancer'], fsc_guard=cfg['fsc_guard'], harm_guard=cfg['harm_guard'], fallback=None,
                  fsc=[round(float(v), 4) for v in curve],
                  resolution_A=[round(float(v), 3) for v in shell_resolutions(box, voxel)])
    folder = os.path.dirname(os.path.abspath(paths['map']))
    os.makedirs(folder, exist_ok=True)
    workdir = tempfile.mkdtemp(prefix='.relion_dem_denoise_', dir=folder)
    try:
        problem = guards.refusal(curve, box, cfg)
        t = time.time()
        if problem:                       # fail closed: the guards cannot judge any map
            result, report['fallback'] = plain, 'guards: %s; plain average kept' % problem
        else:
            try:
                enhanced, report['enhancer'] = enhance(cfg, plain, voxel, curve, workdir, timeout)
            except (EnhancerFailure, EnhancerError) as e:
                raise DenoiseError('enhancer %s failed: %s' % (cfg['enhancer'], e))
            result, outcome = guards.apply(enhanced, plain, curve, cfg, full_map=True)
            if outcome.harm is not None:
                report['harm_guard_verdict'] = dict(outcome.harm._asdict())
            report['fallback'] = outcome.fallback
        report['enhancer_s'] = round(time.time() - t, 2)
        if result is plain:               # nothing moved
            p = np.zeros_like(plain)
            report['provenance_fraction_above_3'] = 0.0
        else:
            p = prov.provenance(result, plain, a, b, voxel, full_map=True, resolution_A=report['fsc_resolution_A'])
            region = mask if mask is not None else masks.soft_mask(plain, voxel)
            report['provenance_fraction_above_3'] = round(prov.fraction_above(p, region), 4)
        report['mask'] = os.path.abspath(mask_path) if mask_path else 'automatic (from the plain map)'
        mrc.write(paths['map'], result, voxel)
        mrc.write(paths['provenance'], p, voxel)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    report['seconds'] = round(time.time() - t0, 2)
    report['outputs'] = {k: os.path.abspath(v) for k, v in paths.items()}
    with open(paths['report'], 'w') as f:
        json.dump(report, f, indent=1, default=lambda o: o.item() if hasattr(o, 'item') else str(o))
    for line in summary_lines(report):
        log(line)
    return report


def summary_lines(r):
    """The lines ``relion_dem denoise`` prints about its result ``r``."""
    v = r.get('harm_guard_verdict') or {}
    return ['relion_dem denoise: half-maps %s, %s (%d³, %.3f Å): FSC 0.143 at %.2f Å'
            % (r['half1'], r['half2'], r['box'], r['voxel_size'], r['fsc_resolution_A']),
            '  enhancer %s, %.1f s; FSC guard %s%s; do-no-harm guard %s'
            % (r['enhancer'], r['enhancer_s'], 'on' if r['fsc_guard'] else 'off',
               ' (plain map from %.2f Å on)' % r['guard_cutoff_A'] if r['fsc_guard'] and r['guard_cutoff_A'] else '',
               (v.get('reason') or 'on').replace('do-no-harm guard: ', '') if r['harm_guard'] else 'off'),
            *(['  FALLBACK: %s' % r['fallback']] if r.get('fallback') else []),
            '  provenance: %.1f%% of the masked volume moved by more than 3 sigma of the local noise'
            % (100 * r['provenance_fraction_above_3']),
            '  wrote %s, %s, %s' % (r['outputs']['map'], r['outputs']['provenance'], r['outputs']['report'])]


def build_parser():
    """The argument parser of ``relion_dem denoise``."""
    p = argparse.ArgumentParser(prog='relion_dem denoise', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('halves', nargs='*', metavar='HALF', help='the two unfiltered half-maps')
    p.add_argument('--root', help='a finished refinement\'s root (Refine/run) instead of HALF HALF')
    p.add_argument('--out', required=True, help='output map (OUT.mrc; also OUT_provenance.mrc, OUT.json)')
    options.add_enhancer_arguments(p)
    p.add_argument('--mask', help='soft mask (0..1) for the provenance statistics (default: automatic)')
    options.add_guard_arguments(p, directions=False)
    p.add_argument('--timeout', type=float, default=1800.0, help='seconds before the enhancer is killed')
    p.add_argument('--force', action='store_true', help='replace existing outputs (never an input)')
    return p


def main(argv=None):
    """``relion_dem denoise``: exit status 0 on success, 2 on an input, option or enhancer error."""
    from relion_dem.core.runtime import config as config_mod
    a = build_parser().parse_args(argv)
    try:
        if bool(a.root) == bool(a.halves) or (a.halves and len(a.halves) != 2):
            raise DenoiseError('give two half-maps, or --root of a finished refinement')
        why = a.root and RelionRun(a.root).problem()
        if why:
            raise DenoiseError('--root %s' % why)
        half1, half2, star_voxel = resolve_inputs(*(a.halves or [None, None]), root=a.root)
        settings = dict(options.enhancer_settings(a), **options.guard_settings(a))
        if not settings['enhancer']:
            settings['enhancer'], why = default_enhancer()
            if why:
                print('relion_dem denoise: %s' % why)
        cfg = config_mod.validate(settings, 'command line')
        denoise(half1, half2, a.out, cfg, a.mask, star_voxel, a.force, a.timeout)
    except (DenoiseError, mrc.MapError, star.StarError, config_mod.ConfigError, options.OptionError,
            EnhancerError, OSError) as e:
        sys.stderr.write('relion_dem denoise: ERROR: %s\n' % e)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
