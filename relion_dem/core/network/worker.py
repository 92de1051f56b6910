"""The network worker: denoise one map with a Keras model. Runs *inside the network environment*.

    python .../relion_dem/core/network/worker.py --input IN.mrc --output OUT.mrc \
        [--voxel-size Å] [--model MODEL.keras] [--batch-size 4] [--threads 2]

or ``python -m relion_dem.core.network.worker ...``. Imports only numpy, scipy, mrcfile,
tensorflow/keras and relion_dem's numpy-only modules (found next to this file), never Scipion.

A model's settings (network voxel size, cube, overlap) are read from the JSON file
beside it (``MODEL.json``), else from the command line.
"""
import argparse
import json
import os
import sys
import time

if __package__ in (None, ''):  # run by file path: make the relion_dem package importable
    sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..')))

from relion_dem.core.io import mrc  # noqa: E402
from relion_dem.core.network import SHIPPED_MODEL  # noqa: E402
from relion_dem.core.network import inference  # noqa: E402

DEFAULT_MODEL = SHIPPED_MODEL
#: used when a model has no JSON beside it and the command line says nothing
FALLBACK_SETTINGS = dict(net_voxel_size=1.0, cube=64, overlap=16, multiple=8)
#: maps up to this padded box (voxels) are predicted whole (192: about 3 GB of memory on CPU)
WHOLE_UP_TO = 192


def model_settings(model_path, overrides=None):
    """Settings of a model: FALLBACK_SETTINGS < ``MODEL.json`` < ``overrides`` (non-None values)."""
    settings = dict(FALLBACK_SETTINGS)
    meta = os.path.splitext(model_path)[0] + '.json'
    if os.path.exists(meta):
        with open(meta) as f:
            data = json.load(f)
        settings.update({k: data[k] for k in FALLBACK_SETTINGS if k in data})
    for k, v in (overrides or {}).items():
        if v is not None:
            settings[k] = v
    return settings


def load_predictor(model_path, threads=None):
    """A ``predict(batch) -> batch`` of the Keras model (TensorFlow imported here only)."""
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    import tensorflow as tf
    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(int(threads))
        tf.config.threading.set_inter_op_parallelism_threads(1)
    import keras
    model = keras.saving.load_model(model_path, compile=False)

    def predict(batch):
        return model.predict_on_batch(batch.astype('float32'))
    return predict


def build_parser():
    p = argparse.ArgumentParser(prog='relion_dem network worker', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--input', required=True, help='input map (MRC)')
    p.add_argument('--output', required=True, help='output map (MRC), written atomically')
    p.add_argument('--voxel-size', type=float, help='voxel size of the input in Å (default: its header)')
    p.add_argument('--model', default=DEFAULT_MODEL, help='Keras model file (default: the shipped one)')
    p.add_argument('--net-voxel-size', type=float, help='voxel size the network was trained at (Å)')
    p.add_argument('--cube', type=int, help='cube edge fed to the network (voxels)')
    p.add_argument('--overlap', type=int, help='overlap of neighbouring cubes (voxels)')
    p.add_argument('--whole-up-to', type=int, default=WHOLE_UP_TO,
                   help='predict the map whole, without cubes, when its padded box at the network\'s voxel '
                        'size is at most this many voxels (default %(default)s; 0: always cubes)')
    p.add_argument('--support-radius', type=float,
                   help='denoise only inside this centred sphere (Å; RELION\'s solvent mask), solvent beyond')
    p.add_argument('--input-lowpass', type=float, metavar='A',
                   help="the data's resolution (Å, FSC 1/7): the network sees the input tapered to 0 beyond it "
                        '(to %g times its frequency); the runtime passes it' % inference.INPUT_TAPER)
    p.add_argument('--batch-size', type=int, default=4, help='cubes per network call')
    p.add_argument('--threads', type=int, default=0, help='TensorFlow CPU threads (0: its default)')
    p.add_argument('--noise-stats', type=float, nargs=2, metavar=('MEAN', 'STD'),
                   help='noise statistics of the input (default: measured outside a centred sphere)')
    p.add_argument('--band-limit', action='store_true',
                   help='low-pass the output where it stops correlating with the input (3 sigma)')
    p.add_argument('--no-keep-beyond-nyquist', action='store_true',
                   help='do not keep the input\'s shells beyond the network grid\'s Nyquist')
    return p


class WorkerError(RuntimeError):
    """Bad input or model: the message names the file and the problem."""


def denoise(a, predict=None):
    """Denoise ``a.input`` into ``a.output`` (``a``: parsed worker arguments) and return the
    one-line report. ``predict``: an already loaded model (the persistent server), else loaded here."""
    t0 = time.time()
    if not os.path.exists(a.model):
        raise WorkerError('model %s does not exist' % a.model)
    try:
        data, header_voxel = mrc.read(a.input, cubic=True)
    except mrc.MapError as e:
        raise WorkerError(str(e))
    voxel = a.voxel_size or header_voxel
    if not voxel or voxel <= 0:
        raise WorkerError('%s has no voxel size; pass --voxel-size' % a.input)
    st = model_settings(a.model, dict(net_voxel_size=a.net_voxel_size, cube=a.cube, overlap=a.overlap))
    loaded = predict is not None
    predict = predict or load_predictor(a.model, a.threads)
    t1 = time.time()
    out = inference.enhance(data, voxel, predict, st['net_voxel_size'], cube=int(st['cube']),
                            overlap=int(st['overlap']), batch_size=a.batch_size,
                            stats=tuple(a.noise_stats) if a.noise_stats else None,
                            keep_beyond_nyquist=not a.no_keep_beyond_nyquist,
                            multiple=int(st['multiple']), limit_band=a.band_limit,
                            whole_up_to=max(0, a.whole_up_to), support_radius_A=a.support_radius,
                            input_lowpass_A=a.input_lowpass)
    mrc.write(a.output, out, voxel)
    return ('%s (%d^3, %.3g A) -> %s with %s; %s, inference %.1f s'
            % (a.input, data.shape[0], voxel, a.output, os.path.basename(a.model),
               'model already loaded' if loaded else 'load %.1f s' % (t1 - t0), time.time() - t1))


def oom_first():
    """Make this process the kernel's first choice when the node runs out of memory
    (``oom_score_adj`` 1000; raising one's own score needs no privilege). A network call that
    outgrows the node then ends as this call's failure, and the runtime keeps RELION's plain map,
    rather than the kernel killing a RELION rank (the largest process otherwise). Where /proc has
    no such file, nothing changes."""
    try:
        with open('/proc/self/oom_score_adj', 'w') as f:
            f.write('1000')
    except OSError:
        pass


def main(argv=None):
    a = build_parser().parse_args(argv)
    oom_first()
    try:
        print('network worker: %s' % denoise(a))
    except WorkerError as e:
        sys.stderr.write('network worker: %s\n' % e)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
