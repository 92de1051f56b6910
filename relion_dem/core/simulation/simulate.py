"""Synthetic cryo-EM data with a known truth.

atomic model -> electron-potential truth map -> particles projected by
``relion_project`` with CTF at known angles and shifts -> seeded white noise at a
stated SNR. The initial reference is the truth low-passed to 40 Å. Everything
is written into one folder, described by ``dataset.json``.
"""
import json
import os

import numpy as np

from relion_dem.core.simulation import assembly, density
from relion_dem.core.maths import fourier
from relion_dem.core.io import mrc, star
from relion_dem.core.io.relion import run as run_relion

SIMULATION_DEFAULTS = dict(box=48, voxel_size=2.0, n_particles=1000, snr=0.05, seed=1,
                           cone_deg=None, defocus_um=(0.6, 1.4), max_shift_A=4.0,
                           bfactor=0.0, lowpass_A=None, initial_lowpass_A=40.0,
                           voltage=300.0, cs=2.7, amplitude_contrast=0.1, pure_noise=False,
                           symmetry='C1', start_angle_sd_deg=None, start_shift_sd_A=None)


def random_orientations(n, rng, cone_deg=None):
    """Euler angles (rot, tilt, psi) in degrees: uniform on the sphere, or tilt within a cone."""
    rot = rng.uniform(0, 360, n)
    psi = rng.uniform(0, 360, n)
    lowest = np.cos(np.radians(cone_deg)) if cone_deg else -1.0
    tilt = np.degrees(np.arccos(rng.uniform(lowest, 1.0, n)))
    return rot, tilt, psi


def perturbed_poses(rot, tilt, psi, sx, sy, angle_sd_deg, shift_sd_A, rng):
    """(rot, tilt, psi, x, y): each orientation turned about a random axis by a rotation vector
    with normal components of ``angle_sd_deg`` (median angle ~1.54 sd), each origin moved by
    normal ``shift_sd_A`` per axis."""
    from scipy.spatial.transform import Rotation
    from relion_dem.core.maths import euler
    n = len(rot)
    error = Rotation.from_rotvec(rng.normal(0.0, np.radians(angle_sd_deg), (n, 3))).as_matrix()
    r, t, p = euler.from_matrices(error @ euler.matrices(rot, tilt, psi))
    dx, dy = rng.normal(0.0, shift_sd_A, (2, n))
    return r, t, p, sx + dx, sy + dy


def optics_block(voxel_size, box, voltage=300.0, cs=2.7, amplitude_contrast=0.1):
    """RELION's optics block of the simulated particles (one optics group)."""
    return star.Block('optics', labels=[
        '_rlnOpticsGroupName', '_rlnOpticsGroup', '_rlnMicrographOriginalPixelSize',
        '_rlnVoltage', '_rlnSphericalAberration', '_rlnAmplitudeContrast',
        '_rlnImagePixelSize', '_rlnImageSize', '_rlnImageDimensionality'],
        rows=[['opticsGroup1', 1, voxel_size, voltage, cs, amplitude_contrast,
               voxel_size, box, 2]])


def simulate(model, outdir, **options):
    """Simulate a data set from ``model`` into ``outdir``; return its description dict.

    Options (see ``SIMULATION_DEFAULTS``): ``box``, ``voxel_size`` (Å), ``n_particles``,
    ``snr`` (signal variance of CTF-modulated projections over the box / noise
    variance), ``seed``, ``cone_deg`` (tilt-cone half angle, None for uniform),
    ``defocus_um`` (range), ``max_shift_A``, ``bfactor`` (Å²), ``lowpass_A``
    (particles made from the truth low-passed there, for controls),
    ``pure_noise`` (particles with no signal at all), ``symmetry`` (a point group: the model as
    it is when it is symmetric in RELION's frame, else the exact Cn assembly of its first chain;
    written as ``model.pdb``; :mod:`relion_dem.core.simulation.assembly`),
    ``start_angle_sd_deg`` / ``start_shift_sd_A`` (``particles.star`` then carries the true
    orientations and origins perturbed by these, as a consensus refinement hands them to a local
    one: :func:`perturbed_poses`).
    """
    opt = dict(SIMULATION_DEFAULTS)
    unknown = set(options) - set(opt)
    if unknown:
        raise TypeError('unknown simulation options: %s' % ', '.join(sorted(unknown)))
    opt.update(options)
    os.makedirs(outdir, exist_ok=True)
    rng = np.random.default_rng(opt['seed'])
    box, apix = int(opt['box']), float(opt['voxel_size'])

    st = density.read_model(model)
    source_model = os.path.abspath(os.fspath(model))
    if assembly.order(opt['symmetry']) > 1:
        st = assembly.build(st, opt['symmetry'])
        model = os.path.join(outdir, 'model.pdb')
        st.write_pdb(model)
    diameter = 2 * density.model_extent(st)
    truth = density.potential_map(st, box, apix, bfactor=opt['bfactor'])
    truth /= truth.std()
    mrc.write(os.path.join(outdir, 'truth.mrc'), truth, apix)
    mrc.write(os.path.join(outdir, 'initial.mrc'),
              fourier.lowpass(truth, apix, opt['initial_lowpass_A']), apix)
    source = truth
    if opt['lowpass_A']:
        source = fourier.lowpass(truth, apix, opt['lowpass_A'])
    mrc.write(os.path.join(outdir, 'source.mrc'), source, apix)

    n = int(opt['n_particles'])
    rot, tilt, psi = random_orientations(n, rng, opt['cone_deg'])
    sx, sy = rng.uniform(-opt['max_shift_A'], opt['max_shift_A'], (2, n))
    lo, hi = opt['defocus_um']
    du = rng.uniform(lo, hi, n) * 1e4
    dv = du * rng.uniform(0.97, 1.03, n)
    dang = rng.uniform(0, 180, n)
    optics = optics_block(apix, box, opt['voltage'], opt['cs'], opt['amplitude_contrast'])
    labels = ['_rlnImageName', '_rlnMicrographName', '_rlnAngleRot', '_rlnAngleTilt',
              '_rlnAnglePsi', '_rlnOriginXAngst', '_rlnOriginYAngst', '_rlnDefocusU',
              '_rlnDefocusV', '_rlnDefocusAngle', '_rlnOpticsGroup']
    rows = [['%06d@particles.mrcs' % (i + 1), 'mic%03d.mrc' % (i // 100 + 1),
             '%.4f' % rot[i], '%.4f' % tilt[i], '%.4f' % psi[i], '%.4f' % sx[i], '%.4f' % sy[i],
             '%.2f' % du[i], '%.2f' % dv[i], '%.2f' % dang[i], 1] for i in range(n)]
    truth_star = os.path.join(outdir, 'truth_particles.star')
    star.write(truth_star, [optics, star.Block('particles', labels=labels, rows=rows)])

    run_relion(['relion_project', '--i', 'source.mrc', '--o', 'clean', '--ang',
                'truth_particles.star', '--ctf', '--angpix', apix], cwd=outdir)
    clean, _ = _read_stack(os.path.join(outdir, 'clean.mrcs'))
    signal_var = float(clean.var())
    noise_sd = float(np.sqrt(signal_var / opt['snr']))
    noise = rng.normal(0.0, noise_sd, clean.shape).astype(np.float32)
    images = noise if opt['pure_noise'] else clean + noise
    images /= noise_sd  # as relion_preprocess --norm: background noise of unit variance
    _write_stack(os.path.join(outdir, 'particles.mrcs'), images, apix)
    os.remove(os.path.join(outdir, 'clean.mrcs'))
    for leftover in ('clean.star',):
        p = os.path.join(outdir, leftover)
        if os.path.exists(p):
            os.remove(p)

    keep = ['_rlnImageName', '_rlnMicrographName', '_rlnDefocusU', '_rlnDefocusV',
            '_rlnDefocusAngle', '_rlnOpticsGroup']
    idx = [labels.index(l) for l in keep]
    kept = [[r[i] for i in idx] for r in rows]
    if opt['start_angle_sd_deg'] is not None or opt['start_shift_sd_A'] is not None:
        poses = perturbed_poses(rot, tilt, psi, sx, sy, opt['start_angle_sd_deg'] or 0.0,
                                opt['start_shift_sd_A'] or 0.0, rng)
        keep = keep + ['_rlnAngleRot', '_rlnAngleTilt', '_rlnAnglePsi', '_rlnOriginXAngst', '_rlnOriginYAngst']
        kept = [r + ['%.4f' % v[i] for v in poses] for i, r in enumerate(kept)]
    star.write(os.path.join(outdir, 'particles.star'), [optics, star.Block('particles', labels=keep, rows=kept)])

    info = dict(opt, model=os.path.abspath(os.fspath(model)), source_model=source_model, diameter_A=round(diameter, 1),
                mask_diameter_A=round(min(box * apix * 0.9, diameter * 1.3 + 10), 1),
                signal_var=signal_var, noise_sd=noise_sd,
                truth='truth.mrc', initial='initial.mrc', particles='particles.star',
                truth_particles='truth_particles.star')
    info['defocus_um'] = list(opt['defocus_um'])
    with open(os.path.join(outdir, 'dataset.json'), 'w') as f:
        json.dump(info, f, indent=1)
    return info


def _read_stack(path):
    import mrcfile
    with mrcfile.open(path, permissive=True) as m:
        return np.array(m.data, dtype=np.float32), float(m.voxel_size.x)


def _write_stack(path, images, voxel_size):
    import mrcfile
    from relion_dem.core.io.atomic import atomic_output
    with atomic_output(path) as tmp:
        with mrcfile.new(tmp, overwrite=True) as m:
            m.set_data(np.ascontiguousarray(images, dtype=np.float32))
            m.set_image_stack()
            m.voxel_size = voxel_size


def load(folder):
    """The ``dataset.json`` description of a simulated data set."""
    with open(os.path.join(folder, 'dataset.json')) as f:
        return json.load(f)
