"""Validation of the bundled network on held-out structures: denoising, hallucination, timing.

Run in the network environment (TensorFlow, and gemmi for the potentials)::

    ~/.relion_dem/netenv/bin/python benchmarks/network_validation.py [--model M.keras] [--quick]

Writes ``benchmarks/results/network-validation.md`` and ``.json``. Only structures of
:data:`relion_dem_dev.training.split.HOLDOUT` are denoised (never seen in training).

1. **Denoising.** Each held-out model -> potential map (voxel 2 Å, box ~1.4x its
   diameter) -> simulated mid-refinement half-map (B 60 Å², coloured noise scaled to the
   half-map SNR of FSC 0.143 at R = 4.5, 7, 10 Å) -> network (through the same
   inference code as the worker: resampled to the network's grid and back). Metric:
   map-vs-truth FSC, resolution at FSC 0.5 and 0.143, input vs output; real-space
   correlation with the truth low-passed at R.
2. **Hallucination.** (a) Pure noise in (white and coloured): output power relative to
   the input noise, and the largest |correlation| of the output with every structure's
   truth map (training and held-out) against the same statistic for the input noise
   low-passed to the output's bandwidth (the null). (b) Signal low-passed at X = 8,
   12 Å plus noise: correlation of output and truth *beyond X* (both high-passed at X),
   against the ±3σ band of chance correlation (3/sqrt(Fourier coefficients beyond X)).
3. **Timing** on this machine's CPU: 64³ and 128³ maps; the network alone (model loaded;
   whole map as the worker runs it, and 64³ cubes only), the one-shot worker end-to-end
   (python start, TensorFlow import, model load, inference, write) and a call to a running
   persistent server (what each regularized call after a refinement's first costs).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

from relion_dem.core.simulation import density  # noqa: E402
from relion_dem.core.analysis import fsc as fsc_mod
from relion_dem.core.maths import fourier
from relion_dem.core.guards import fsc as fsc_guard
from relion_dem.core.io import mrc
from relion_dem.core.network import inference, worker  # noqa: E402
from relion_dem_dev.training import simdata, split

VOXEL = 2.0
BFACTOR = 60.0
RESOLUTIONS = (4.5, 7.0, 10.0)
LOWPASS = (8.0, 12.0)
LOWPASS_NOISE_RESOLUTION = 4.5


def params(res, **kw):
    """simdata's fixed half-map parameters at resolution ``res`` (VOXEL, BFACTOR)."""
    return simdata.fixed_params(VOXEL, res, BFACTOR, **kw)


def box_for(diameter):
    """Box (voxels) 1.4 times a model's ``diameter`` (Å), even, at least 48."""
    return max(48, int(np.ceil(1.4 * diameter / VOXEL / 2.0)) * 2)


def truth_map(path):
    """The model's potential at VOXEL in a box 1.4x its diameter."""
    st = density.read_model(path)
    return density.potential_map(st, box_for(2 * density.model_extent(st)), VOXEL)


def cc(a, b):
    """Pearson correlation of two maps."""
    a = a - a.mean()
    b = b - b.mean()
    return float(np.sum(a * b) / np.sqrt(np.sum(a * a) * np.sum(b * b) + 1e-30))


def highpass(data, resolution):
    """``data`` with only the Fourier shells strictly beyond ``resolution`` (raised-cosine edge from
    1/X to 1.05/X), and the number of coefficients kept."""
    n = data.shape[0]
    s = fourier.radial_frequency(data.shape) / (n * VOXEL)
    sx = 1.0 / resolution
    t = np.clip((s - sx) / (0.05 * sx), 0.0, 1.0)
    w = 0.5 - 0.5 * np.cos(np.pi * t)
    return np.fft.irfftn(np.fft.rfftn(data) * w, s=data.shape, axes=(0, 1, 2)), int(np.sum(w > 0.5))


def halves(truth, rng, p):
    """Two independent half-maps of the same truth and their FSC (what RELION hands the runtime)."""
    x1, _, _ = simdata.simulate_pair(truth, VOXEL, rng, p)
    x2, _, _ = simdata.simulate_pair(truth, VOXEL, rng, p)
    return x1, x2, fsc_mod.fsc(x1, x2)


def res_at_curve(curve, threshold):
    """Resolution (Å) where ``curve`` falls below ``threshold``."""
    return round(fsc_mod.resolution(curve, VOXEL, threshold), 2)


def res_at(a, truth, threshold):
    """Resolution (Å) where the FSC of ``a`` with ``truth`` falls below ``threshold``."""
    return round(fsc_mod.resolution(fsc_mod.fsc(a, truth), VOXEL, threshold), 2)


def denoising(structures, enhance, rng, log):
    """Rows: FSC with the truth and CC before and after the network (and the FSC guard), per structure and resolution."""
    rows = []
    for sid, path in structures:
        truth = truth_map(path)
        box = truth.shape[0]
        for res in RESOLUTIONS:
            x, x2, half_fsc = halves(truth, rng, params(res))
            t = time.time()
            y = enhance(x)
            seconds = time.time() - t
            g, shell = fsc_guard.blend(y, x, half_fsc)
            target = fourier.lowpass(truth, VOXEL, res)
            row = dict(structure=sid, box=box, resolution=res, half_fsc_resolution=res_at_curve(half_fsc, 0.143),
                       guard_cutoff_A=round(box * VOXEL / max(shell, 1), 2),
                       fsc05_input=res_at(x, truth, 0.5), fsc05_output=res_at(y, truth, 0.5),
                       fsc05_guarded=res_at(g, truth, 0.5),
                       fsc0143_input=res_at(x, truth, 0.143), fsc0143_output=res_at(y, truth, 0.143),
                       cc_input=round(cc(x, target), 4), cc_output=round(cc(y, target), 4),
                       cc_guarded=round(cc(g, target), 4), seconds=round(seconds, 2))
            rows.append(row)
            log('denoise %(structure)s box %(box)d R %(resolution)g (half-map FSC %(half_fsc_resolution)s): FSC0.5 '
                '%(fsc05_input)s -> %(fsc05_output)s A (guarded %(fsc05_guarded)s), CC %(cc_input)s -> %(cc_output)s'
                % row)
    return rows


def pure_noise(enhance, truths, rng, log, box=64):
    """Rows: does the network make structure out of coloured noise (|CC| with the truths against a null)?"""
    rows = []
    for slope in (0.0, -1.0, 0.5):
        s = fourier.radial_frequency((box,) * 3) / (box * VOXEL)
        shape = (np.maximum(s, 0.01) / 0.1) ** slope
        noise = np.fft.irfftn(np.fft.rfftn(rng.standard_normal((box,) * 3)) * shape, s=(box,) * 3, axes=(0, 1, 2))
        noise = (noise / noise.std()).astype(np.float32)
        y = enhance(noise)
        # null: maps with exactly the output's amplitude spectrum and random phases (structureless)
        amp = np.abs(np.fft.rfftn(y))
        nulls = []
        for _ in range(20):
            z = np.fft.irfftn(np.fft.rfftn(rng.standard_normal(y.shape)) / np.sqrt(y.size) * amp, s=y.shape,
                              axes=(0, 1, 2))
            nulls.append(max(abs(cc(z, t)) for t in truths.values()))
        cc_out = [abs(cc(y, t)) for t in truths.values()]
        row = dict(slope=slope, output_rms_over_input=round(float(y.std() / noise.std()), 4),
                   max_abs_cc_output=round(max(cc_out), 4), max_abs_cc_null=round(float(np.mean(nulls)), 4),
                   max_abs_cc_null_95=round(float(np.percentile(nulls, 95)), 4),
                   mean_abs_cc_output=round(float(np.mean(cc_out)), 4), n_structures=len(truths))
        rows.append(row)
        log('pure noise slope %(slope)g: rms out/in %(output_rms_over_input)s, max|CC| with %(n_structures)d '
            'truths %(max_abs_cc_output)s (null %(max_abs_cc_null)s, 95%% %(max_abs_cc_null_95)s)' % row)
    return rows


def lowpass_test(structures, enhance, rng, log):
    """Rows: correlation with the truth beyond a low-pass the input had (invented detail), per structure."""
    rows = []
    for sid, path in structures:
        truth = truth_map(path)
        for x_res in LOWPASS:
            x, _, half_fsc = halves(truth, rng, params(LOWPASS_NOISE_RESOLUTION, lowpass=x_res))
            y = enhance(x)
            g, _ = fsc_guard.blend(y, x, half_fsc)
            hy, n_coef = highpass(y, x_res)
            hg, _ = highpass(g, x_res)
            hx, _ = highpass(x, x_res)
            ht, _ = highpass(truth, x_res)
            row = dict(structure=sid, lowpass=x_res, half_fsc_resolution=res_at_curve(half_fsc, 0.143),
                       cc_beyond_output=round(cc(hy, ht), 4), cc_beyond_guarded=round(cc(hg, ht), 4),
                       cc_beyond_input=round(cc(hx, ht), 4), chance_3sigma=round(3 / np.sqrt(2 * n_coef), 4),
                       cc_below_output=round(cc(y - hy, truth - ht), 4),
                       cc_below_input=round(cc(x - hx, truth - ht), 4))
            rows.append(row)
            log('lowpass %(structure)s X %(lowpass)g: CC beyond X output %(cc_beyond_output)s guarded '
                '%(cc_beyond_guarded)s input '
                '%(cc_beyond_input)s (3 sigma %(chance_3sigma)s); below X %(cc_below_input)s -> %(cc_below_output)s'
                % row)
    return rows


def timing(model_path, predict, settings, rng, log, threads=2, repeats=2):
    """Rows: seconds per call (tiled, whole, one-shot worker, running server) per box and voxel size."""
    from relion_dem.core.network import service
    rows = []
    tmp = tempfile.mkdtemp(prefix='relion_dem_bench_')
    servers = os.path.join(tmp, 'servers')
    os.makedirs(servers, mode=0o700)
    try:
        for box, vox in ((64, 1.5), (128, 1.5), (64, 2.0), (128, 2.0)):
            data = rng.standard_normal((box,) * 3).astype(np.float32)
            best = {}
            for name, whole in (('tiled', 0), ('whole', worker.WHOLE_UP_TO)):
                best[name] = []
                for _ in range(repeats):
                    t = time.time()
                    inference.enhance(data, vox, predict, settings['net_voxel_size'], cube=int(settings['cube']),
                                      overlap=int(settings['overlap']), multiple=int(settings['multiple']),
                                      whole_up_to=whole)
                    best[name].append(time.time() - t)
            inp, out = os.path.join(tmp, 'in%d.mrc' % box), os.path.join(tmp, 'out%d.mrc' % box)
            mrc.write(inp, data, vox)
            args = ['--input', inp, '--output', out, '--model', model_path, '--threads', str(threads)]
            t = time.time()
            subprocess.run([sys.executable, '-E', '-s', worker.__file__] + args, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            worker_s = time.time() - t
            client = [sys.executable, '-E', '-s', service.__file__, '--dir', servers, '--']
            subprocess.run(client + args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            t = time.time()     # a call to the running server, as every call after a refinement's first
            subprocess.run(client + args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            row = dict(box=box, voxel_size=vox,
                       net_box=inference.resampled_box(box, vox, settings['net_voxel_size']),
                       network_tiled_s=round(min(best['tiled']), 2), network_s=round(min(best['whole']), 2),
                       worker_s=round(worker_s, 2), server_call_s=round(time.time() - t, 2))
            rows.append(row)
            log('timing %(box)d^3 at %(voxel_size)g A (network grid %(net_box)d^3): network %(network_s)s s '
                '(cubes only: %(network_tiled_s)s s), one-shot worker %(worker_s)s s, call to the running '
                'server %(server_call_s)s s' % row)
    finally:
        service.stop_servers(servers)
    return rows


def summarize(den):
    """Means of the denoising rows per resolution, and how many improved."""
    out = []
    for res in RESOLUTIONS:
        sel = [r for r in den if r['resolution'] == res]
        out.append(dict(resolution=res, n=len(sel),
                        **{k: round(float(np.mean([r[k] for r in sel])), 3)
                           for k in ('half_fsc_resolution', 'guard_cutoff_A', 'fsc05_input', 'fsc05_output',
                                     'fsc05_guarded', 'fsc0143_input', 'fsc0143_output', 'cc_input', 'cc_output',
                                     'cc_guarded')},
                        improved_fsc05=sum(r['fsc05_output'] < r['fsc05_input'] for r in sel)))
    return out


WHOLE_UP_TO_DOC = worker.WHOLE_UP_TO


def write_markdown(path, result):
    """Write the Markdown report of ``result`` to ``path``."""
    m = result['model']
    lines = ['# Network validation (held-out structures)', '',
             'Model `%s` (%s, %s parameters, network grid %s). Produced by '
             '`benchmarks/network_validation.py`%s on %s.' % (
                 os.path.basename(m['path']), m.get('architecture', {}).get('kind', '?'),
                 m.get('architecture', {}).get('params', '?'), inference.describe_grid(m['net_voxel_size']),
                 ' --quick' if result['quick'] else '', result['machine']), '',
             'Held-out structures (never trained on): %s.' % ', '.join(result['structures']), '',
             '## 1. Denoising: map-vs-truth FSC, input vs output', '',
             'Simulated half-maps at %g Å/voxel, B %g Å², noise scaled so the half-map FSC is 0.143 at R. '
             'Resolution (Å) where the FSC with the truth falls below 0.5 / 0.143 (lower is better), mean over '
             'structures; CC: real-space correlation with the truth low-passed at R.' % (VOXEL, BFACTOR), '',
             '`out`: the network alone; `guarded`: what the runtime keeps (network where the two simulated '
             'half-maps\' FSC >= 1/7, plain half-map beyond; `guard cut` its resolution).', '',
             '| R (Å) | n | half-map FSC 0.143 | guard cut | FSC0.5 in | FSC0.5 out | FSC0.5 guarded | improved | '
             'FSC0.143 in | FSC0.143 out | CC in | CC out | CC guarded |',
             '|---|---|---|---|---|---|---|---|---|---|---|---|---|']
    for s in result['denoising_summary']:
        lines.append('| %(resolution)g | %(n)d | %(half_fsc_resolution).2f | %(guard_cutoff_A).2f | %(fsc05_input).2f | '
                     '%(fsc05_output).2f | %(fsc05_guarded).2f | %(improved_fsc05)d/%(n)d | %(fsc0143_input).2f | '
                     '%(fsc0143_output).2f | %(cc_input).3f | %(cc_output).3f | %(cc_guarded).3f |' % s)
    lines += ['', 'Per structure:', '',
              '| structure | box | R | FSC0.5 in | FSC0.5 out | FSC0.5 guarded | CC in | CC out | CC guarded |',
              '|---|---|---|---|---|---|---|---|---|']
    for r in result['denoising']:
        lines.append('| %(structure)s | %(box)d | %(resolution)g | %(fsc05_input).2f | %(fsc05_output).2f | '
                     '%(fsc05_guarded).2f | %(cc_input).3f | %(cc_output).3f | %(cc_guarded).3f |' % r)
    lines += ['', '## 2. Hallucination', '', '### (a) Pure noise in', '',
              'Unit-variance noise (spectral slope 0: white) through the network. `rms out/in`: output power '
              'relative to the input; `max |CC|`: largest correlation of the output with any of the %d '
              'structures\' truth maps (training and held-out, same box and voxel size); null: the same '
              'statistic for 20 structureless maps with exactly the output\'s amplitude spectrum and random '
              'phases (mean and 95th percentile).' % result['pure_noise'][0]['n_structures'], '',
              '| slope | rms out/in | max abs CC out | null mean | null 95 % | mean abs CC out |',
              '|---|---|---|---|---|---|']
    for r in result['pure_noise']:
        lines.append('| %(slope)g | %(output_rms_over_input).4f | %(max_abs_cc_output).4f | %(max_abs_cc_null).4f | '
                     '%(max_abs_cc_null_95).4f | %(mean_abs_cc_output).4f |' % r)
    lines += ['', '### (b) Signal low-passed at X: nothing added beyond X', '',
              'Input: truth low-passed at X plus noise (FSC-0.143 resolution of the noise alone %g Å). '
              'CC beyond X: correlation of output and truth, both keeping only the Fourier shells strictly '
              'beyond 1/X; chance level ±3σ. '
              '`guarded`: after the runtime\'s FSC guard (half-map FSC from two simulated halves).'
              % LOWPASS_NOISE_RESOLUTION, '',
              '| X (Å) | n | mean CC beyond X out | max abs CC beyond X out | mean CC beyond X guarded | '
              'mean CC beyond X in | 3σ chance | mean CC below X in | mean CC below X out |',
              '|---|---|---|---|---|---|---|---|---|']
    for x_res in LOWPASS:
        sel = [r for r in result['lowpass'] if r['lowpass'] == x_res]
        if not sel:
            continue
        lines.append('| %g | %d | %.4f | %.4f | %.4f | %.4f | %.4f | %.3f | %.3f |' % (
            x_res, len(sel), np.mean([r['cc_beyond_output'] for r in sel]),
            max(abs(r['cc_beyond_output']) for r in sel), np.mean([r['cc_beyond_guarded'] for r in sel]),
            np.mean([r['cc_beyond_input'] for r in sel]),
            np.mean([r['chance_3sigma'] for r in sel]), np.mean([r['cc_below_input'] for r in sel]),
            np.mean([r['cc_below_output'] for r in sel])))
    lines += ['', '## 3. Inference time (CPU, %s threads)' % result['threads'], '',
              'network: `inference.enhance` with the model loaded (best of 2), as the worker runs it (maps '
              'whose padded grid is at most %d voxels predicted whole) and with 64³ cubes only; one-shot '
              'worker: the whole subprocess (python start, TensorFlow import, model load, inference, MRC '
              'write); server call: what the runtime waits for on every call after a refinement\'s first '
              '(client start, inference in the running server, MRC write).' % WHOLE_UP_TO_DOC, '',
              '| box | voxel (Å) | network grid | network (s) | network, cubes only (s) | one-shot worker (s) '
              '| call to the running server (s) |', '|---|---|---|---|---|---|---|']
    for r in result['timing']:
        if 'server_call_s' in r:
            lines.append('| %(box)d³ | %(voxel_size)g | %(net_box)d³ | %(network_s).2f | %(network_tiled_s).2f '
                         '| %(worker_s).2f | %(server_call_s).2f |' % r)
        else:   # a result file written before the server and whole-map prediction existed
            lines.append('| %(box)d³ | %(voxel_size)g | %(net_box)d³ | | %(network_s).2f | %(worker_s).2f | |' % r)
    lines += ['', 'Machine load during the run (1-min load average at start/end): %s.' % result['load'], '']
    with open(path, 'w') as f:
        f.write('\n'.join(lines))


def main(argv=None):
    """Command line: run the validation and write its JSON and Markdown."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--model', default=worker.DEFAULT_MODEL)
    p.add_argument('--out', default=os.path.join(HERE, 'results', 'network-validation'))
    p.add_argument('--quick', action='store_true', help='3 structures, no timing (a smoke run)')
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--seed', type=int, default=7)
    a = p.parse_args(argv)
    load0 = os.getloadavg()[0]

    def log(msg):
        print('[%s] %s' % (time.strftime('%H:%M:%S'), msg), flush=True)

    settings = worker.model_settings(a.model)
    predict = worker.load_predictor(a.model, a.threads)

    def enhance(x):   # as the worker does it (maps up to worker.WHOLE_UP_TO predicted whole)
        return inference.enhance(x, VOXEL, predict, settings['net_voxel_size'], cube=int(settings['cube']),
                                 overlap=int(settings['overlap']), multiple=int(settings['multiple']),
                                 whole_up_to=worker.WHOLE_UP_TO)

    rng = np.random.default_rng(a.seed)
    held = split.holdout_structures()
    if a.quick:
        held = held[:3]
    log('held-out structures: %s' % ' '.join(k for k, _ in held))
    den = denoising(held, enhance, rng, log)
    truths = {}
    for sid, path in sorted(split.all_structures().items()):
        if sid in split.EXCLUDED or (a.quick and sid not in dict(held)):
            continue
        truths[sid] = density.potential_map(path, 64, VOXEL)
    noise_rows = pure_noise(enhance, truths, rng, log)
    low = lowpass_test(held, enhance, rng, log)
    tim = [] if a.quick else timing(a.model, predict, settings, rng, log, a.threads)
    meta = {}
    meta_path = os.path.splitext(a.model)[0] + '.json'
    if os.path.exists(meta_path):
        with open(meta_path) as f:
            meta = json.load(f)
    result = dict(model=dict(path=os.path.relpath(a.model, ROOT), net_voxel_size=settings['net_voxel_size'],
                             architecture=meta.get('architecture', {}), training=meta.get('training', {})),
                  quick=a.quick, machine='%d-core CPU' % os.cpu_count(), threads=a.threads, seed=a.seed,
                  structures=[k for k, _ in held], denoising_summary=summarize(den), denoising=den,
                  pure_noise=noise_rows, lowpass=low, timing=tim,
                  load='%.1f / %.1f' % (load0, os.getloadavg()[0]))
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out + '.json', 'w') as f:
        json.dump(result, f, indent=1, default=lambda o: o.item() if hasattr(o, 'item') else str(o))
    write_markdown(a.out + '.md', result)
    log('wrote %s.md and .json' % a.out)
    return 0


if __name__ == '__main__':
    sys.exit(main())
