"""Train the bundled denoising network on simulated half-maps (runs in the network environment).

    ~/.relion_dem/netenv/bin/python -m relion_dem_dev.training.train --out DIR [--steps 3000]

Seeded and reproducible: the truth bank (rotated potentials of the training structures,
:func:`relion_dem_dev.training.split.training_structures`; never a held-out one), every
simulated pair, the weight initialization and the order of batches all derive from
``--seed``. Sized for 2 CPU cores. Writes ``DIR/NAME.keras`` (the model), ``DIR/NAME.json``
(settings read by the worker, hyper-parameters, split, validation figures) and
``DIR/NAME_log.json`` (loss and validation curves).

The truth bank needs gemmi (installed in the environment by ``relion_dem install-network``);
it is cached in ``--cache`` (default ``~/.relion_dem/cache``).
"""
import argparse
import hashlib
import json
import os
import sys
import time

if __package__ in (None, ''):
    sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..')))

import numpy as np  # noqa: E402

from relion_dem.core.maths import fourier  # noqa: E402
from relion_dem.core.analysis import fsc as fsc_mod  # noqa: E402
from relion_dem_dev.training import simdata, split  # noqa: E402

DEFAULTS = dict(steps=2000, batch=4, patch=48, base=12, depth=3, lr=1e-3, lr_final=2e-5,
                seed=1, rotations=4, truth_box=120, net_voxel_size=1.0, net_voxel_max=1.5, pool=24, refresh=2,
                val_every=600, threads=2, cube=64, overlap=16, name='relion_dem_unet',
                band_weight=0.0, p_lowpass=0.25, b_gradient=80.0)
#: validation conditions: (resolution Å at FSC 0.143, B-factor Å²), on the finest grid
VAL_CONDITIONS = ((3.0, 30.0), (4.0, 50.0), (7.0, 100.0), (10.0, 100.0))
VAL_MAX_DIAMETER = 100.0  # Å: held-out structures small enough for the training-time box


def log(msg, stream=sys.stdout):
    """Write ``msg`` with the time of day to ``stream``."""
    stream.write('[%s] %s\n' % (time.strftime('%H:%M:%S'), msg))
    stream.flush()


def _cache_file(cache, kind, items, a):
    key = json.dumps([kind, items, a.rotations, a.truth_box, a.net_voxel_size, a.seed, a.b_gradient], sort_keys=True)
    return os.path.join(cache, '%s_%s.npz' % (kind, hashlib.sha1(key.encode()).hexdigest()[:12]))


def build_bank(structures, a, cache, rng_seed, kind='bank'):
    """(n, box, box, box) float32 truths on the finest grid: ``a.rotations`` random rotations of each
    structure, each with a random core-to-periphery B-factor gradient (0 to ``a.b_gradient`` Å²)."""
    ids = [k for k, _ in structures]
    path = _cache_file(cache, kind, ids, a) if cache else None
    if path and os.path.exists(path):
        with np.load(path) as f:
            log('truth bank %s: %d maps (cached %s)' % (kind, len(f['maps']), path))
            return f['maps'], list(f['names'])
    rng = np.random.default_rng(rng_seed)
    maps, names = [], []
    t = time.time()
    for sid, p in structures:
        from relion_dem.core.simulation import density
        st = density.read_model(p)
        for r in range(a.rotations):
            rot = simdata.random_rotation(rng) if r else None
            grad = float(rng.uniform(0.0, a.b_gradient)) if kind == 'bank' else 0.0
            maps.append(simdata.rotated_truth(st, a.truth_box, a.net_voxel_size, rot, b_gradient=grad))
            names.append('%s_r%d' % (sid, r))
    maps = np.stack(maps).astype(np.float32)
    log('truth bank %s: %d maps of %d^3 in %.0f s' % (kind, len(maps), a.truth_box, time.time() - t))
    if path:
        os.makedirs(cache, exist_ok=True)
        np.savez(path, maps=maps, names=np.array(names))
    return maps, names


def validation_set(cache, a):
    """Fixed held-out pairs: (input, target, truth, name, resolution) for VAL_CONDITIONS."""
    from relion_dem.core.simulation import density
    chosen = []
    for sid, p in split.holdout_structures(a.structures):
        if 2 * density.model_extent(density.read_model(p)) <= VAL_MAX_DIAMETER:
            chosen.append((sid, p))
    if a.val_structures:
        chosen = chosen[:a.val_structures]
    saved = a.rotations
    a.rotations = 1
    truths, names = build_bank(chosen, a, cache, a.seed + 1000, kind='holdout')
    a.rotations = saved
    rng = np.random.default_rng(a.seed + 2000)
    out = []
    for truth, name in zip(truths, names):
        for res, b in VAL_CONDITIONS:
            params = simdata.fixed_params(a.net_voxel_size, res, b)
            x, t, p = simdata.simulate_pair(truth, a.net_voxel_size, rng, params)
            out.append((x, t, truth, name, res))
    return out


def fsc05(a, b, voxel):
    """Resolution (Å) where the FSC of ``a`` and ``b`` falls below 0.5."""
    return fsc_mod.resolution(fsc_mod.fsc(a, b), voxel, 0.5)


def evaluate(model, val, a):
    """Mean relative MSE and resolution at FSC 0.5 vs truth (input and output) per condition."""
    rows = []
    for x, t, truth, name, res in val:
        y = model.predict_on_batch(x[None, ..., None])[0, ..., 0]
        rows.append(dict(name=name, resolution=res,
                         rel_mse=float(np.mean((y - t) ** 2) / (np.mean(t ** 2) + 0.01)),
                         rel_mse_input=float(np.mean((x - t) ** 2) / (np.mean(t ** 2) + 0.01)),
                         fsc05_input=fsc05(x, truth, a.net_voxel_size),
                         fsc05_output=fsc05(y, truth, a.net_voxel_size)))
    summary = {}
    for res, _ in VAL_CONDITIONS:
        sel = [r for r in rows if r['resolution'] == res]
        summary['%g' % res] = {k: round(float(np.mean([r[k] for r in sel])), 4)
                               for k in ('rel_mse', 'rel_mse_input', 'fsc05_input', 'fsc05_output')}
    summary['rel_mse'] = round(float(np.mean([r['rel_mse'] for r in rows])), 4)
    return summary, rows


class PairPool:
    """A pool of simulated full boxes; each step refreshes a few and cuts a batch of patches.

    Each box is on a voxel size drawn between ``net_voxel_size`` and ``net_voxel_max`` (the
    truth Fourier-resampled from the finest grid): the network learns the range of grids
    :func:`relion_dem.core.network.inference.network_voxel` hands it."""

    def __init__(self, bank, a, rng):
        self.bank, self.a, self.rng = bank, a, rng
        self.items = [self._new() for _ in range(a.pool)]

    def _new(self):
        a, rng = self.a, self.rng
        truth = self.bank[rng.integers(len(self.bank))]
        full, voxel = a.truth_box, a.net_voxel_size
        if a.net_voxel_max > a.net_voxel_size:
            full = max(a.patch, int(round(a.truth_box * a.net_voxel_size / rng.uniform(a.net_voxel_size,
                                                                                     a.net_voxel_max) / 2)) * 2)
            voxel = a.truth_box * a.net_voxel_size / full
            truth = fourier.pad_or_resample(truth, full)
        box = int(rng.integers(a.patch // 2, full // 2 + 1)) * 2
        lo = full // 2 - box // 2
        truth = np.ascontiguousarray(truth[lo:lo + box, lo:lo + box, lo:lo + box])
        x, t, p = simdata.simulate_pair(truth, voxel, rng, options=dict(p_lowpass=a.p_lowpass))
        # the band edge in cycles per voxel (pure noise: no band at all)
        s_eff = 0.0 if p['pure_noise'] else voxel / p['effective_resolution']
        return x, t, s_eff

    def batch(self):
        """A batch (inputs, targets) of random patches turned by multiples of 90°, after renewing ``refresh`` pairs."""
        a, rng = self.a, self.rng
        for _ in range(a.refresh):
            self.items[rng.integers(len(self.items))] = self._new()
        xs, ts = [], []
        for _ in range(a.batch):
            x, t, s_eff = self.items[rng.integers(len(self.items))]
            n = x.shape[0]
            i, j, k = rng.integers(0, n - a.patch + 1, 3)
            sl = (slice(i, i + a.patch), slice(j, j + a.patch), slice(k, k + a.patch))
            xp, tp = x[sl], t[sl]
            axes = [(0, 1), (0, 2), (1, 2)][rng.integers(3)]  # proper rotations only (chirality kept)
            q = int(rng.integers(4))
            xs.append(np.rot90(xp, q, axes))
            tp = np.rot90(tp, q, axes)
            if a.band_weight:  # second channel: the band edge (1/Å) of this target, for the loss
                tp = np.stack([tp, np.full(tp.shape, s_eff, np.float32)], -1)
            ts.append(tp)
        ts = np.stack(ts)
        return np.stack(xs)[..., None], (ts if a.band_weight else ts[..., None])


def relative_mse(y_true, y_pred):
    """Keras loss: mean squared error relative to the target's mean square (+0.01), per sample."""
    import keras.ops as ops
    err = ops.mean(ops.square(y_pred - y_true), axis=(1, 2, 3, 4))
    den = ops.mean(ops.square(y_true), axis=(1, 2, 3, 4)) + 0.01
    return ops.mean(err / den)


def make_loss(a):
    """relative MSE, plus (``a.band_weight`` > 0) the error beyond each target's band edge, weighted:
    the network is pushed to put nothing where the data hold nothing (no extrapolation)."""
    if not a.band_weight:
        return relative_mse
    import tensorflow as tf
    p = a.patch
    f1 = np.fft.fftfreq(p)
    # cycles per voxel, as the pool's band edges; full grid: FFT3D has a gradient, RFFT3D not
    s = np.sqrt(f1[:, None, None] ** 2 + f1[None, :, None] ** 2 + f1[None, None, :] ** 2).astype(np.float32)
    h = np.hanning(p + 2)[1:-1].astype(np.float32)
    win = h[:, None, None] * h[None, :, None] * h[None, None, :]
    scale = 1.0 / float(np.mean(win ** 2)) / float(p) ** 6  # Parseval: sum|F|^2 = N sum d^2; mean over N
    s_t, win_t = tf.constant(s), tf.constant(win)

    def loss(y_true, y_pred):
        t = y_true[..., :1]
        s_eff = y_true[:, 0, 0, 0, 1]
        d = y_pred - t
        err = tf.reduce_mean(tf.square(d), axis=(1, 2, 3, 4))
        den = tf.reduce_mean(tf.square(t), axis=(1, 2, 3, 4)) + 0.01
        f = tf.signal.fft3d(tf.cast(d[..., 0] * win_t, tf.complex64))
        beyond = tf.cast(s_t[None] > s_eff[:, None, None, None], tf.float32)
        band = tf.reduce_sum(tf.square(tf.abs(f)) * beyond, axis=(1, 2, 3)) * scale
        return tf.reduce_mean((err + a.band_weight * band) / den)
    return loss


def save_inference_model(model, a, path):
    """Save the weights in a fresh, uncompiled model (no optimizer state: a third of the size)."""
    from relion_dem.core.network.model import build_unet
    clean = build_unet(a.base, a.depth)
    clean.set_weights(model.get_weights())
    clean.save(path)


def build_parser():
    """The argument parser of the training command."""
    p = argparse.ArgumentParser(prog='relion_dem_dev.training.train', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--out', required=True, help='output folder for the model')
    p.add_argument('--structures', default=None, help='folder of atomic models (default: shared/data/structures)')
    p.add_argument('--cache', default=os.path.expanduser('~/.relion_dem/cache'), help='truth bank cache ("" off)')
    p.add_argument('--max-structures', type=int, default=0, help='train on the first N structures only (tests)')
    p.add_argument('--val-structures', type=int, default=0, help='validate on the first N held-out ones only')
    p.add_argument('--deterministic', action='store_true', help='TensorFlow deterministic ops (slower)')
    for k, v in DEFAULTS.items():
        p.add_argument('--' + k.replace('_', '-'), type=type(v), default=v, help='default: %(default)s')
    return p


def main(argv=None):
    """Train the network with the command line's settings and save it under ``--out``."""
    a = build_parser().parse_args(argv)
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    import tensorflow as tf
    import keras
    from relion_dem.core.network.model import build_unet
    tf.config.threading.set_intra_op_parallelism_threads(a.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    keras.utils.set_random_seed(a.seed)
    if a.deterministic:
        tf.config.experimental.enable_op_determinism()
    os.makedirs(a.out, exist_ok=True)
    t0 = time.time()
    structures = split.training_structures(a.structures)
    assert not set(k for k, _ in structures) & set(split.HOLDOUT), 'held-out structure in training set'
    if a.max_structures:
        structures = structures[:a.max_structures]
    log('training on %d structures: %s' % (len(structures), ' '.join(k for k, _ in structures)))
    bank, _ = build_bank(structures, a, a.cache, a.seed)
    val = validation_set(a.cache, a)
    log('validation: %d held-out pairs' % len(val))

    model = build_unet(a.base, a.depth, seed=a.seed)
    schedule = keras.optimizers.schedules.CosineDecay(a.lr, a.steps, alpha=a.lr_final / a.lr)
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss=make_loss(a))
    log('model: %d parameters' % model.count_params())
    pool = PairPool(bank, a, np.random.default_rng(a.seed + 1))
    curve, vals, losses = [], [], []
    t_train = time.time()
    for step in range(1, a.steps + 1):
        xb, tb = pool.batch()
        loss = model.train_on_batch(xb, tb)
        losses.append(float(np.asarray(loss).ravel()[0]))
        if step % 50 == 0 or step == a.steps:
            m = float(np.mean(losses[-50:]))
            curve.append((step, round(m, 5)))
            log('step %d/%d loss %.4f (%.2f s/step)' % (step, a.steps, m, (time.time() - t_train) / step))
        if step % a.val_every == 0 or step == a.steps:
            summary, _ = evaluate(model, val, a)
            vals.append(dict(step=step, **summary))
            log('validation at %d: %s' % (step, json.dumps(summary)))
            save_inference_model(model, a, os.path.join(a.out, a.name + '_checkpoint.keras'))
    train_s = time.time() - t_train
    summary, rows = evaluate(model, val, a)
    path = os.path.join(a.out, a.name + '.keras')
    save_inference_model(model, a, path)
    checkpoint = os.path.join(a.out, a.name + '_checkpoint.keras')
    if os.path.exists(checkpoint):
        os.remove(checkpoint)
    grid = [a.net_voxel_size, a.net_voxel_max] if a.net_voxel_max > a.net_voxel_size else a.net_voxel_size
    meta = dict(name=a.name, format='keras', net_voxel_size=grid, cube=a.cube, overlap=a.overlap,
                multiple=2 ** a.depth, normalization='(x - noise_mean) / (10 * noise_std), clip 200',
                architecture=dict(kind='3D U-Net', base=a.base, depth=a.depth, params=int(model.count_params())),
                training={k: getattr(a, k) for k in DEFAULTS}, loss='relative MSE (per patch, floor 0.01)' + (
                    ' + %g x windowed error beyond the target band' % a.band_weight if a.band_weight else ''),
                structures=[k for k, _ in structures], holdout=list(split.HOLDOUT), excluded=list(split.EXCLUDED),
                simulation=simdata.SIM_DEFAULTS, validation=summary, validation_conditions=VAL_CONDITIONS,
                seconds=dict(total=round(time.time() - t0, 1), training=round(train_s, 1)),
                versions=dict(tensorflow=tf.__version__, keras=keras.__version__, numpy=np.__version__))
    with open(os.path.join(a.out, a.name + '.json'), 'w') as f:
        json.dump(meta, f, indent=1)
    with open(os.path.join(a.out, a.name + '_log.json'), 'w') as f:
        json.dump(dict(loss=curve, validation=vals, rows=rows), f, indent=1)
    log('saved %s (%.1f MB); validation %s' % (path, os.path.getsize(path) / 1e6, json.dumps(summary)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
