"""Training pairs: simulated mid-refinement half-maps and their honest targets (numpy only).

A *truth* is the electron potential of an atomic model on the network's grid.
:func:`simulate_pair` turns it into

- **input**: the truth blurred by a B-factor, with coloured Gaussian noise scaled so
  that the per-shell SNR at the map's resolution R is that of a half-map at FSC 0.143
  (SNR ~ 0.17); zeroed beyond RELION's current image size (sometimes) and beyond the
  Nyquist of the original voxel size (0.8-3 Å); sometimes the signal is also low-passed at
  X > R (the data then hold nothing beyond X); sometimes pure noise. The noise has one of
  three spectra: a power law in resolution; *signal-shaped* (the truth's own spectrum, the
  SNR falling as a Gaussian in resolution, as in a reconstruction whose images lose
  signal by a B-factor envelope); or *CTF-coloured* (power 1/<CTF²> over a random defocus
  range, as in a reconstruction from few CTF-weighted images). Sometimes the map is then
  *damped* per shell by SNR/(1+SNR), as RELION's regularized reconstruction hands it over;
- **target**: the unblurred truth low-passed at the input's *effective* resolution
  (R, or X when the signal stops there), nothing beyond, and zero for pure noise: the
  network learns to denoise and sharpen within the band the data support, never to add
  detail beyond it.

Both are normalized as :mod:`.inference` normalizes a map (by the input's noise statistics).
"""
import numpy as np

from relion_dem.core.maths import fourier
from relion_dem.core.network import inference

#: ranges of the simulation (Å, Å², fractions)
SIM_DEFAULTS = dict(resolution=(2.5, 12.0), input_voxel=(0.8, 3.0), bfactor=(0.0, 150.0),
                    snr_at_resolution=(0.10, 0.25), noise_slope=(-1.5, 1.0),
                    p_cutoff=0.5, cutoff_factor=(1.15, 2.0), p_lowpass=0.25,
                    lowpass_factor=(1.2, 2.5), p_pure_noise=0.05, target_edge=0.15,
                    spectra=(('power', 0.4), ('signal', 0.3), ('ctf', 0.3)), p_damped=0.4,
                    snr_bfactor=(0.0, 250.0), defocus_um=(0.5, 3.5), ctf_floor=(0.01, 0.1))
#: electron wavelength (Å) at 300 kV and spherical aberration (Å) of the CTF-coloured spectrum
WAVELENGTH_300KV, CS_A = 0.0197, 2.7e7


def _shell_mean(power, idx, nshell):
    total = np.bincount(idx.ravel(), weights=power.ravel(), minlength=nshell)[:nshell]
    count = np.bincount(idx.ravel(), minlength=nshell)[:nshell]
    return total / np.maximum(count, 1)


def mean_ctf2(s, defocus_A, envelope_b=0.0, floor=0.02):
    """<CTF²> over the defocus values ``defocus_A`` (300 kV, Cs 2.7 mm, 10 % amplitude contrast)
    times a B-factor envelope, floored so that noise coloured by its inverse stays finite."""
    out = np.zeros_like(s)
    for d in defocus_A:
        chi = np.pi * WAVELENGTH_300KV * d * s ** 2 - 0.5 * np.pi * CS_A * WAVELENGTH_300KV ** 3 * s ** 4
        out += (np.sqrt(0.99) * np.sin(chi) + 0.1 * np.cos(chi)) ** 2
    return np.maximum(out / len(defocus_A) * np.exp(-envelope_b * s ** 2 / 2.0), floor)


def fixed_params(input_voxel, resolution, bfactor, snr=1 / 6.0, slope=0.0, **kw):
    """Simulation parameters of one fixed condition (validation, benchmarks, tests): a half-map at
    ``resolution`` (FSC 0.143) with B ``bfactor``; ``kw`` sets ``cutoff``, ``lowpass``,
    ``pure_noise``, or the noise ``spectrum`` ('power', 'signal', 'ctf') and ``damped``."""
    p = dict(input_voxel=input_voxel, resolution=resolution, bfactor=bfactor, snr=snr, slope=slope,
             cutoff=None, lowpass=None, pure_noise=False, target_edge=SIM_DEFAULTS['target_edge'],
             spectrum='power', damped=False, snr_bfactor=100.0, defocus=(8000.0, 25000.0),
             ctf_envelope=100.0, ctf_floor=0.02)
    unknown = set(kw) - set(p)
    if unknown:
        raise TypeError('unknown simulation parameter(s): %s' % ', '.join(sorted(unknown)))
    p.update(kw)
    return p


def draw_params(rng, voxel_size, options=None):
    """One random set of simulation parameters."""
    o = dict(SIM_DEFAULTS)
    o.update(options or {})
    v_in = float(rng.uniform(*o['input_voxel']))
    lo = max(o['resolution'][0], 2.1 * max(v_in, voxel_size))
    hi = max(o['resolution'][1], lo)
    p = dict(input_voxel=v_in,
             resolution=float(np.exp(rng.uniform(np.log(lo), np.log(hi)))),
             bfactor=float(rng.uniform(*o['bfactor'])),
             snr=float(rng.uniform(*o['snr_at_resolution'])),
             slope=float(rng.uniform(*o['noise_slope'])),
             cutoff=None, lowpass=None, pure_noise=bool(rng.random() < o['p_pure_noise']),
             target_edge=o['target_edge'])
    names, weights = zip(*o['spectra'])
    p['spectrum'] = str(names[rng.choice(len(names), p=np.array(weights) / np.sum(weights))])
    p['damped'] = bool(rng.random() < o['p_damped'])
    p['snr_bfactor'] = float(rng.uniform(*o['snr_bfactor']))
    lo = float(rng.uniform(o['defocus_um'][0], 0.6 * o['defocus_um'][1]))
    p['defocus'] = (1e4 * lo, 1e4 * float(rng.uniform(lo + 0.3, o['defocus_um'][1])))
    p['ctf_envelope'] = float(rng.uniform(*o['bfactor']))
    p['ctf_floor'] = float(np.exp(rng.uniform(*np.log(o['ctf_floor']))))
    if rng.random() < o['p_cutoff']:
        p['cutoff'] = p['resolution'] / float(rng.uniform(*o['cutoff_factor']))
    if rng.random() < o['p_lowpass']:
        p['lowpass'] = p['resolution'] * float(rng.uniform(*o['lowpass_factor']))
    return p


def simulate_pair(truth, voxel_size, rng, params=None, options=None):
    """(input, target, params): normalized float32 maps of ``truth``'s box (see module doc)."""
    p = dict(params) if params else draw_params(rng, voxel_size, options)
    n = truth.shape[0]
    r = fourier.radial_frequency(truth.shape)
    s = r / (n * float(voxel_size))
    idx = np.round(r).astype(np.int32)
    nshell = n // 2 + 1
    ft = np.fft.rfftn(truth)
    fs = ft * np.exp(-p['bfactor'] * s ** 2 / 4.0)
    effective = p['resolution']
    if p.get('lowpass'):
        fs = fs * fourier.lowpass_weights(s, p['lowpass'], 0.05)
        effective = max(effective, p['lowpass'])
    # coloured noise, scaled to the chosen SNR in the shell at the resolution
    noise = np.fft.rfftn(rng.standard_normal(truth.shape).astype(np.float32)).astype(np.complex128)
    s_res = 1.0 / p['resolution']
    spectrum = p.get('spectrum', 'power')
    if spectrum == 'signal':   # the truth's spectrum, SNR falling as exp(-B_snr s²/2) on top of the blur
        shape = np.sqrt(_shell_mean(np.abs(ft) ** 2, idx, nshell)[np.minimum(idx, nshell - 1)]
                        * np.exp(np.minimum(p['snr_bfactor'] * s ** 2 / 2.0, 30.0)))
    elif spectrum == 'ctf':
        shape = 1.0 / np.sqrt(mean_ctf2(s, np.linspace(p['defocus'][0], p['defocus'][1], 12),
                                        p['ctf_envelope'], p['ctf_floor']))
    else:
        shape = (np.maximum(s, 0.1 * s_res) / s_res) ** p['slope']
    noise *= shape
    k = min(int(round(n * voxel_size / p['resolution'])), nshell - 1)
    ps = _shell_mean(np.abs(ft * np.exp(-p['bfactor'] * s ** 2 / 4.0)) ** 2, idx, nshell)[k]
    pn = _shell_mean(np.abs(noise) ** 2, idx, nshell)[k]
    noise *= np.sqrt(ps / (p['snr'] * pn))
    fin = noise if p['pure_noise'] else fs + noise
    if p.get('damped') and not p['pure_noise']:
        # RELION's regularized reconstruction: each shell weighted by SNR/(1+SNR)
        snr = _shell_mean(np.abs(fs) ** 2, idx, nshell) / np.maximum(_shell_mean(np.abs(noise) ** 2, idx, nshell), 1e-30)
        fin = fin * (snr / (1.0 + snr))[np.minimum(idx, nshell - 1)]
    limit = 0.5 / max(p['input_voxel'], voxel_size) * 0.999
    if p.get('cutoff'):
        limit = min(limit, 1.0 / p['cutoff'])
    fin = fin * (s <= limit)
    x = np.fft.irfftn(fin, s=truth.shape, axes=(0, 1, 2)).astype(np.float32)
    if p['pure_noise']:
        target = np.zeros_like(truth, dtype=np.float32)
    else:
        target = np.fft.irfftn(ft * fourier.lowpass_weights(s, effective, p['target_edge']), s=truth.shape, axes=(0, 1, 2))
    xn, stats = inference.normalize(x)
    tn = (target / (stats[1] / inference.NOISE_STD_NORMALIZED)).astype(np.float32)
    p['effective_resolution'] = effective
    p['noise_std'] = stats[1]
    return xn, tn, p


def random_rotation(rng):
    """A uniformly random 3x3 rotation matrix."""
    q = rng.standard_normal(4)
    q /= np.linalg.norm(q)
    a, b, c, d = q
    return np.array([[a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)],
                     [2 * (b * c + a * d), a * a - b * b + c * c - d * d, 2 * (c * d - a * b)],
                     [2 * (b * d - a * c), 2 * (c * d + a * b), a * a - b * b - c * c + d * d]])


def rotated_truth(path_or_structure, box, voxel_size, rotation=None, b_gradient=0.0):
    """Potential map (float32, scaled to unit std) of the model turned by ``rotation`` about its centre.

    ``b_gradient`` (Å²) adds ``b_gradient * (r / r_max)²`` to each atom's B-factor, r its distance
    from the centre: the periphery of a real map is blurrier than its core (flexible parts)."""
    import gemmi
    from relion_dem.core.simulation import density
    st = (density.read_model(path_or_structure) if not hasattr(path_or_structure, 'clone')
          else path_or_structure.clone())
    if rotation is not None or b_gradient:
        pos = density.atom_positions(st)
        centre = pos.mean(0)
        r_max = max(float(np.sqrt(((pos - centre) ** 2).sum(1)).max()), 1.0)
        rot = np.eye(3) if rotation is None else rotation
        for ch in st[0]:
            for res in ch:
                for atom in res:
                    d = np.array(atom.pos.tolist()) - centre
                    atom.pos = gemmi.Position(*(np.dot(rot, d) + centre))
                    atom.b_iso = float(atom.b_iso + b_gradient * float(np.dot(d, d)) / r_max ** 2)
    m = density.potential_map(st, box, voxel_size)
    return (m / m.std()).astype(np.float32)
