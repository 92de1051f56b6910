"""Masked FSC with the phase-randomization correction of Chen et al. (2013).

The masked half maps have an FSC inflated by the mask. Following Chen et al.,
Ultramicroscopy 135:24 (2013), and RELION's ``relion_postprocess``:

1. ``fsc_unmasked``: FSC of the unmasked half maps;
2. ``randomize_shell``: the first shell (> 0) where ``fsc_unmasked`` drops below
   0.8 (``randomize_at_fsc``);
3. the phases of both half maps are randomized from that shell outwards, the maps
   masked, and their FSC is ``fsc_random_masked`` (the FSC the mask alone creates);
4. ``fsc_corrected = (fsc_masked - fsc_random_masked) / (1 - fsc_random_masked)``
   beyond ``randomize_shell + 2`` (RELION moves the start two shells up to avoid
   artefacts near the randomization edge), ``fsc_masked`` below.

Resolutions: 0.143 between half maps, 0.5 between a map and a truth/model map.
:func:`resolution` interpolates linearly between shells (it, :func:`fsc` and
:func:`shell_resolutions` are the primitives of ``relion_dem.core.maths.fourier``, imported here);
:func:`resolution_last_shell` is RELION's definition (the last shell before the
curve first drops below the threshold), to compare with ``relion_postprocess``;
:func:`resolution_text` prints a resolution capped at Nyquist as ``≤ X (Nyquist)``.
"""
import numpy as np

from relion_dem.core.io import mrc
from relion_dem.core.maths import fourier
from relion_dem.core.maths.fourier import fsc, resolution, shell_resolutions  # noqa: F401 (part of this API)

HALF_MAP_THRESHOLD = 0.143
REFERENCE_THRESHOLD = 0.5


def randomize_phases(data, shell, rng=None):
    """Copy of ``data`` with the phases of every Fourier coefficient at radius >= ``shell``
    (in Fourier voxels) replaced by uniform random phases; amplitudes kept
    (RELION's ``randomizePhasesBeyond``)."""
    rng = np.random.default_rng(rng)
    f = np.fft.rfftn(np.asarray(data, np.float64))
    r = fourier.radial_frequency(data.shape)
    sel = r >= shell
    phase = rng.uniform(0.0, 2 * np.pi, int(sel.sum()))
    f[sel] = np.abs(f[sel]) * np.exp(1j * phase)
    return np.fft.irfftn(f, s=data.shape, axes=(0, 1, 2))


def randomize_shell(fsc_unmasked, threshold=0.8):
    """First shell (> 0) where the unmasked FSC drops below ``threshold``; None if never."""
    for i in range(1, len(fsc_unmasked)):
        if fsc_unmasked[i] < threshold:
            return i
    return None


def corrected(fsc_masked, fsc_random_masked, randomize_at):
    """Chen et al. correction: (FSC_t - FSC_n) / (1 - FSC_n) from shell ``randomize_at + 2``."""
    t = np.array(fsc_masked, dtype=float)
    n = np.array(fsc_random_masked, dtype=float)
    if t[0] <= 0:
        t[0] = 1.0
    if n[0] <= 0:
        n[0] = 1.0
    out = t.copy()
    start = randomize_at + 2
    with np.errstate(invalid='ignore', divide='ignore'):
        out[start:] = (t[start:] - n[start:]) / (1.0 - n[start:])
    return np.nan_to_num(out)


def at_nyquist(resolution_A, voxel_size):
    """Whether a resolution sits at Nyquist (2 × voxel size): its FSC never fell below the
    threshold, so the data may hold more than the number says."""
    return bool(resolution_A <= 2.0 * voxel_size + 1e-6)     # a plain bool: results go to JSON


def resolution_text(resolution_A, capped=False):
    """A resolution (Å) as a report prints it: ``'7.34'``, or ``'≤ 7.20 (Nyquist)'`` when
    ``capped`` (:func:`at_nyquist`), never as if measured."""
    return ('≤ %.2f (Nyquist)' if capped else '%.2f') % resolution_A


def resolution_last_shell(curve, voxel_size, threshold=HALF_MAP_THRESHOLD):
    """RELION's resolution: box·voxel / i for the last shell i before ``curve`` first drops
    below ``threshold`` (999 if shell 0 is already below, as RELION writes)."""
    box = 2 * (len(curve) - 1)
    res = 999.0
    for i, v in enumerate(curve):
        if v < threshold:
            break
        res = box * voxel_size / i if i > 0 else 999.0
    return res


def masked_fsc(half1, half2, voxel_size, mask=None, randomize_at_fsc=0.8, randomize_at_A=None,
               seed=0, repeats=1, strict=True):
    """Gold-standard FSC of two half maps, corrected for the mask by phase randomization.

    Returns a dict: ``shell``, ``resolution_A`` (per shell), ``fsc_unmasked``,
    ``fsc_masked``, ``fsc_random_masked``, ``fsc_corrected`` (lists), ``randomize_shell``,
    ``randomize_at_A``, ``resolution_0143`` (interpolated), ``resolution_0143_relion``
    (RELION's last-shell definition) and ``resolution_05``. Without a mask the
    corrected FSC is the unmasked one. ``repeats`` > 1 averages the randomized FSC over
    several random phase sets (less noise than RELION's single set). When the unmasked
    FSC never drops below ``randomize_at_fsc`` RELION stops with an error; so do we with
    ``strict``, else the masked FSC is returned uncorrected (``randomize_shell`` None).
    """
    a = np.asarray(half1, np.float64)
    b = np.asarray(half2, np.float64)
    if a.shape != b.shape:
        raise ValueError('half maps differ in shape: %s vs %s' % (a.shape, b.shape))
    n = a.shape[0]
    unmasked = fsc(a, b)
    out = dict(shell=list(range(len(unmasked))),
               resolution_A=[float(x) for x in shell_resolutions(n, voxel_size)],
               fsc_unmasked=unmasked.tolist(), voxel_size=float(voxel_size), box=n)
    if mask is None:
        curve = unmasked
        out.update(fsc_masked=unmasked.tolist(), fsc_random_masked=[0.0] * len(unmasked),
                   randomize_shell=None, randomize_at_A=None)
    else:
        mask = np.asarray(mask, np.float64)
        if mask.shape != a.shape:
            raise ValueError('mask shape %s differs from the maps %s' % (mask.shape, a.shape))
        masked = fsc(a * mask, b * mask)
        if randomize_at_A:
            k = int(n * voxel_size / float(randomize_at_A))
        else:
            k = randomize_shell(unmasked, randomize_at_fsc)
            if k is None:
                if strict:
                    raise ValueError('the unmasked FSC never drops below %.2f: cannot choose where '
                                     'to randomize phases' % randomize_at_fsc)
                k = len(unmasked) + 1
        rng = np.random.default_rng(seed)
        rand = np.zeros_like(masked)
        for _ in range(max(1, int(repeats))):
            ra = randomize_phases(a, k, rng) * mask
            rb = randomize_phases(b, k, rng) * mask
            rand += fsc(ra, rb)
        rand /= max(1, int(repeats))
        curve = corrected(masked, rand, k)
        done = k < len(unmasked)
        out.update(fsc_masked=masked.tolist(), fsc_random_masked=rand.tolist(),
                   randomize_shell=int(k) if done else None,
                   randomize_at_A=float(n * voxel_size / k) if done else None)
    out['fsc_corrected'] = [float(x) for x in curve]
    out['resolution_0143'] = float(resolution(curve, voxel_size, HALF_MAP_THRESHOLD))
    out['resolution_0143_relion'] = float(resolution_last_shell(curve, voxel_size, HALF_MAP_THRESHOLD))
    out['resolution_05'] = float(resolution(curve, voxel_size, REFERENCE_THRESHOLD))
    return out


def reference_fsc(volume, reference, voxel_size, mask=None):
    """FSC of a map against a truth or model map (optionally masked) and its 0.5 resolution."""
    curve = fsc(volume, reference, mask)
    n = np.asarray(volume).shape[0]
    return dict(shell=list(range(len(curve))),
                resolution_A=[float(x) for x in shell_resolutions(n, voxel_size)],
                fsc=[float(x) for x in curve],
                resolution_05=float(resolution(curve, voxel_size, REFERENCE_THRESHOLD)),
                resolution_0143=float(resolution(curve, voxel_size, HALF_MAP_THRESHOLD)))


def masked_fsc_files(half1_path, half2_path, mask_path=None, **kw):
    """:func:`masked_fsc` of map files (errors name the file)."""
    a, apix = mrc.read(half1_path, cubic=True)
    b, _ = mrc.read(half2_path, cubic=True)
    if a.shape != b.shape:
        raise mrc.MapError('%s: shape %s differs from %s: %s' % (half2_path, b.shape, half1_path, a.shape))
    m = None
    if mask_path:
        m, _ = mrc.read(mask_path, cubic=True)
        if m.shape != a.shape:
            raise mrc.MapError('%s: mask shape %s differs from the maps %s' % (mask_path, m.shape, a.shape))
    return masked_fsc(a, b, apix, m, **kw)


def read_postprocess_star(path):
    """FSC curves of a ``relion_postprocess`` STAR: dict of lists + ``final_resolution``."""
    from relion_dem.core.io import star
    blocks = star.read(path)
    gen = star.block(blocks, 'general')
    fscb = star.block(blocks, 'fsc')
    out = dict(final_resolution=gen.get('_rlnFinalResolution', float),
               shell=fscb.column('_rlnSpectralIndex', int))
    for key, label in (('fsc_corrected', '_rlnFourierShellCorrelationCorrected'),
                       ('fsc_unmasked', '_rlnFourierShellCorrelationUnmaskedMaps'),
                       ('fsc_masked', '_rlnFourierShellCorrelationMaskedMaps'),
                       ('fsc_random_masked', '_rlnCorrectedFourierShellCorrelationPhaseRandomizedMaskedMaps')):
        if fscb.has(label):
            out[key] = fscb.column(label, float)
    if gen.has('_rlnRandomiseFrom'):
        out['randomize_at_A'] = gen.get('_rlnRandomiseFrom', float)
    return out
