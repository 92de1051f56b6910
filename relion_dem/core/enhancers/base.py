"""The enhancer interface."""
import collections

from relion_dem.core.guards.threshold import THRESHOLD


class EnhancerError(RuntimeError):
    """The enhancer cannot be used (missing program, environment, model or bad option)."""


CallContext = collections.namedtuple(
    'CallContext', 'star iteration half voxel_size resolution fsc support_radius threshold')
CallContext.__new__.__defaults__ = (None, THRESHOLD)
CallContext.__doc__ = """What a backend may use: the call's STAR, iteration, half (None: final),
voxel size (Å), current resolution (Å), gold-standard FSC per shell, and the radius (Å) of
RELION's solvent mask, soft edge included (None when RELION does not flatten the solvent):
RELION zeroes the reference beyond it, so nothing there needs denoising; and the FSC threshold
of the guards (1/7 unless configured)."""


class Enhancer:
    name = 'base'
    #: option name -> default; unknown options are rejected
    options = {}

    def __init__(self, options=None):
        options = dict(options or {})
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            raise EnhancerError('enhancer %s: unknown option(s) %s; known: %s'
                                % (self.name, ', '.join(unknown), ', '.join(sorted(self.options)) or 'none'))
        self.opts = dict(self.options)
        self.opts.update(options)

    def command(self, input_path, output_path, ctx):
        """Argument list of the program that writes ``output_path``; None keeps the plain map."""
        raise NotImplementedError

    def check(self):
        """Raise EnhancerError with the fix if the backend cannot run here."""

    def describe(self):
        return self.name


class NoEnhancer(Enhancer):
    name = 'none'

    def command(self, input_path, output_path, ctx):
        return None
