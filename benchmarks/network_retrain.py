"""Does the training command reproduce the shipped network? Retrain from scratch and compare.

    python benchmarks/network_retrain.py [--work DIR] [--reuse] [-- TRAIN OPTIONS]

Runs ``python -m relion_dem_dev.training.train`` in the network environment with the
settings recorded in the shipped model's JSON (seed, steps, ... : the full schedule unless
TRAIN OPTIONS say otherwise), then compares the retrained model's validation figures (the
training command's own: held-out structures, three half-map conditions) with the shipped
model's. Writes ``benchmarks/results/network-retrain.{json,md}``.

Tolerance ("within noise"): per condition, the FSC-0.5 resolution vs truth within
max(0.3 Å, 5 %) and the relative MSE within 25 % of the shipped figure; 0.3 Å is the
step-to-step scatter of one run's validation figures near the end of training (model card).
"""
import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from relion_dem.core.network import install  # noqa: E402
from relion_dem.core.network.worker import DEFAULT_MODEL  # noqa: E402

RESULTS = os.path.join(ROOT, 'benchmarks', 'results')
RES_TOL_A, RES_TOL_REL, MSE_TOL_REL = 0.3, 0.05, 0.25


def shipped_meta():
    with open(os.path.splitext(DEFAULT_MODEL)[0] + '.json') as f:
        return json.load(f)


def train_argv(meta, out, extra):
    """The training command with the shipped run's hyper-parameters (extra options override)."""
    argv = [install.default_python(), '-m', 'relion_dem_dev.training.train', '--out', out]
    for k, v in meta['training'].items():
        argv += ['--' + k.replace('_', '-'), str(v)]
    return argv + list(extra)


WEIGHTS_DIFF = """
import sys, numpy as np, keras
a, b = (keras.saving.load_model(p, compile=False).get_weights() for p in sys.argv[1:3])
same_shapes = len(a) == len(b) and all(x.shape == y.shape for x, y in zip(a, b))
diff = max(float(np.abs(x - y).max()) for x, y in zip(a, b)) if same_shapes else float('nan')
scale = max(float(np.abs(x).max()) for x in a)
print(diff / scale, sum(x.size for x in a))
"""


def weights_difference(shipped, retrained):
    """(largest |weight difference| / largest |weight|, number of weights), in the network environment."""
    r = subprocess.run([install.default_python(), '-c', WEIGHTS_DIFF, shipped, retrained], capture_output=True,
                       text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3'))
    if r.returncode:
        return None, None
    rel, n = r.stdout.split()[-2:]
    return float(rel), int(n)


def compare(shipped, retrained):
    rows, ok = [], True
    for cond in sorted((k for k in shipped if isinstance(shipped[k], dict)), key=float):
        s, r = shipped[cond], retrained[cond]
        d_res = r['fsc05_output'] - s['fsc05_output']
        tol = max(RES_TOL_A, RES_TOL_REL * s['fsc05_output'])
        d_mse = (r['rel_mse'] - s['rel_mse']) / s['rel_mse']
        within = abs(d_res) <= tol and abs(d_mse) <= MSE_TOL_REL
        ok &= within
        rows.append(dict(condition_A=float(cond), fsc05_input=s['fsc05_input'], shipped_fsc05=s['fsc05_output'],
                         retrained_fsc05=r['fsc05_output'], delta_A=round(d_res, 3), tolerance_A=round(tol, 3),
                         shipped_rel_mse=s['rel_mse'], retrained_rel_mse=r['rel_mse'],
                         rel_mse_change=round(d_mse, 3), within_noise=bool(within)))
    return rows, bool(ok)


def write(result):
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, 'network-retrain.json'), 'w') as f:
        json.dump(result, f, indent=1)
    lines = ['# Retraining the bundled network from scratch (written by benchmarks/network_retrain.py)', '',
             'Command: `%s`' % ' '.join(result['command'][1:]), '',
             'Run here: %s; training %.0f s (%d steps) on this machine; TensorFlow %s.'
             % (result['date'], result['training_s'], result['steps'], result['tensorflow']), '',
             'Validation = the training command\'s own: held-out structures (never trained on), simulated '
             'half-maps at three conditions; FSC-0.5 resolution vs truth of the output (Å) and relative MSE.', '',
             '| half-map R (Å) | input FSC0.5 | shipped | retrained | Δ (Å) | tolerance | rel. MSE shipped → retrained | within noise |',
             '|---|---|---|---|---|---|---|---|']
    for r in result['rows']:
        lines.append('| %g | %.2f | %.2f | %.2f | %+.2f | ±%.2f | %.4f → %.4f (%+.0f %%) | %s |'
                     % (r['condition_A'], r['fsc05_input'], r['shipped_fsc05'], r['retrained_fsc05'], r['delta_A'],
                        r['tolerance_A'], r['shipped_rel_mse'], r['retrained_rel_mse'], 100 * r['rel_mse_change'],
                        'yes' if r['within_noise'] else '**no**'))
    if result.get('weights_max_rel_difference') is not None:
        lines += ['', 'Weights: largest |retrained − shipped| over the %d weights = %.2g of the largest '
                  'weight.' % (result['n_weights'], result['weights_max_rel_difference'])]
    lines += ['', '**Reproduced within noise: %s.**' % ('yes' if result['reproduced'] else 'no'), '',
              'Tolerance: |Δ| ≤ max(%.1f Å, %d %%) per condition (the step-to-step scatter of one run\'s '
              'validation near the end of training, model card) and relative MSE within %d %%.'
              % (RES_TOL_A, 100 * RES_TOL_REL, 100 * MSE_TOL_REL), '']
    with open(os.path.join(RESULTS, 'network-retrain.md'), 'w') as f:
        f.write('\n'.join(lines))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--work', default=os.path.join(ROOT, 'benchmarks', 'work', 'retrain'))
    p.add_argument('--reuse', action='store_true', help='compare an earlier retrain found in --work')
    p.add_argument('train_options', nargs=argparse.REMAINDER, help='-- then options for the training command')
    a = p.parse_args(argv)
    extra = a.train_options[1:] if a.train_options[:1] == ['--'] else a.train_options
    why = install.env_status()
    if why:
        sys.exit('network environment unusable: %s (run `relion_dem install-network`)' % why)
    meta = shipped_meta()
    argv_train = train_argv(meta, a.work, extra)
    out_json = os.path.join(a.work, meta['name'] + '.json')
    if not (a.reuse and os.path.exists(out_json)):
        os.makedirs(a.work, exist_ok=True)
        with open(os.path.join(a.work, 'train.log'), 'w') as log:
            rc = subprocess.run(argv_train, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT).returncode
        if rc:
            sys.exit('training failed (status %d): see %s' % (rc, log.name))
    with open(out_json) as f:
        new = json.load(f)
    rows, ok = compare(meta['validation'], new['validation'])
    rel, n_weights = weights_difference(DEFAULT_MODEL, os.path.join(a.work, meta['name'] + '.keras'))
    result = dict(weights_max_rel_difference=rel, n_weights=n_weights, date=time.strftime('%Y-%m-%d'), command=argv_train, steps=new['training']['steps'],
                  training_s=new['seconds']['training'], tensorflow=new['versions']['tensorflow'],
                  shipped_validation=meta['validation'], retrained_validation=new['validation'],
                  rows=rows, reproduced=ok)
    write(result)
    print(open(os.path.join(RESULTS, 'network-retrain.md')).read())
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
