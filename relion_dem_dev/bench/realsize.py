"""Real-size calls: what one in-loop call and ``relion_dem denoise`` cost at the boxes users
refine (256, 384, 512 voxels near 1 Å per pixel).

    python -m relion_dem_dev.bench.realsize [--boxes 256 384 512] [--voxel 1.05] [--structure 1BD2]

The molecule (a held-out structure, B 50 Å²) is made once in the smallest box and padded to
the others, so the boxes differ in solvent only, as a user's boxes do. Its half-maps carry
white noise of twice the molecule's density sd over the whole box (where their FSC crosses 1/7
is in the table; the network's cost does not depend on it: it reads every cube of the solvent
mask's sphere, or of the box in ``denoise``). Per box:

- **in-loop, both halves at once**: the runtime's regularization of a call (network through its
  persistent server, do-no-harm and FSC guards; ``extrec._enhance``, the part of a call that is
  relion_dem's) for half 1 and half 2 started together, as RELION's two MPI ranks start them.
  RELION's own reconstruction (``relion_external_reconstruct``, the same in vanilla RELION) is
  not included;
- **denoise**: ``relion_dem denoise HALF HALF`` (the average, both guards, the provenance map).

Wall seconds and the node's peak memory above its baseline before the network server started
(MemTotal - MemAvailable, sampled every 0.2 s; the server included), on this machine's cores,
after a warm-up call at the smallest box (a run's server is loaded after its first call). Writes
``benchmarks/results/realsize.{json,md}``.

``--node-memory GB --boxes N`` asks what happens past the largest box a node holds: the
benchmark, its network server and both half calls run in a memory cgroup of GB (a smaller node;
cgroup v1 or v2, as root), and the result says how each call ended (regularized, or RELION's
plain map with the fallback's reason, or killed), whether the server was killed, and the
cgroup's OOM kills. Kept in the results beside the box table (``past_the_node``).
"""
import argparse
import atexit
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

from relion_dem.core.io import mrc, star

from .report import write_json_and_markdown
from .settings import REPO, log

#: one half's regularization as the runtime does it (extrec._enhance_isolated), in a process of its own
IN_LOOP = """
import json, sys, time
from relion_dem.core.io import mrc, layout
from relion_dem.core.maths import fourier
from relion_dem.core.runtime import config, extrec
star, half_map, other_map = sys.argv[1:4]
cfg = config.validate({'enhancer': 'network', 'gate': 'always'}, 'realsize')
plain, voxel = mrc.read(half_map)
other, _ = mrc.read(other_map)
fsc = fourier.fsc(plain, other)
record = {}
import tempfile
work = tempfile.mkdtemp(dir='.')            # each half its own work folder, as the runtime's
t = time.time()
result = extrec._enhance_isolated(cfg, layout.parse_call(star), star, plain, voxel, fsc, work, record)
record.update(seconds=round(time.time() - t, 2), regularized=result is not plain)
print(json.dumps(record))
"""

#: one half's call as the runtime makes it (the regularization in a child the kernel kills first)
#: and ends it when that fails (extrec._process: RELION's map kept); the FSC read from a file, as
#: the runtime reads it from RELION's request (not computed in the call's process)
PAST_NODE = IN_LOOP.replace("""other, _ = mrc.read(other_map)
fsc = fourier.fsc(plain, other)""", """import numpy as np
fsc = np.load(other_map)""").replace("""result = extrec._enhance_isolated(cfg, layout.parse_call(star), star, plain, voxel, fsc, work, record)""",
                            """try:
    result = extrec._enhance_isolated(cfg, layout.parse_call(star), star, plain, voxel, fsc, work, record)
except (extrec.EnhancerFailure, extrec.EnhancerError) as e:
    result, record['fallback'] = plain, str(e)""")


class MemoryPeak:
    """The node's peak used memory (MemTotal - MemAvailable) above its value at the start, GB."""

    def __init__(self, base=None):
        self.base = self.used() if base is None else base
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    @staticmethod
    def used():
        info = {}
        with open('/proc/meminfo') as f:
            for line in f:
                key, value = line.split(':')
                info[key] = float(value.split()[0])
        return (info['MemTotal'] - info['MemAvailable']) / 1024 ** 2

    def _watch(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.used() - self.base)
            time.sleep(0.2)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def molecule(structure, box, voxel):
    """The structure's potential in a ``box``³ grid (B 50 Å²) and the noise sd of its half-maps
    (twice the sd of the molecule's density)."""
    from relion_dem.core.simulation.density import potential_map
    from . import data
    truth = potential_map(data.resolve_structure(structure), box, voxel, bfactor=50.0)
    return truth, 2.0 * float(truth[truth > truth.max() * 0.05].std())


def half_maps(truth, noise_sd, box, seed):
    """Two half-maps of ``truth`` padded to ``box``, white noise over the whole box (as in a
    user's map: the solvent where the network measures the noise holds noise, not zeros)."""
    rng = np.random.default_rng(seed)
    big = padded(truth, box)
    return [big + rng.normal(0.0, noise_sd, big.shape).astype(np.float32) for _ in range(2)]


def padded(a, box):
    before = (box - a.shape[0]) // 2
    return np.pad(a, [(before, box - a.shape[0] - before)] * 3)


def call_inputs(box, truth, noise_sd, voxel, diameter, folder):
    """What a half call reads, written into ``folder``: the optimiser STAR the runtime reads the
    solvent mask from (gate.solvent_mask_radius) and the two half-maps; (their paths, the maps)."""
    os.makedirs(os.path.join(folder, 'Refine'), exist_ok=True)
    star.write(os.path.join(folder, 'Refine', 'run_it000_optimiser.star'),
               [star.Block('optimiser_general', dict(_rlnDoSolventFlattening=1, _rlnParticleDiameter=round(diameter, 1),
                                                     _rlnWidthMaskEdge=5))])
    halves = half_maps(truth, noise_sd, box, seed=box)
    paths = [os.path.join(folder, 'half%d.mrc' % i) for i in (1, 2)]
    for path, h in zip(paths, halves):
        mrc.write(path, h, voxel)
    return paths, halves


def measure(box, truth, noise_sd, voxel, diameter, folder, base, denoise=True):
    """Both in-loop half calls at once, then (``denoise``) denoise; dict of seconds and peak GB
    above ``base``."""
    maps, _ = call_inputs(box, truth, noise_sd, voxel, diameter, folder)
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get('PYTHONPATH', ''))
    out = dict(box=box, voxel_A=voxel)
    with MemoryPeak(base) as mem:
        t = time.time()
        procs = [subprocess.Popen([sys.executable, '-c', IN_LOOP,
                                   'Refine/run_it002_half%d_class001_external_reconstruct.star' % i,
                                   maps[i - 1], maps[2 - i]], cwd=folder, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in (1, 2)]
        results = [p.communicate() for p in procs]
        out['in_loop_s'] = round(time.time() - t, 1)
    out['in_loop_peak_GB'] = round(mem.peak, 2)
    calls = []
    for (stdout, stderr), p in zip(results, procs):
        if p.returncode != 0:
            raise RuntimeError('in-loop call at box %d failed:\n%s' % (box, stderr[-2000:]))
        calls.append(json.loads(stdout.strip().splitlines()[-1]))
    out['in_loop_calls'] = [dict(enhancer_s=c.get('enhancer_s'), seconds=c['seconds'], regularized=c['regularized'],
                                 harm_guard=c.get('harm_guard'), fsc_guard_shell=c.get('fsc_guard_shell'))
                            for c in calls]
    if not denoise:
        return out
    with MemoryPeak(base) as mem:
        t = time.time()
        p = subprocess.run([os.path.join(os.path.dirname(sys.executable), 'relion_dem'), 'denoise', maps[0], maps[1],
                            '--out', os.path.join(folder, 'denoised.mrc'), '--enhancer', 'network', '--force'],
                           cwd=folder, env=env, capture_output=True, text=True)
        out['denoise_s'] = round(time.time() - t, 1)
    out['denoise_peak_GB'] = round(mem.peak, 2)
    if p.returncode != 0:
        raise RuntimeError('denoise at box %d failed:\n%s' % (box, (p.stdout + p.stderr)[-2000:]))
    return out


def node_cgroup(gigabytes):
    """A memory cgroup of ``gigabytes`` below this process's own (v2 if mounted so, else v1),
    this process moved into it (its children follow). Returns a function reading its OOM kill
    count and peak use (GB)."""
    limit = int(gigabytes * 1024 ** 3)
    with open('/proc/self/cgroup') as f:
        lines = [line.strip().split(':', 2) for line in f]
    v1 = [path for _, ctl, path in lines if 'memory' in ctl.split(',')]
    if v1 and os.path.isdir('/sys/fs/cgroup/memory'):
        folder = '/sys/fs/cgroup/memory%s/relion_dem_node_%d' % (v1[0].rstrip('/'), os.getpid())
        names = dict(limit='memory.limit_in_bytes', events='memory.oom_control', peak='memory.max_usage_in_bytes')
    else:
        path = [p for h, _, p in lines if h == '0'][0]
        folder = '/sys/fs/cgroup%s/relion_dem_node_%d' % (path.rstrip('/'), os.getpid())
        names = dict(limit='memory.max', events='memory.events', peak='memory.peak')
    os.makedirs(folder)
    with open(os.path.join(folder, names['limit']), 'w') as f:
        f.write(str(limit))
    with open(os.path.join(folder, 'cgroup.procs'), 'w') as f:
        f.write(str(os.getpid()))

    def release():                  # back to the parent cgroup, and the empty one removed
        with contextlib.suppress(OSError):
            with open(os.path.join(os.path.dirname(folder), 'cgroup.procs'), 'w') as f:
                f.write(str(os.getpid()))
        for _ in range(50):         # once the stopped network server has exited
            try:
                os.rmdir(folder)
                return
            except OSError:
                time.sleep(0.2)
    atexit.register(release)

    def state():
        with open(os.path.join(folder, names['events'])) as f:
            events = dict(line.split() for line in f if line.strip())
        with open(os.path.join(folder, names['peak'])) as f:
            peak = int(f.read().split()[0]) / 1024 ** 3
        return int(events.get('oom_kill', 0)), round(peak, 2)
    return state


def past_the_node(box, gigabytes, truth, noise_sd, voxel, diameter, folder, state):
    """Both half calls at ``box`` inside the cgroup of :func:`node_cgroup`: how each ended."""
    from relion_dem.core.maths import fourier
    maps, halves = call_inputs(box, truth, noise_sd, voxel, diameter, folder)
    fsc_path = os.path.join(folder, 'fsc.npy')
    np.save(fsc_path, fourier.fsc(*halves))
    del halves
    servers = set(service_pids())
    kills_before = state()[0]
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get('PYTHONPATH', ''))
    t = time.time()
    procs = [subprocess.Popen([sys.executable, '-c', PAST_NODE,
                               'Refine/run_it002_half%d_class001_external_reconstruct.star' % i,
                               maps[i - 1], fsc_path], cwd=folder, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in (1, 2)]
    results = [p.communicate() for p in procs]
    calls = []
    for (stdout, stderr), p in zip(results, procs):
        record = json.loads(stdout.strip().splitlines()[-1]) if p.returncode == 0 and stdout.strip() else {}
        calls.append(dict(returncode=p.returncode, regularized=record.get('regularized'),
                          fallback=record.get('fallback'), seconds=record.get('seconds'),
                          error=None if p.returncode == 0 else stderr.strip()[-300:]))
    kills, peak = state()
    return dict(box=box, node_GB=gigabytes, wall_s=round(time.time() - t, 1), calls=calls,
                oom_kills=kills - kills_before, cgroup_peak_GB=peak,
                server_killed=bool(servers) and not servers & set(service_pids()))


def service_pids():
    out = subprocess.run(['pgrep', '-f', 'relion_dem/core/network/service.py'], capture_output=True, text=True)
    return [int(x) for x in out.stdout.split()]


def markdown(res):
    lines = ['# Real-size calls', '',
             '%s at %.2f Å per pixel (B 50 Å², white noise), made in a %d³ box and padded to the others; '
             '%d CPU cores, network on the CPU through its persistent server (`python -m relion_dem_dev.bench.realsize`). '
             '*In-loop*: relion_dem\'s part of one iteration\'s calls, half 1 and half 2 started together (network, '
             'do-no-harm and FSC guards; RELION\'s own reconstruction, the same in vanilla RELION, not included). '
             '*Peak*: the node\'s used memory above its baseline before the network server started (the server '
             'included), after a warm-up call. %s'
             % (res['structure'], res['voxel_A'], res['made_in_box'], res['cpus'], res['date']), '',
             '| box | FSC 1/7 (Å) | in-loop, both halves (s) | network per half (s) | do-no-harm: shells replaced / '
             'scaled per half | in-loop peak (GB) | denoise (s) | denoise peak (GB) |',
             '|---|---|---|---|---|---|---|---|']
    for r in res['boxes']:
        shell = r['in_loop_calls'][0].get('fsc_guard_shell')
        harm = [c.get('harm_guard') or {} for c in r['in_loop_calls']]
        lines.append('| %d | %s | %.1f | %s | %s | %.2f | %s | %s |' % (
            r['box'], '%.1f' % (r['box'] * res['voxel_A'] / shell) if shell else '-', r['in_loop_s'],
            ' / '.join('%.1f' % (c['enhancer_s'] or 0) for c in r['in_loop_calls']),
            ', '.join('%d / %d of %d' % (len(h.get('shells_replaced', [])), h.get('shells_scaled', 0),
                                          h.get('shells_checked', 0)) for h in harm), r['in_loop_peak_GB'],
            '%.1f' % r['denoise_s'] if 'denoise_s' in r else 'not run',
            '%.2f' % r['denoise_peak_GB'] if 'denoise_peak_GB' in r else '-'))
    for r in res.get('failed', []):
        lines.append('| %d | failed: %s | | | | | | |' % (r['box'], r['error'].splitlines()[0][:200]))
    if res.get('past_the_node'):
        lines += ['', '## Past the node\'s memory', '',
                  'Both half calls at a box whose in-loop peak (above) exceeds the node: the benchmark, the network '
                  'server and the calls in a memory cgroup of that size (`--node-memory`), as on a smaller node. '
                  'Each call is what the runtime hands RELION: the regularized map, or RELION\'s plain map with '
                  'the fallback\'s reason, or nothing if the call itself was killed.', '',
                  '| box | node (GB) | cgroup peak (GB) | OOM kills | network server killed | half 1 | half 2 | wall (s) |',
                  '|---|---|---|---|---|---|---|---|']
        for r in res['past_the_node']:
            ends = ['killed (exit %d)' % c['returncode'] if c['returncode'] != 0 else
                    'regularized' if c['regularized'] else 'plain map: %s' % (c['fallback'] or '?')[:120]
                    for c in r['calls']]
            lines.append('| %d | %g | %.2f | %d | %s | %s | %s | %.1f |' % (
                r['box'], r['node_GB'], r['cgroup_peak_GB'], r['oom_kills'], 'yes' if r['server_killed'] else 'no',
                ends[0], ends[1], r['wall_s']))
    return '\n'.join(lines) + '\n'


def write(res, out):
    write_json_and_markdown(os.path.join(out, 'realsize'), res, markdown(res))


def main(argv=None):
    p = argparse.ArgumentParser(prog='python -m relion_dem_dev.bench.realsize', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--boxes', type=int, nargs='+', default=[256, 384, 512])
    p.add_argument('--voxel', type=float, default=1.05)
    p.add_argument('--structure', default='1BD2')
    p.add_argument('--out', default=os.path.join(REPO, 'benchmarks', 'results'))
    p.add_argument('--append', action='store_true', help='keep the other boxes of the results file')
    p.add_argument('--no-denoise', action='store_true', help='time only the in-loop calls')
    p.add_argument('--node-memory', type=float, metavar='GB',
                   help='instead of timing: run the calls at --boxes in a memory cgroup of GB (past the node)')
    a = p.parse_args(argv)
    from relion_dem.core.simulation.density import model_extent, read_model
    from . import data
    kept = dict(boxes=[], made_in_box=min(a.boxes))
    if (a.append or a.node_memory) and os.path.exists(os.path.join(a.out, 'realsize.json')):
        with open(os.path.join(a.out, 'realsize.json')) as f:
            kept = json.load(f)
    made = kept['made_in_box']       # the same molecule in every box, also when appending
    truth, noise_sd = molecule(a.structure, made, a.voxel)
    diameter = float(model_extent(read_model(data.resolve_structure(a.structure)))) + 20.0
    res = dict(structure=a.structure, voxel_A=a.voxel, made_in_box=made, particle_diameter_A=round(diameter, 1),
               cpus=os.cpu_count(), date=time.strftime('%Y-%m-%d %H:%M'), failed=[],
               boxes=[r for r in kept['boxes'] if r['box'] not in a.boxes] if not a.node_memory else kept['boxes'],
               past_the_node=[r for r in kept.get('past_the_node', [])
                              if not a.node_memory or (r['box'], r['node_GB']) not in
                              {(b, a.node_memory) for b in a.boxes}])
    running = service_pids()
    if running:
        raise SystemExit('realsize: a network server is running (pid %s); stop it first: its memory would be '
                         'counted in the baseline, not in the calls' % running[0])
    if a.node_memory:
        res['failed'], res['date'] = kept.get('failed', []), kept.get('date', res['date'])
        state = node_cgroup(a.node_memory)
        with tempfile.TemporaryDirectory(prefix='realsize_warmup_') as folder:
            log('warm-up at box %d in a %g GB cgroup' % (made, a.node_memory))
            measure(made, truth, noise_sd, a.voxel, diameter, folder, 0.0, denoise=False)
        for box in sorted(a.boxes):
            log('box %d in %g GB' % (box, a.node_memory))
            with tempfile.TemporaryDirectory(prefix='realsize_node_%d_' % box) as folder:
                os.makedirs(os.path.join(folder, 'Refine'))
                res['past_the_node'].append(past_the_node(box, a.node_memory, truth, noise_sd, a.voxel, diameter,
                                                          folder, state))
                log(json.dumps(res['past_the_node'][-1]))
        subprocess.run(['pkill', '-f', 'relion_dem/core/network/service.py'])
        write(res, a.out)
        return 0
    base = MemoryPeak.used()          # before the network server starts: its memory counts
    with tempfile.TemporaryDirectory(prefix='realsize_warmup_') as folder:
        log('warm-up at box %d (starts the network server, as a run\'s first call does)' % made)
        measure(made, truth, noise_sd, a.voxel, diameter, folder, base, denoise=False)
    earlier = {r['box']: r for r in kept['boxes']}
    for box in sorted(a.boxes):
        log('box %d' % box)
        with tempfile.TemporaryDirectory(prefix='realsize_%d_' % box) as folder:
            try:
                res['boxes'].append(measure(box, truth, noise_sd, a.voxel, diameter, folder, base,
                                            not a.no_denoise))
                if a.no_denoise and 'denoise_s' in earlier.get(box, {}):     # kept from the earlier run
                    res['boxes'][-1].update({k: earlier[box][k] for k in ('denoise_s', 'denoise_peak_GB')})
                log(json.dumps(res['boxes'][-1]))
            except RuntimeError as e:
                res['failed'].append(dict(box=box, error=str(e)))
                log('box %d failed: %s' % (box, e))
        res['boxes'].sort(key=lambda r: r['box'])
        write(res, a.out)
    return 0 if not res['failed'] else 1


if __name__ == '__main__':
    sys.exit(main())
