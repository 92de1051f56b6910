"""The development set: the network and the runtime's guards on the experimental map EMD-11007.

Two steps, because TensorFlow and matplotlib live in different environments::

    ~/.relion_dem/netenv/bin/python benchmarks/development_set.py run [--quick]
    .venv/bin/python benchmarks/development_set.py report

``run`` writes ``benchmarks/results/development-set.json``; ``report`` adds the Markdown
tables and the figure (``.md``, ``.png``).

**A development set, not a test.** The deposited map EMD-11007 (``shared/data/experimental``,
0.834 Å) was never in the training data, but it was tuned on, with the development noise below:
network version 2 was chosen on it, and so were the network's input handling (the input tapered
beyond the gold-standard resolution; its noise statistics measured on the network's grid) and
the do-no-harm guard's two rules (the per-shell tolerance, and the whole call falling back only
when grossly failing shells hold more than a quarter of the signal). Its figures say how the
tuned system does on the map it was tuned on; for contrast, the potential of the held-out atomic
model 1a28 on the same grid is the second truth.

For each truth, target resolution R (3, 4, 5, 7, 10 Å) and noise model, two independent
half-maps are made, and the noise is **calibrated**: its scale is bisected (on a multiplier,
only FFT-free per-shell sums) until the half-maps' FSC crosses 1/7 at R (the interpolated
crossing within one Fourier shell of n·voxel/R, measured on the half-maps themselves). Where
the shells' scatter moves the first crossing by more than a shell, new noise is drawn (at most 4
draws). Each case is reported by its target R and by its measured gold-standard resolution; a
case the noise model cannot bring to R (EMD-11007's spectrum dips at 6-7 Å, below its power at
4-5 Å, so a flat noise spectrum crosses 1/7 there first, whatever its scale) keeps the draw
and scale nearest R and is marked *not calibrated*. ``run --merge`` / ``--uncalibrated`` rerun
some cases into an existing result (each case has its own random generator).

Noise models, two groups:

* **development noise**, the noise the system was tuned with (frozen: same spectra as before;
  they are the training simulator's: ``ctf`` is its CTF-coloured spectrum, ``white`` its power
  law with slope 0, ``damped`` its signal-shaped spectrum with a Gaussian SNR):

  - ``damped``: SNR falling as a Gaussian in spatial frequency (600 at the origin, 1/6 at R),
    the half-map multiplied per coefficient by SNR/(1+SNR) and zeroed 10 shells beyond R, as
    RELION's reconstruction hands it to the runtime;
  - ``white``: white noise, not damped;
  - ``ctf``: noise whose power follows 1/<CTF²> (defocus 0.8-2.5 µm, 300 kV, B 100 Å²
    envelope), not damped;

* **held-out noise**, models the training simulator (``relion_dem_dev/training/simdata.py``)
  never draws:

  - ``nonstationary``: spatially non-stationary: the ``damped`` model (its noise, damping and
    cut-off 10 shells beyond R) with the noise multiplied in real space by an amplitude growing
    with the radius from the box centre (1 within 0.15 box, 3 from 0.40 box outwards, a raised
    cosine between): noise 3 times stronger at the periphery than in the core (the simulator's
    noise is stationary);
  - ``powerlaw``: SNR falling as a power law of spatial frequency, SNR = (1/6)(s·R)^-3 (at most
    600), so the FSC decays slowly past R (the simulator's SNR falls as a Gaussian, or follows
    the signal's own spectrum); each half-map damped per shell by its FSC (= SNR/(1+SNR) of a
    half-map, as RELION weights a reconstruction), nothing zeroed;
  - ``solvent``: noise cut from the solvent of EMD-11007 itself: the power spectrum of the map
    outside a generous mask of the molecule (15 Å low-pass above 3 % of its maximum, dilated
    by 10 Å, soft edge), held at its minimum below the frequency where it is smallest (below
    ~10 Å the solvent of a deposited map holds large-scale density, not noise) and held at its
    3.2 Å value beyond 3.2 Å (the deposited map is low-passed at ~3 Å); Gaussian noise with that
    spectrum (the simulator's spectra are analytic); damped by the FSC as ``powerlaw``.

Each half-map goes through the bundled network as the worker runs it; then the FSC guard
alone (RELION 5's Blush rule) and the do-no-harm guard plus the FSC guard (the runtime's
default). Metric: mean FSC against the truth over the resolved shells (gold-standard FSC
>= 1/7), for the half-map, the network's output, and each guarded map. Last, the time and
peak memory of one call on a real-size map (the experimental map padded to 240³).
"""
import argparse
import gzip
import json
import os
import resource
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

from relion_dem.core.maths import fourier  # noqa: E402
from relion_dem.core.analysis.fsc import fsc  # noqa: E402
from relion_dem.core.io import mrc  # noqa: E402
from relion_dem.core.network import SHIPPED_MODEL, inference  # noqa: E402
from relion_dem.core import guards  # noqa: E402
from relion_dem.core.guards import fsc as fsc_guard  # noqa: E402

EXPERIMENTAL = os.path.join(os.path.dirname(ROOT), 'shared', 'data', 'experimental', 'emd_11007_crop176.mrc.gz')
#: the deposited map is low-passed at ~3 Å (its power falls 20-fold between 3.1 and 3.0 Å): its
#: solvent's spectrum is used up to 3.2 Å and held there beyond
EXPERIMENTAL_FILTERED_A = 3.2
SIMULATED_MODEL = '1a28'            # held out from training (relion_dem_dev.training.split.HOLDOUT)
RESOLUTIONS = (3.0, 4.0, 5.0, 7.0, 10.0)
#: noise models per group: the development noise (tuned with, frozen) and noise never trained on
GROUPS = (('development noise', ('damped', 'white', 'ctf')),
          ('held-out noise', ('nonstationary', 'powerlaw', 'solvent')))
SPECTRA = tuple(k for _, kinds in GROUPS for k in kinds)
GROUP_OF = {k: g for g, kinds in GROUPS for k in kinds}
OUT = os.path.join(HERE, 'results', 'development-set')
ARMS = ('half', 'network', 'fsc_guard', 'both_guards')
#: FSC threshold the noise is calibrated to, and the tolerance (Fourier shells)
CROSSING, TOLERANCE_SHELLS = 1.0 / 7.0, 1.0
#: held-out models: amplitude ratio periphery/core, the power law's exponent
PERIPHERY_CORE, CORE_RADIUS, PERIPHERY_RADIUS = 3.0, 0.15, 0.40
POWER_LAW = 3.0


def load_experimental(path=EXPERIMENTAL):
    """The deposited map (gzipped MRC) and its voxel size."""
    with tempfile.NamedTemporaryFile(suffix='.mrc') as tmp:
        with gzip.open(path, 'rb') as f:
            tmp.write(f.read())
        tmp.flush()
        data, voxel = mrc.read(tmp.name, cubic=True)
    return data.astype(np.float32), voxel


def simulated_truth(voxel):
    """Potential map (B 30) of the simulated model at ``voxel``, in a box 1.4 times its extent."""
    from relion_dem.core.simulation import density
    from relion_dem_dev.training import split
    path = split.all_structures()[SIMULATED_MODEL]
    st = density.read_model(path)
    box = int(np.ceil(1.4 * 2 * density.model_extent(st) / voxel / 2.0)) * 2
    return density.potential_map(st, box, voxel, bfactor=30.0).astype(np.float32)


def ctf2(s):
    """Mean squared CTF over defocus 0.8-2.5 µm (300 kV, Cs 2.7 mm, 10% amplitude contrast), with
    a B 100 Å² envelope, floored at 0.02 so that the noise it colours stays finite. The same
    formula as the training simulator's CTF-coloured spectrum (one of its parameter draws)."""
    from relion_dem_dev.training.simdata import mean_ctf2
    return mean_ctf2(s, np.linspace(8000.0, 25000.0, 12), envelope_b=100.0, floor=0.02)


# ----------------------------------------------------------------------------- noise models

def _shell_mean(values, idx, nshell):
    """Mean of ``values`` per shell 0 .. nshell - 1 (coefficients beyond are ignored)."""
    keep = idx < nshell
    total = np.bincount(idx[keep], values[keep], nshell)
    return total / np.maximum(np.bincount(idx[keep], minlength=nshell), 1)


def _smooth(data, sigma):
    """Gaussian blur (``sigma`` voxels) by FFT, periodic borders (numpy only)."""
    r = fourier.radial_frequency(data.shape) / data.shape[0]
    return np.fft.irfftn(np.fft.rfftn(data) * np.exp(-2.0 * (np.pi * sigma * r) ** 2), s=data.shape,
                         axes=(0, 1, 2))


def _dilate(mask, radius):
    """Binary dilation of ``mask`` by a ball of ``radius`` voxels (FFT convolution, numpy only)."""
    n = mask.shape[0]
    c = np.minimum(np.arange(n), n - np.arange(n))
    ball = (c[:, None, None] ** 2 + c[None, :, None] ** 2 + c[None, None, :] ** 2) <= radius ** 2
    conv = np.fft.irfftn(np.fft.rfftn(mask.astype(float)) * np.fft.rfftn(ball.astype(float)), s=mask.shape,
                         axes=(0, 1, 2))
    return conv > 0.5


def radius_from_centre(shape):
    """Distance (voxels) of every voxel from the box centre."""
    c = [np.arange(n) - n / 2.0 for n in shape]
    return np.sqrt(c[0][:, None, None] ** 2 + c[1][None, :, None] ** 2 + c[2][None, None, :] ** 2)


def nonstationary_amplitude(shape, ratio=PERIPHERY_CORE, core=CORE_RADIUS, periphery=PERIPHERY_RADIUS):
    """Noise amplitude per voxel: 1 within ``core`` × box of the centre, ``ratio`` from
    ``periphery`` × box outwards, a raised cosine between."""
    r = radius_from_centre(shape) / shape[0]
    t = np.clip((r - core) / (periphery - core), 0.0, 1.0)
    return 1.0 + (ratio - 1.0) * (0.5 - 0.5 * np.cos(np.pi * t))


def solvent_mask(data, voxel, lowpass_A=15.0, threshold=0.03, dilate_A=10.0):
    """Solvent (True) outside a generous mask of the molecule: ``data`` low-passed at
    ``lowpass_A`` above ``threshold`` × its maximum, dilated by ``dilate_A``."""
    lp = fourier.lowpass(data, voxel, lowpass_A)
    molecule = lp > threshold * float(lp.max())
    return ~_dilate(molecule, dilate_A / float(voxel))


def solvent_spectrum(data, voxel, floor_below_A=8.0, filtered_beyond_A=None, **mask_kw):
    """(s, power): the noise power spectrum of ``data``'s solvent per shell, s in 1/Å, power per
    voxel (the variance density: 1 for unit white noise). The solvent (:func:`solvent_mask`),
    mean removed, is weighted by a soft edge (3 voxels) and its power divided by the weight's
    mean square. Below the frequency where the power is smallest (searched at resolutions
    coarser than ``floor_below_A``) the power is held at that minimum: there the solvent of a
    map holds large-scale density (background, a belt's fringe), not noise. Beyond
    ``filtered_beyond_A`` (a deposited map's own low-pass) the power is held at its value there:
    beyond it the solvent holds only what the filter left."""
    n = data.shape[0]
    solvent = solvent_mask(data, voxel, **mask_kw).astype(float)
    if solvent.mean() < 0.05:
        raise ValueError('solvent: only %.1f %% of the box lies outside the mask' % (100 * solvent.mean()))
    weight = np.clip(_smooth(solvent, 3.0), 0.0, 1.0) * solvent
    mean = float(np.sum(data * weight) / np.sum(weight))
    f = np.fft.rfftn((data - mean) * weight)
    idx = fourier.radial_index(data.shape)
    nshell = n // 2 + 1
    power = _shell_mean(np.abs(f) ** 2, idx, nshell) / float(np.mean(weight ** 2)) / n ** 3
    s = np.arange(nshell) / (n * float(voxel))
    search = np.nonzero((s > 0) & (s <= 1.0 / floor_below_A))[0]
    if search.size:
        k_min = int(search[np.argmin(power[search])])
        power[:k_min] = power[k_min]
    if filtered_beyond_A:
        inside = np.nonzero(s <= 1.0 / filtered_beyond_A)[0]
        power[inside[-1] + 1:] = power[inside[-1]]
    return s, power


def _gaussian_snr(s, resolution):
    """SNR of the ``damped`` model: 600 at the origin (FSC 0.998), 1/6 (FSC 1/7) at R, Gaussian in s."""
    return np.maximum(600.0 * np.exp(-np.log(3600.0) * s ** 2 * resolution ** 2), 1e-9)


def _power_law_snr(s, resolution, exponent=POWER_LAW):
    """SNR = (1/6) (s R)^-exponent, at most 600: the FSC decays slowly past R."""
    with np.errstate(divide='ignore'):
        snr = np.where(s > 0, (np.maximum(s, 1e-12) * resolution) ** -exponent / 6.0, np.inf)
    return np.minimum(snr, 600.0)


def noise_model(truth, voxel, resolution, kind, rng, solvent=None):
    """The pieces of one case before calibration: dict with ``ft`` (the truth's rfftn), ``noise``
    (two noise transforms at multiplier 1), ``damp`` (a function of the multiplier and the
    half-maps' FSC giving the weight per coefficient), ``zero_from`` (first shell zeroed, or None),
    ``k`` (the target shell, rounded as the simulator does). ``solvent``: the (s, power) of
    :func:`solvent_spectrum`, for ``kind`` 'solvent'."""
    n = truth.shape[0]
    r = fourier.radial_frequency(truth.shape)
    idx = np.round(r).astype(np.int64)
    s = r / (n * voxel)
    ft = np.fft.rfftn(truth.astype(np.float64))
    nshell = n // 2 + 1
    signal = np.bincount(idx.ravel(), np.abs(ft.ravel()) ** 2, idx.max() + 1)
    count = np.bincount(idx.ravel(), minlength=idx.max() + 1)
    signal = signal / np.maximum(count, 1)
    k = min(int(round(n * voxel / resolution)), nshell - 1)
    at_k = idx == k
    zero_from = None
    by_fsc = kind in ('powerlaw', 'solvent')

    def fsc_damp(m, gold):
        """Per-shell weight = the half-maps' FSC (>= 0): SNR/(1+SNR) of a half-map; 0 beyond Nyquist."""
        w = np.concatenate([np.clip(gold, 0.0, 1.0), np.zeros(idx.max() + 1 - nshell)])
        return w[idx]

    def no_damp(m, gold):
        return 1.0

    if kind in ('damped', 'nonstationary'):
        snr = _gaussian_snr(s, resolution)
        noise_power = signal[idx] / snr
    elif kind == 'powerlaw':
        noise_power = signal[idx] / _power_law_snr(s, resolution)
    elif kind in ('white', 'ctf'):
        # noise power per coefficient so that SNR = 1/6 (FSC 1/7) in shell k, coloured as asked
        colour = 1.0 / ctf2(s) if kind == 'ctf' else np.ones_like(s)
        noise_power = 6.0 * signal[k] / float(np.mean(colour[at_k])) * colour
    elif kind == 'solvent':
        if solvent is None:
            raise ValueError("noise 'solvent' needs the solvent spectrum")
        s_sol, p_sol = solvent
        noise_power = np.interp(s, s_sol, p_sol) * n ** 3
        # scaled, as the others, to SNR 1/6 in shell k (the calibration then moves it)
        noise_power *= 6.0 * signal[k] / float(np.mean(noise_power[at_k]))
    else:
        raise ValueError('unknown noise model %r' % kind)
    if kind == 'nonstationary':
        w0 = snr / (1.0 + snr) * (idx < k + 11)
        amplitude = nonstationary_amplitude(truth.shape)
        amplitude /= np.sqrt(np.mean(amplitude ** 2))      # the same noise power on average
    noise = []
    for _ in range(2):
        # unit white noise has power n³ per coefficient of the unnormalized transform
        f = np.fft.rfftn(rng.standard_normal(truth.shape)) * np.sqrt(noise_power / n ** 3)
        if kind == 'nonstationary':
            f = np.fft.rfftn(np.fft.irfftn(f * w0, s=truth.shape, axes=(0, 1, 2)) * amplitude)
        noise.append(f)
    if kind == 'damped':
        zero_from = k + 11
        keep = idx < zero_from

        def damp(m, gold):
            snr_m = snr / m ** 2
            return snr_m / (1.0 + snr_m) * keep
    elif kind == 'nonstationary':
        # damped (and cut) first as 'damped' at multiplier 1, so the noise modulated in real space is
        # bounded (the Gaussian SNR puts power 1e9 times the signal's near Nyquist, which the
        # modulation would fold into the band); signal and noise carry the same weights
        zero_from = k + 11
        ft = ft * w0
        damp = no_damp
    else:
        damp = fsc_damp if by_fsc else no_damp
    return dict(ft=ft, noise=noise, damp=damp, zero_from=zero_from, k=k, idx=idx, nshell=nshell)


def shell_sums(ft, n1, n2, idx, nshell):
    """Per-shell sums from which the half-maps' FSC at any noise multiplier m follows."""
    keep = (idx < nshell).ravel()
    i = idx.ravel()[keep]
    f, a, b = ft.ravel()[keep], n1.ravel()[keep], n2.ravel()[keep]

    def total(v):
        return np.bincount(i, v, nshell)
    return dict(ss=total(np.abs(f) ** 2), s1=total((f * np.conj(a)).real), s2=total((f * np.conj(b)).real),
                n12=total((a * np.conj(b)).real), n11=total(np.abs(a) ** 2), n22=total(np.abs(b) ** 2))


def fsc_at(sums, m, zero_from=None):
    """The half-maps' FSC (as :func:`relion_dem.core.maths.fourier.fsc`) at noise multiplier ``m``:
    FSC((F + m N1) w, (F + m N2) w) with w > 0 per shell (a per-shell weight cancels)."""
    num = sums['ss'] + m * (sums['s1'] + sums['s2']) + m * m * sums['n12']
    d1 = sums['ss'] + 2 * m * sums['s1'] + m * m * sums['n11']
    d2 = sums['ss'] + 2 * m * sums['s2'] + m * m * sums['n22']
    with np.errstate(invalid='ignore', divide='ignore'):
        out = np.nan_to_num(num / np.sqrt(d1 * d2))
    if zero_from is not None:
        out[zero_from:] = 0.0
    return out


def crossing_shell(curve, threshold=CROSSING):
    """Where ``curve`` first crosses ``threshold`` (shell, interpolated as
    :func:`relion_dem.core.maths.fourier.resolution` does); the last shell if it never does."""
    box = 2 * (len(curve) - 1)
    return box / fourier.resolution(curve, 1.0, threshold)


def calibrate(sums, target_shell, zero_from=None, iterations=40):
    """(multiplier, crossing shell): bisection on log(multiplier) so that the FSC's first 1/7
    crossing lies at ``target_shell``; where the crossing jumps past it (a dip in the signal's
    spectrum) the side nearer the target is kept."""
    def c(log_m):
        return crossing_shell(fsc_at(sums, np.exp(log_m), zero_from))
    lo, hi = np.log(1e-3), np.log(1e3)
    while c(lo) < target_shell and lo > np.log(1e-9):
        lo -= np.log(1e3)
    while c(hi) > target_shell and hi < np.log(1e9):
        hi += np.log(1e3)
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        if c(mid) > target_shell:
            lo = mid
        else:
            hi = mid
    best = min((lo, hi), key=lambda v: abs(c(v) - target_shell))
    return float(np.exp(best)), float(c(best))


def half_maps(truth, voxel, resolution, kind, rng, solvent=None, calibrated=True, draws=4):
    """Two independent half-maps of ``truth`` whose FSC crosses 1/7 at ``resolution`` (within
    one shell, where the noise model can), and what the calibration found (a dict). Near R a
    slowly falling FSC meets the threshold at a shallow angle, and the shells' scatter can move
    the first crossing by more than a shell: then new noise is drawn (at most ``draws`` in all)
    and the draw whose half-maps cross nearest the target is kept."""
    n = truth.shape[0]
    target = n * voxel / float(resolution)
    best = None
    for draw in range(draws if calibrated else 1):
        p = noise_model(truth, voxel, resolution, kind, rng, solvent)
        sums = shell_sums(p['ft'], p['noise'][0], p['noise'][1], p['idx'], p['nshell'])
        m = calibrate(sums, target, p['zero_from'])[0] if calibrated else 1.0
        w = p['damp'](m, fsc_at(sums, m, p['zero_from']))
        maps = [np.fft.irfftn((p['ft'] + m * f) * w, s=truth.shape, axes=(0, 1, 2)).astype(np.float32)
                for f in p['noise']]
        del p, sums, w
        crossing = crossing_shell(fsc(maps[0], maps[1]))      # what the half-maps themselves say
        if best is None or abs(crossing - target) < abs(best[2] - target):
            best = (maps, m, crossing, draw + 1)
        if abs(crossing - target) <= TOLERANCE_SHELLS:
            break
    maps, m, crossing, used = best
    info = dict(target_shell=round(target, 2), multiplier=round(m, 4), crossing_shell=round(crossing, 2),
                measured_resolution_A=round(float(n * voxel / crossing), 2), draws=used, tried=draw + 1,
                calibrated=bool(abs(crossing - target) <= TOLERANCE_SHELLS))
    return maps[0], maps[1], info


# ----------------------------------------------------------------------------- the network

def mean_resolved(curve, cutoff):
    """Mean FSC over shells 1 .. ``cutoff`` - 1 (the shells the half-maps resolve)."""
    return round(float(np.mean(curve[1:max(cutoff, 2)])), 4)


def load_network(threads=2, model=SHIPPED_MODEL):
    """(enhance(x, voxel, gold), settings) of the Keras model, called as the runtime calls it."""
    from relion_dem.core.network import worker
    settings = worker.model_settings(model)
    predict = worker.load_predictor(model, threads)

    def enhance(x, voxel, gold):
        """As the runtime calls the network: input tapered beyond the gold-standard FSC's 1/7."""
        return inference.enhance(x, voxel, predict, settings['net_voxel_size'], cube=int(settings['cube']),
                                 input_lowpass_A=inference.data_resolution(gold, voxel),
                                 overlap=int(settings['overlap']), multiple=int(settings['multiple']),
                                 whole_up_to=worker.WHOLE_UP_TO)
    return enhance, settings


#: the runtime's guard settings (both on, threshold 1/7)
BOTH_GUARDS = dict(fsc_guard=True, harm_guard=True)


def one_case(truth, voxel, resolution, spectrum, enhance, rng, solvent=None):
    """The network and both guards on one pair of calibrated half-maps: FSC with the truth of each map."""
    h1, h2, calibration = half_maps(truth, voxel, resolution, spectrum, rng, solvent)
    gold = fsc(h1, h2)
    cut = fsc_guard.cutoff_shell(gold)
    t = time.time()
    y = enhance(h1, voxel, gold)
    seconds = time.time() - t
    fsc_only, _ = fsc_guard.blend(y, h1, gold)
    both, outcome = guards.apply(y, h1, gold, BOTH_GUARDS)
    verdict = outcome.harm
    maps = dict(half=h1, network=y, fsc_guard=fsc_only, both_guards=both)
    curves = {k: fsc(v, truth) for k, v in maps.items()}
    return dict(resolution=resolution, spectrum=spectrum, group=GROUP_OF[spectrum], box=truth.shape[0],
                voxel=round(voxel, 4), calibration=calibration,
                gold_resolution_A=calibration['measured_resolution_A'], cutoff_shell=cut,
                mean_fsc={k: mean_resolved(c, cut) for k, c in curves.items()},
                gold_fsc=[round(float(v), 4) for v in gold],
                curves={k: [round(float(v), 4) for v in c] for k, c in curves.items()},
                harm_guard=None if verdict is None else dict(
                    whole_call=verdict.whole_call, shells_replaced=len(verdict.shells_replaced),
                    shells_scaled=verdict.shells_scaled, failing_signal_fraction=verdict.failing_signal_fraction),
                fallback=outcome.fallback, network_s=round(seconds, 2))


def real_size_timing(truth, voxel, enhance, box=240):
    """One runtime-like call (network, do-no-harm guard, FSC guard) on ``truth`` padded to ``box``."""
    pad = (box - truth.shape[0]) // 2
    big = np.pad(truth, [(pad, box - truth.shape[0] - pad)] * 3)
    h1, h2, _ = half_maps(big, voxel, 4.0, 'damped', np.random.default_rng(0))
    gold = fsc(h1, h2)
    t = time.time()
    y = enhance(h1, voxel, gold)
    t_net = time.time() - t
    t = time.time()
    y, _ = guards.apply(y, h1, gold, BOTH_GUARDS)
    t_guards = time.time() - t
    return dict(box=box, voxel=round(voxel, 4), network_s=round(t_net, 1), guards_s=round(t_guards, 1),
                peak_memory_GB=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2, 2),
                load_average=round(os.getloadavg()[0], 1))


def _write(result, out):
    with open(out + '.json', 'w') as f:
        json.dump(result, f, indent=1)


def _key(row):
    return (row['truth'], float(row['resolution']), row['spectrum'])


def run(a):
    """The 'run' step: every case, written to OUT.json (after each case, so a cut run keeps its
    cases). ``--merge``: the cases run replace theirs in an existing OUT.json (each case has its
    own random generator, so a case run alone equals the same case of a full run);
    ``--uncalibrated``: of the selection, only the cases OUT.json has as not calibrated."""
    started = time.time()
    existing = None
    if a.merge or a.uncalibrated or a.timing_only:
        with open(a.out + '.json') as f:
            existing = json.load(f)
    redo = None if not a.uncalibrated else {_key(r) for r in existing['cases'] if not r['calibration']['calibrated']}
    kinds = [k for k in SPECTRA if not a.noise or k in a.noise]
    resolutions = a.resolutions or (RESOLUTIONS if not a.quick else (4.0, 7.0))
    names = ['EMD-11007 (experimental)']
    if not a.quick and not a.experimental_only:
        names.append('%s (simulated)' % SIMULATED_MODEL)
    todo = [(ti, name, float(res), k) for ti, name in enumerate(names) for res in resolutions for k in kinds
            if (redo is None or (name, float(res), k) in redo) and not a.timing_only]
    enhance, settings = load_network(a.threads, a.model)
    exp, voxel = load_experimental()
    solvent = solvent_spectrum(exp, voxel, filtered_beyond_A=EXPERIMENTAL_FILTERED_A)
    truths = {names[0]: exp}
    if len(names) > 1 and any(t[1] == names[1] for t in todo):
        truths[names[1]] = simulated_truth(voxel)
    selection = dict(truths=names, noise=kinds, resolutions=list(resolutions), uncalibrated_only=bool(redo),
                     cases=len(todo), load_average_start=round(os.getloadavg()[0], 1), note=a.note)
    if existing is not None:
        result = existing
        result.setdefault('runs', [])
    else:
        result = dict(model=os.path.relpath(a.model, ROOT), net_voxel_size=settings['net_voxel_size'], seed=a.seed,
                      quick=a.quick, subset=None, machine='%d-core CPU, %d threads' % (os.cpu_count(), a.threads),
                      load_average_start=selection['load_average_start'], groups={g: list(k) for g, k in GROUPS},
                      cases=[], real_size=None, runs=[])
        if a.quick or a.experimental_only or a.noise or a.resolutions:
            result['subset'] = dict(truths=names, noise=kinds, resolutions=list(resolutions))
    result['solvent_spectrum'] = dict(s=[round(float(v), 5) for v in solvent[0]],
                                      power=[float('%.4g' % v) for v in solvent[1]])
    result['runs'].append(selection)
    order = {(n, float(r), k): i for i, (n, r, k) in enumerate(
        (n, r, k) for n in names for r in RESOLUTIONS for k in SPECTRA)}
    for ti, name, res, spectrum in todo:
        # one generator per case: a subset reproduces the full run's cases
        rng = np.random.default_rng([a.seed, ti, int(round(10 * res)), SPECTRA.index(spectrum)])
        row = one_case(truths[name], voxel, res, spectrum, enhance, rng, solvent)
        row['truth'] = name
        result['cases'] = [r for r in result['cases'] if _key(r) != _key(row)] + [row]
        result['cases'].sort(key=lambda r: order.get(_key(r), len(order)))
        m, c = row['mean_fsc'], row['calibration']
        print('%-26s R %4.1f %-13s gold %5.2f A%s (x%.3g, draw %d): half %.3f network %.3f FSC guard %.3f '
              'both %.3f [%.0f s]' % (name, res, spectrum, c['measured_resolution_A'],
                                      '' if c['calibrated'] else ' NOT CALIBRATED', c['multiplier'], c['draws'],
                                      m['half'], m['network'], m['fsc_guard'], m['both_guards'],
                                      time.time() - started), flush=True)
        _write(result, a.out)
    if a.timing_only or not (a.quick or a.no_timing or existing is not None):
        result['real_size'] = real_size_timing(exp, voxel, enhance)
    selection['load_average_end'] = round(os.getloadavg()[0], 1)
    selection['wall_s'] = round(time.time() - started)
    _write(result, a.out)
    print('wrote %s.json' % a.out)
    return 0


# ----------------------------------------------------------------------------- the report

#: gain targets of the regularizer issue on the experimental map (both guards − half)
TARGETS = {3.0: 0.0, 4.0: 0.05, 7.0: 0.10, 10.0: 0.10}


def verdicts(rows):
    """Per case: never worse (both guards >= half - 0.01); the regularizer issue's gains on the
    experimental map (R 4 Å >= +0.05, 3 Å >= 0, 7-10 Å >= +0.10)."""
    out = []
    for r in rows:
        m = r['mean_fsc']
        gain = m['both_guards'] - m['half']
        target = TARGETS.get(r['resolution']) if r['truth'].startswith('EMD') else None
        out.append(dict(never_worse=gain >= -0.01, gain=round(gain, 4), target=target,
                        network_gain=round(m['network'] - m['half'], 4),
                        fsc_guard_gain=round(m['fsc_guard'] - m['half'], 4),
                        meets_target=None if target is None else gain >= target))
    return out


def label(r):
    """Short name of a case."""
    return '%s R%g %s' % (r['truth'].split()[0], r['resolution'], r['spectrum'])


def group_summary(rows, checks):
    """Per group and truth: counts, mean and worst gains of each arm."""
    out = []
    for g, _ in GROUPS:
        for truth in sorted({r['truth'] for r in rows}, key=lambda t: (not t.startswith('EMD'), t)):
            sel = [(r, c) for r, c in zip(rows, checks) if r['group'] == g and r['truth'] == truth]
            if not sel:
                continue
            gains = np.array([c['gain'] for _, c in sel])
            worst = min(sel, key=lambda rc: rc[1]['gain'])
            out.append(dict(group=g, truth=truth, cases=len(sel),
                            calibrated=sum(r['calibration']['calibrated'] for r, _ in sel),
                            half=float(np.mean([r['mean_fsc']['half'] for r, _ in sel])),
                            both=float(np.mean([r['mean_fsc']['both_guards'] for r, _ in sel])),
                            network_gain=float(np.mean([c['network_gain'] for _, c in sel])),
                            network_worst=float(min(c['network_gain'] for _, c in sel)),
                            fsc_guard_gain=float(np.mean([c['fsc_guard_gain'] for _, c in sel])),
                            gain=float(gains.mean()), gain_min=float(gains.min()), gain_max=float(gains.max()),
                            captured=float(np.mean([c['gain'] / max(1.0 - r['mean_fsc']['half'], 1e-3)
                                                    for r, c in sel])),
                            worst=label(worst[0]), never_worse=sum(c['never_worse'] for _, c in sel),
                            targets=sum(c['meets_target'] is True for _, c in sel),
                            targeted=sum(c['target'] is not None for _, c in sel)))
    return out


def report(a):
    """The 'report' step: figures and Markdown from OUT.json."""
    import matplotlib
    matplotlib.use('Agg')
    from relion_dem.core.analysis import figures
    with open(a.out + '.json') as f:
        result = json.load(f)
    rows = result['cases']
    checks = verdicts(rows)
    groups = [g for g, _ in GROUPS if any(r['group'] == g for r in rows)]
    fig, axes = figures.figure(nrows=len(groups), size=(max(8.0, 0.3 * len(rows)), 3.6 * len(groups)))
    axes = np.atleast_1d(axes)
    width = 0.2
    for ax, g in zip(axes, groups):
        sel = [r for r in rows if r['group'] == g]
        x = np.arange(len(sel))
        for i, arm in enumerate(ARMS):
            ax.bar(x + (i - 1.5) * width, [r['mean_fsc'][arm] for r in sel], width, label=arm.replace('_', ' '),
                   color=figures.COLORS[i])
        ax.set_xticks(x)
        ax.set_xticklabels(['%s (%.1f Å)%s' % (label(r), r['calibration']['measured_resolution_A'],
                                               '' if r['calibration']['calibrated'] else ' †') for r in sel],
                           rotation=70, fontsize=6)
        ax.set_ylabel('mean FSC vs truth\n(resolved shells)')
        ax.set_ylim(0.5, 1.0)
        ax.set_title(g, fontsize=9)
        ax.grid(alpha=0.3, axis='y')
    axes[0].legend(fontsize=8, ncol=4, loc='lower center', bbox_to_anchor=(0.5, 1.12), frameon=False)
    fig.suptitle('Development set EMD-11007 (and simulated 1a28): network and guards, calibrated half-maps',
                 fontsize=10)
    png = figures.save(fig, a.out + '.png')
    cases = len(rows)
    calibrated = sum(r['calibration']['calibrated'] for r in rows)
    L = ['# Development set: the network and the guards on EMD-11007 (and a simulated map)', '',
         'Written by `benchmarks/development_set.py` (model `%s`, network grid %s, seed %d, %s, load average '
         '%s at the start).' % (result['model'], inference.describe_grid(result['net_voxel_size']), result['seed'],
                                result['machine'], result.get('load_average_start')), '',
         '**A development set, not a test.** EMD-11007 was never in the training data, but network version 2, '
         'its input handling (input tapered beyond the gold-standard resolution, noise statistics on the '
         'network\'s grid) and the do-no-harm guard\'s two rules (per-shell tolerance, whole-call fallback) '
         'were tuned on it, with the *development noise* below (the training simulator\'s spectra: `damped` '
         'signal-shaped with a Gaussian SNR, `white` its power law with slope 0, `ctf` its CTF-coloured one). '
         'The *held-out noise* models were never used in training nor in tuning: non-stationary noise '
         '(3× stronger at the periphery than in the core), '
         'SNR falling as a power law of frequency (slow FSC tails), and noise with the spectrum of the map\'s '
         'own solvent. 1a28 (simulated, held out from training) is the contrast.', '']
    if result.get('wall_s'):
        L += ['First run: %d cases and the real-size call in %.0f min (load average %s → %s: the 2 cores were '
              'shared with another benchmark).' % (len(rows), result['wall_s'] / 60.0,
                                                   result.get('load_average_start'), result.get('load_average_end'))]
    for run_ in result.get('runs', []):
        if not run_['cases']:
            L += ['', 'Real-size call rerun%s.' % (': ' + run_['note'] if run_.get('note') else '')]
            continue
        L += ['', 'Rerun and merged: %d cases (noise %s; R %s Å%s) in %.0f min%s.'
              % (run_['cases'], ', '.join(run_['noise']), ', '.join('%g' % v for v in run_['resolutions']),
                 '; only the cases not calibrated' if run_.get('uncalibrated_only') else '',
                 run_.get('wall_s', float('nan')) / 60.0, ': ' + run_['note'] if run_.get('note') else '')]
    if result.get('runs'):
        L += ['', 'Each case has its own random generator, so a case run alone is the same case as in a full run.']
    L += ['']
    if result.get('subset'):
        sub = result['subset']
        L += ['**Subset run**: truths %s; noise %s; R %s Å. Not every case of the study was run.'
              % (', '.join(sub['truths']), ', '.join(sub['noise']), ', '.join('%g' % v for v in sub['resolutions'])),
              '']
    L += ['## Calibration', '',
          'The noise scale of every case is bisected until the half-maps\' FSC crosses 1/7 at the target R '
          '(interpolated crossing within %g Fourier shell of n·voxel/R). **%d of %d cases calibrated.**'
          % (TOLERANCE_SHELLS, calibrated, cases)]
    redrawn = [r for r in rows if r['calibration'].get('draws', 1) > 1]
    if redrawn:
        L += ['', 'New noise drawn (the first draw\'s crossing more than a shell off; at most 4 draws, the '
              'nearest kept): %s.' % ', '.join('%s (draw %d)' % (label(r), r['calibration']['draws'])
                                              for r in redrawn)]
    missed = [r for r in rows if not r['calibration']['calibrated']]
    if missed:
        L += ['', 'Not calibrated (†; the FSC\'s first crossing jumps past R as the scale changes, the nearer '
              'side kept; reported at the measured resolution): %s.' % '; '.join(
                  '%s: %.2f Å (shell %.1f vs %.1f)' % (label(r), r['calibration']['measured_resolution_A'],
                                                       r['calibration']['crossing_shell'],
                                                       r['calibration']['target_shell']) for r in missed)]
    if any(r['truth'].startswith('EMD') and r['resolution'] <= 3.0 for r in rows):
        L += ['', 'On EMD-11007 at R 3 Å the crossing is pinned by the deposited map\'s own low-pass at ~3 Å (its '
              'power falls 20-fold between 3.1 and 3.0 Å): a wide range of noise scales crosses there, so at 3 Å '
              'the half-maps\' quality depends on the shape of each noise spectrum more than on R.']
    L += ['', '| truth | noise | R 3 | R 4 | R 5 | R 7 | R 10 |', '|---|---|---|---|---|---|---|']
    for truth in sorted({r['truth'] for r in rows}, key=lambda t: (not t.startswith('EMD'), t)):
        for kind in SPECTRA:
            sel = {r['resolution']: r for r in rows if r['truth'] == truth and r['spectrum'] == kind}
            if sel:
                L.append('| %s | %s | %s |' % (truth.split()[0], kind, ' | '.join(
                    ('%.2f%s' % (sel[R]['calibration']['measured_resolution_A'],
                                 '' if sel[R]['calibration']['calibrated'] else ' †')) if R in sel else '–'
                    for R in RESOLUTIONS)))
    L += ['', 'Measured gold-standard resolution (Å) per target R.', '', '## Per group', '',
          'Gain = mean FSC with the truth over the resolved shells, minus the half-map\'s. "both guards" is '
          'what the runtime keeps (do-no-harm guard, then FSC guard). "Room taken": the gain as a share of '
          'what a perfect map would gain (1 − half), averaged over the cases: it compares groups whose '
          'half-maps differ.', '',
          '| group | truth | cases (calibrated) | half | both guards | gain: network alone (worst) | FSC guard '
          'alone | both guards: mean (min … max) | room taken | never worse (−0.01) | worst case | targets met |',
          '|---|---|---|---|---|---|---|---|---|---|---|---|']
    summary = group_summary(rows, checks)
    for s in summary:
        L.append(('| %s | %s | %d (%d) | %.3f | %.3f | %+.3f (%+.3f) | %+.3f | %+.3f (%+.3f … %+.3f) | %.0f %% '
                  '| %d/%d | %s | %s |') % (
            s['group'], s['truth'].split()[0], s['cases'], s['calibrated'], s['half'], s['both'], s['network_gain'],
            s['network_worst'], s['fsc_guard_gain'], s['gain'], s['gain_min'], s['gain_max'], 100 * s['captured'],
            s['never_worse'],
            s['cases'], s['worst'], '%d/%d' % (s['targets'], s['targeted']) if s['targeted'] else '–'))
    truths = sorted({r['truth'] for r in rows}, key=lambda t: (not t.startswith('EMD'), t))
    L += ['', 'Per noise model, gain of both guards over the half-map, mean (min) over R:', '',
          '| noise | group | %s |' % ' | '.join(t.split()[0] for t in truths),
          '|---|---|%s' % ('---|' * len(truths))]
    for kind in SPECTRA:
        cells = []
        for truth in truths:
            g = [c['gain'] for r, c in zip(rows, checks) if r['spectrum'] == kind and r['truth'] == truth]
            cells.append('%+.3f (%+.3f)' % (np.mean(g), min(g)) if g else '–')
        if any(c != '–' for c in cells):
            L.append('| %s | %s | %s |' % (kind, GROUP_OF[kind], ' | '.join(cells)))
    worse = [(label(r), c['gain']) for r, c in zip(rows, checks) if not c['never_worse']]
    worst_row, worst_check = min(zip(rows, checks), key=lambda rc: rc[1]['gain'])
    worst_net = min(zip(rows, checks), key=lambda rc: rc[1]['network_gain'])
    L += ['', '**Never worse than the half-map (−0.01):** %s. **Worst case (both guards):** %s, %+.3f '
          '(half %.3f → %.3f). **Worst case of the network alone:** %s, %+.3f (the guards keep %+.3f).'
          % ('every case' if not worse else 'missed in ' + ', '.join('%s (%+.3f)' % w for w in worse),
             label(worst_row), worst_check['gain'], worst_row['mean_fsc']['half'], worst_row['mean_fsc']['both_guards'],
             label(worst_net[0]), worst_net[1]['network_gain'], worst_net[1]['gain'])]
    missed_t = ['%s (gain %+.3f, target %+.2f%s)' % (
        label(r), c['gain'], c['target'], '; ceiling 1 − half = %+.3f' % (1 - r['mean_fsc']['half'])
        if c['target'] > 0.5 * (1 - r['mean_fsc']['half']) else '')
        for r, c in zip(rows, checks) if c['meets_target'] is False]
    L += ['', '**Gain targets on the experimental map** (R 4 Å ≥ +0.05, 3 Å ≥ 0, 7–10 Å ≥ +0.10): %s.'
          % ('all met' if not missed_t else 'missed: ' + '; '.join(missed_t))]
    L += ['', '![mean FSC per case](%s)' % os.path.basename(png), '', '## Per case', '',
          '| truth | group | R (Å) | noise | gold-std (Å) | noise × | half | network | FSC guard | both guards | '
          'gain | harm guard |', '|---|---|---|---|---|---|---|---|---|---|---|---|']
    for r, c in zip(rows, checks):
        m, h = r['mean_fsc'], r['harm_guard']
        if h is None:
            what = r.get('fallback') or '–'
        else:
            what = ('whole call plain' if h['whole_call'] else '%d shells plain, %d scaled'
                    % (h['shells_replaced'], h['shells_scaled']))
        L.append('| %s | %s | %g | %s | %.2f%s | %.3g | %.3f | %.3f | %.3f | %.3f | %+.3f%s | %s |' % (
            r['truth'].split()[0], r['group'].split()[0], r['resolution'], r['spectrum'],
            r['calibration']['measured_resolution_A'], '' if r['calibration']['calibrated'] else ' †',
            r['calibration']['multiplier'], m['half'], m['network'], m['fsc_guard'], m['both_guards'], c['gain'],
            '' if c['never_worse'] else ' **worse**', what))
    if result.get('real_size'):
        t = result['real_size']
        L += ['', '**Real-size call** (%d³ at %.3f Å): network %.1f s, both guards %.1f s, peak memory %.2f GB '
              '(load average %s: the machine was shared).'
              % (t['box'], t['voxel'], t['network_s'], t['guards_s'], t['peak_memory_GB'], t.get('load_average'))]
    with open(a.out + '.md', 'w') as f:
        f.write('\n'.join(L) + '\n')
    print('wrote %s.md and %s' % (a.out, png))
    return 0


def main(argv=None):
    """Command line: the 'run' or 'report' step."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('step', choices=('run', 'report'))
    p.add_argument('--out', default=OUT)
    p.add_argument('--quick', action='store_true', help='experimental map only, R 4 and 7 Å, no timing')
    p.add_argument('--experimental-only', action='store_true', help='the experimental map only (no 1a28)')
    p.add_argument('--noise', nargs='+', choices=SPECTRA, help='these noise models only')
    p.add_argument('--resolutions', nargs='+', type=float, help='these target resolutions only (Å)')
    p.add_argument('--no-timing', action='store_true', help='skip the real-size timing')
    p.add_argument('--merge', action='store_true', help='replace the cases run in an existing OUT.json')
    p.add_argument('--uncalibrated', action='store_true',
                   help='rerun (and merge) only the cases OUT.json has as not calibrated')
    p.add_argument('--timing-only', action='store_true',
                   help='only the real-size call, into an existing OUT.json (run it on an idle machine)')
    p.add_argument('--note', help='why this run (kept with a merged run, shown in the report)')
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--seed', type=int, default=11)
    p.add_argument('--model', default=SHIPPED_MODEL, help='network to validate (default: the bundled one)')
    a = p.parse_args(argv)
    return run(a) if a.step == 'run' else report(a)


if __name__ == '__main__':
    sys.exit(main())
