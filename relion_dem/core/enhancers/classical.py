"""The ``classical`` backend: FSC-weighted filter + solvent flattening, no network
(see :mod:`relion_dem.core.enhancers.classical_filter`)."""
import sys

from relion_dem.core.enhancers.classical_filter import FILTER_DEFAULTS
from relion_dem.core.enhancers.base import Enhancer


class ClassicalEnhancer(Enhancer):
    name = 'classical'
    options = dict(FILTER_DEFAULTS)

    def command(self, input_path, output_path, ctx):
        argv = [sys.executable, '-m', 'relion_dem.core.enhancers.classical_filter', input_path, output_path,
                '--voxel-size', str(ctx.voxel_size)]
        if ctx.star:
            argv += ['--star', ctx.star]
        for key, value in sorted(self.opts.items()):
            argv += ['--' + key.replace('_', '-'), str(value)]
        return argv
