"""A user-supplied program as enhancer.

``enhancer_options = {"argv": ["prog", "--in", "{input}", "--out", "{output}", "--apix", "{voxel_size}"]}``
Placeholders: {input} {output} {voxel_size} {resolution} {iteration} {half} {star}.
Run as an argument list: no shell, so paths with spaces or metacharacters are safe.
"""
import shutil

from relion_dem.core.enhancers.base import Enhancer, EnhancerError
from relion_dem.core.enhancers.registry import register


@register
class CommandEnhancer(Enhancer):
    """A program of yours, given as an argument list with placeholders."""
    name = 'command'
    label = 'a program of yours (option argv)'
    methods = 'The half-maps were denoised by a user-supplied program.'
    doctor_check = False   # needs the user's argv
    options = {'argv': None}

    def __init__(self, options=None):
        super().__init__(options)
        argv = self.opts['argv']
        if not argv or not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
            raise EnhancerError('enhancer command: option argv must be a list of strings')

    def check(self):
        """EnhancerError if the program is not found."""
        if shutil.which(self.opts['argv'][0]) is None:
            raise EnhancerError('enhancer command: program %r not found' % self.opts['argv'][0])

    def command(self, input_path, output_path, ctx):
        """The argument list with its placeholders filled."""
        values = dict(input=input_path, output=output_path, voxel_size=ctx.voxel_size,
                      resolution=ctx.resolution, iteration=ctx.iteration,
                      half=ctx.half if ctx.half else 'final', star=ctx.star)
        return [a.format(**values) for a in self.opts['argv']]

    def describe(self):
        """``command:PROGRAM``."""
        return 'command:%s' % self.opts['argv'][0]
