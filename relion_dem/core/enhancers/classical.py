"""Backend ``classical``: a network-free regularizer, FSC-weighted filter + automatic solvent
flattening; the backend class and the program it runs.

1. Each Fourier shell is weighted by sqrt(2·FSC / (1 + FSC)) (Rosenthal & Henderson's
   C_ref), using the gold-standard FSC of the current iteration from the call's STAR;
2. a soft mask is made from the map low-passed to 15 Å and thresholded at
   ``threshold_sigma`` standard deviations, dilated by ``dilate_A`` Å with a soft edge;
   the solvent outside is flattened to its mean.

The backend runs ``python -m relion_dem.core.enhancers.classical IN OUT --star STAR [--voxel-size A]``.
"""
import argparse
import sys

import numpy as np
from scipy import ndimage

from relion_dem.core.enhancers.base import Enhancer
from relion_dem.core.enhancers.registry import register

FILTER_DEFAULTS = {'threshold_sigma': 1.0, 'dilate_A': 6.0, 'edge_A': 6.0, 'mask_lowpass_A': 15.0}


def fsc_weights(fsc):
    """Weight of each shell, sqrt(2·FSC / (1 + FSC)), the FSC clipped to [0, 1]."""
    fsc = np.clip(np.asarray(fsc, dtype=float), 0.0, 1.0)
    return np.sqrt(2 * fsc / (1 + fsc))


def solvent_mask(data, voxel_size, threshold_sigma=1.0, dilate_A=6.0, edge_A=6.0, mask_lowpass_A=15.0):
    """Soft (0..1) mask of the molecule, from a low-passed, thresholded copy of ``data``."""
    from relion_dem.core.maths import fourier
    smooth = fourier.lowpass(data, voxel_size, max(mask_lowpass_A, 2.5 * voxel_size))
    core = smooth > smooth.mean() + threshold_sigma * smooth.std()
    if not core.any():
        return np.ones_like(data)
    labels, n = ndimage.label(core)
    if n > 1:  # keep the largest blobs (drop isolated noise specks)
        sizes = ndimage.sum(core, labels, range(1, n + 1))
        core = np.isin(labels, 1 + np.nonzero(sizes >= 0.05 * sizes.max())[0])
    dist = ndimage.distance_transform_edt(~core) * voxel_size
    edge = max(edge_A, voxel_size)
    w = np.clip((dilate_A + edge - dist) / edge, 0.0, 1.0)
    return (0.5 - 0.5 * np.cos(np.pi * w)).astype(np.float32)


def regularize(data, voxel_size, fsc=None, **opts):
    """``data`` FSC-weighted (when ``fsc`` is given) and solvent-flattened."""
    from relion_dem.core.maths import fourier
    out = data
    if fsc is not None and len(fsc):
        out = fourier.apply_shell_weights(out, fsc_weights(fsc))
    mask = solvent_mask(out, voxel_size, **opts)
    solvent = float((out * (1 - mask)).sum() / max((1 - mask).sum(), 1.0))
    return (out * mask + solvent * (1 - mask)).astype(np.float32)


@register
class ClassicalEnhancer(Enhancer):
    """FSC-weighted low-pass and solvent flattening, no network."""
    name = 'classical'
    label = 'classical filter (no network)'
    form_index = 5
    methods = ('The classical filter of relion_dem weighted each Fourier shell by sqrt(2 FSC / (1 + FSC)) '
               'and flattened the solvent outside an automatic soft mask.')
    options = dict(FILTER_DEFAULTS)

    def command(self, input_path, output_path, ctx):
        """``python -m relion_dem.core.enhancers.classical IN OUT --voxel-size A [--star STAR] --OPTION V...``"""
        argv = [sys.executable, '-m', 'relion_dem.core.enhancers.classical', input_path, output_path,
                '--voxel-size', str(ctx.voxel_size)]
        if ctx.star:
            argv += ['--star', ctx.star]
        for key, value in sorted(self.opts.items()):
            argv += ['--' + key.replace('_', '-'), str(value)]
        return argv


def main(argv=None):
    """The program: read IN, write the filtered OUT."""
    from relion_dem.core.io import mrc, star
    p = argparse.ArgumentParser(prog='relion_dem classical filter', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('input')
    p.add_argument('output')
    p.add_argument('--star', help='external-reconstruct STAR holding the gold-standard FSC')
    p.add_argument('--voxel-size', type=float)
    for key, value in FILTER_DEFAULTS.items():
        p.add_argument('--' + key.replace('_', '-'), type=float, default=value)
    a = p.parse_args(argv)
    data, voxel = mrc.read(a.input, cubic=True)
    voxel = a.voxel_size or voxel
    fsc = None
    if a.star:
        tau = star.block(star.read(a.star), 'external_reconstruct_tau2')
        fsc = tau.column('_rlnGoldStandardFsc', float)
    opts = {k: getattr(a, k) for k in FILTER_DEFAULTS}
    mrc.write(a.output, regularize(data, voxel, fsc, **opts), voxel)
    return 0


if __name__ == '__main__':
    sys.exit(main())
