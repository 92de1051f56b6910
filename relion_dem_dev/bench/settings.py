"""The benchmark's scales (simulation, refinement sampling, controls), the names of its runs
and metrics, and its log."""
import json
import os
import sys
import time

#: the checkout (default results and working folders are under ``benchmarks/`` there)
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUN_NAMES = ('relion', 'sidesplitter', 'dem', 'dem_post', 'oracle')
#: a run's metrics and their column titles, in the order of the results tables. ``*_masked_A``
#: and ``honesty_gap_A``: in the particle sphere, gold standard unmasked (kept as they were so
#: earlier results files compare); ``*_envelope_A``: both FSCs in the truth's envelope mask
#: (:func:`.data.envelope_mask`), the gap then compares like with like
METRIC_TITLES = (('gold_res_A', 'gold-std FSC 0.143 (Å)'), ('truth_res_A', 'map vs truth FSC 0.5 (Å)'),
                 ('truth_res_masked_A', 'in the particle sphere (Å)'),
                 ('honesty_gap_A', 'honesty gap, sphere vs unmasked (Å)'),
                 ('truth_res_envelope_A', 'in the truth\'s envelope (Å)'),
                 ('gold_res_envelope_A', 'gold-std in the envelope (Å)'),
                 ('honesty_gap_envelope_A', 'honesty gap, envelope (Å)'),
                 ('ang_err_deg', 'median ang err (°)'), ('shift_err_A', 'median shift err (Å)'),
                 ('locres_median_A', 'locres median (Å)'), ('qscore', 'Q-score'), ('iterations', 'iterations'),
                 ('regularized_iterations', 'regularized its'), ('wall_s', 'wall (s)'),
                 ('enhancer_s', 'enhancer (s)'))
METRIC_KEYS = tuple(k for k, _ in METRIC_TITLES)
#: structures held out from the network's training, monomers / asymmetric complexes first
#: (19hc and 1a28 are homodimers: near-C2 pseudo-symmetry flips half the particles by 180°)
DEFAULT_STRUCTURES = {'ci': '1BD2', 'standard': '1BD2', 'paper': '1BD2'}
#: the standard scale's structures, independent of each other and of the training set (the check:
#: :mod:`.structures`, tests/dev/test_structures.py): (id, command-line options, what it stands for).
#: 1a28 in a tilt cone was dropped: a near-C2 homodimer whose refinements converge to the
#: pseudo-symmetric mate (median angular error 100-173° in every arm and seed), so map-vs-truth
#: compares another map (the oracle was coarser than vanilla RELION on average);
#: benchmarks/results/dropped-1a28-cone40.json.
STANDARD_STRUCTURES = (('1BD2', '', '~100 kDa asymmetric complex (MHC/peptide/TCR)'),
                       ('1hvr', '--sym C2', '< 50 kDa symmetric assembly: 22 kDa C2 homodimer (HIV-1 protease), '
                                            'refined with C2'),
                       ('6Z6U', '--sym O --snr 0.1', '>= 300 kDa: 432 kDa apoferritin 24-mer, refined with O '
                                                     '(at SNR 0.15 every arm reaches Nyquist)'),
                       ('3k7pA', '--cone 40', 'tilt cone 0-40°: ~22 kDa monomer (aligns in no arm: a 40 Å '
                                              'reference does not orient a ~40 Å protein; uniform at SNR 1.0 '
                                              'vanilla RELION too ends 139° off)'),
                       ('1BD2', '--cone 40', 'tilt cone 0-40° that aligns: the ~100 kDa complex'))

#: Each scale: simulation, refinement sampling, controls. ``n`` of a control: particles per
#: control data set (controls answer yes/no questions and need fewer particles).
SCALES = {
    'ci': dict(
        budget_min=15,
        data=dict(box=40, voxel_size=4.5, n_particles=300, snr=0.3, max_shift_A=4.0,
                  defocus_um=(1.0, 2.5), bfactor=50.0),
        refine=dict(healpix_order=1, local_healpix_order=2, offset_range=1, offset_step=1),
        lowpass_A=(15.0, 20.0, 30.0), lowpass_n=150,
        noise_snr=(0.001,), noise_n=150,
        pure_noise_n=150,
        note='tiny: box 40 at 4.5 Å (Nyquist 9 Å), 300 particles, SNR 0.3; controls with 150 '
             'particles, one extreme-noise point (the main SNR is the sweep\'s other point). '
             'Small proteins (< 30 kDa) do not align from a 40 Å reference in a 32-voxel box '
             '(median angular error > 100°), so ci uses a ~100 kDa complex.'),
    'standard': dict(
        budget_min=90,
        data=dict(box=48, voxel_size=3.6, n_particles=600, snr=0.15, max_shift_A=4.0,
                  defocus_um=(1.0, 2.5), bfactor=50.0),
        refine=dict(healpix_order=1, local_healpix_order=2, offset_range=1, offset_step=1),
        lowpass_A=(10.0, 14.0, 20.0), lowpass_n=200,
        noise_snr=(0.01, 0.001), noise_n=200,
        pure_noise_n=200,
        note='box 48 at 3.6 Å (Nyquist 7.2 Å), 600 particles at SNR 0.15 (B 50 Å², defocus 1-2.5 µm): '
             'the data and the alignment limit the resolution, not Nyquist (the oracle shows the data\'s '
             'limit); controls with 200 particles.'),
    'paper': dict(
        budget_min=None,
        data=dict(box=192, voxel_size=1.0, n_particles=20000, snr=0.05, max_shift_A=5.0,
                  defocus_um=(0.8, 2.5), bfactor=50.0),
        refine=dict(healpix_order=2, local_healpix_order=4, offset_range=5, offset_step=1),
        lowpass_A=(4.0, 6.0, 8.0), lowpass_n=5000,
        noise_snr=(0.05, 0.02, 0.01, 0.005, 0.002, 0.001), noise_n=5000,
        pure_noise_n=5000,
        note='mirrors the paper (Ramirez-Aportela et al. IUCrJ 2022): a large complex '
             '(β-galactosidase-like sizes: here 1BD2/3PWP, ~100 kDa) at 1 Å/pixel, tens of '
             'thousands of particles, a uniform run and a tilt-cone run (0-40°, as the '
             'anisotropic proteasome); needs a workstation (days on 2 cores). Not run here.'),
}


def result_id(structure, cone=None):
    """The name of a result (``<scale>-<id>.json``): the structure, and ``-cone<deg>`` for tilt-cone
    data (a structure may be run uniform and in a cone)."""
    return structure + ('-cone%g' % cone if cone else '')


def standard_result_ids():
    """The result names of :data:`STANDARD_STRUCTURES`, in order."""
    out = []
    for sid, options, _ in STANDARD_STRUCTURES:
        words = options.split()
        out.append(result_id(sid, float(words[words.index('--cone') + 1]) if '--cone' in words else None))
    return out


def settings_for(scale, snr=None, cone=None, particles=None, sym=None):
    """A copy of the scale's settings with the command line's overrides."""
    s = json.loads(json.dumps(SCALES[scale]))
    if sym and sym.upper() != 'C1':
        s['data']['symmetry'] = sym.upper()
    if snr is not None:
        s['data']['snr'] = snr
    if particles:
        s['data']['n_particles'] = particles
    s['data']['cone_deg'] = cone
    s['data']['defocus_um'] = tuple(s['data']['defocus_um'])
    return s


def log(msg):
    sys.stdout.write('[bench %s] %s\n' % (time.strftime('%H:%M:%S'), msg))
    sys.stdout.flush()
