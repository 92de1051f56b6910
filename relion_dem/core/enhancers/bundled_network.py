"""Backends ``network`` (the network bundled with relion_dem) and ``keras`` (a user's Keras model).

Both run the network with the python of the *network environment* (``relion_dem
install-network``), never in this process: TensorFlow must not load next to Scipion's
numpy and scipy. By default a persistent server (:mod:`relion_dem.core.network.service`)
keeps TensorFlow and the model loaded across calls and halves; with ``persistent: false``
each call runs the one-shot :mod:`relion_dem.core.network.worker`. Both are run by file
path with ``-E -s`` so that a PYTHONPATH set for Scipion cannot leak into that environment.

Options (``network``):

- ``model``: Keras model file (default: the shipped ``weights/relion_dem_unet.keras``);
- ``python``: the environment's python (default ``$RELION_DEM_NETWORK_PYTHON``, else
  ``~/.relion_dem/netenv/bin/python`` or ``$RELION_DEM_NETENV/bin/python``);
- ``batch_size``: cubes per network call; ``threads``: TensorFlow CPU threads (0: default);
- ``noise_stats``: ``[mean, std]`` of the input's noise (default: measured);
- ``keep_beyond_nyquist``: keep the input's shells beyond the network grid's Nyquist;
- ``whole_up_to``: maps whose padded box at the network's voxel size is at most this many
  voxels are predicted whole, larger ones by overlapping cubes (default: the worker's, 192;
  0: always cubes; lower it where memory is short: 192 takes about 3 GB);
- ``solvent_mask``: where RELION flattens the solvent (its optimiser STAR says so), denoise only
  inside its spherical solvent mask, soft edge included, since RELION zeroes the reference
  beyond it (default true; false: the whole box, as deepEMhancer does);
- ``input_lowpass``: the network sees its input tapered beyond the data's resolution (the
  gold-standard FSC's 1/7 crossing; default true): beyond it the FSC guard keeps the plain map
  anyway, and the noise there would otherwise set the network's input scale;
- ``persistent``: serve calls from one loaded model (default true); ``idle_s``: seconds the
  server waits for the next call before it exits (default 600).

``keras`` takes the same options (``whole_up_to`` 0 by default), ``model`` required, plus
``net_voxel_size``, ``cube`` and ``overlap`` (read from ``MODEL.json`` beside the model when
present; deepEMhancer's 1 Å, 64, 16 otherwise).
"""
import os

from relion_dem.core.network import SHIPPED_MODEL, install
from relion_dem.core.enhancers.base import Enhancer, EnhancerError
from relion_dem.core.enhancers.registry import register

NETWORK_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'network')
WORKER = os.path.join(NETWORK_DIR, 'worker.py')
SERVICE = os.path.join(NETWORK_DIR, 'service.py')


@register
class NetworkEnhancer(Enhancer):
    """The 3D U-Net shipped with relion_dem, run on the CPU in its own environment."""
    name = 'network'
    label = 'bundled network (CPU)'
    form_index = 0
    install_hint = 'relion_dem install-network'
    # the Scipion binary of relion_dem.constants.NETWORK_PACKAGE (a core module never imports it)
    scipion_install_hint = 'scipion3 installb relion_dem_network   (or: relion_dem install-network)'
    methods = ('The denoiser was the 3D U-Net shipped with relion_dem, trained on simulated half-maps, '
               'run on the CPU.')
    options = dict(model=None, python=None, batch_size=4, threads=0, noise_stats=None,
                   keep_beyond_nyquist=True, whole_up_to=None, solvent_mask=True, persistent=True, idle_s=600,
                   input_lowpass=True)

    def __init__(self, options=None):
        super().__init__(options)
        b = self.opts['batch_size']
        if not isinstance(b, int) or isinstance(b, bool) or b < 1:
            raise EnhancerError('enhancer %s: batch_size must be a positive integer, got %r' % (self.name, b))
        t = self.opts['threads']
        if not isinstance(t, int) or isinstance(t, bool) or t < 0:
            raise EnhancerError('enhancer %s: threads must be an integer >= 0, got %r' % (self.name, t))
        ns = self.opts['noise_stats']
        if ns is not None and (not isinstance(ns, (list, tuple)) or len(ns) != 2
                               or not all(isinstance(v, (int, float)) for v in ns) or not ns[1] > 0):
            raise EnhancerError('enhancer %s: noise_stats must be [mean, std] with std > 0, got %r'
                                % (self.name, ns))
        w = self.opts['whole_up_to']
        if w is not None and (not isinstance(w, int) or isinstance(w, bool) or w < 0):
            raise EnhancerError('enhancer %s: whole_up_to must be an integer >= 0, got %r' % (self.name, w))
        for key in ('persistent', 'solvent_mask', 'input_lowpass'):
            if not isinstance(self.opts[key], bool):
                raise EnhancerError('enhancer %s: %s must be true or false, got %r' % (self.name, key, self.opts[key]))
        idle = self.opts['idle_s']
        if not isinstance(idle, (int, float)) or isinstance(idle, bool) or not idle > 0:
            raise EnhancerError('enhancer %s: idle_s must be a number of seconds > 0, got %r' % (self.name, idle))

    @property
    def model(self):
        """Absolute path of the Keras model file."""
        return os.path.abspath(os.path.expanduser(self.opts['model'] or SHIPPED_MODEL))

    @property
    def python(self):
        """The network environment's python."""
        return os.path.expanduser(self.opts['python'] or install.default_python())

    def command(self, input_path, output_path, ctx):
        """The worker's (or the persistent server's) argument list for this call."""
        if self.opts['persistent']:
            head = [self.python, '-E', '-s', SERVICE, '--idle', repr(float(self.opts['idle_s'])), '--']
        else:
            head = [self.python, '-E', '-s', WORKER]
        argv = head + ['--input', input_path, '--output', output_path,
                '--voxel-size', repr(float(ctx.voxel_size)), '--model', self.model,
                '--batch-size', str(self.opts['batch_size'])]
        if self.opts['threads']:
            argv += ['--threads', str(self.opts['threads'])]
        if self.opts['noise_stats'] is not None:
            argv += ['--noise-stats'] + [repr(float(v)) for v in self.opts['noise_stats']]
        if not self.opts['keep_beyond_nyquist']:
            argv.append('--no-keep-beyond-nyquist')
        if self.opts['whole_up_to'] is not None:
            argv += ['--whole-up-to', str(self.opts['whole_up_to'])]
        if self.opts['solvent_mask'] and getattr(ctx, 'support_radius', None):
            argv += ['--support-radius', repr(round(float(ctx.support_radius), 3))]
        if self.opts['input_lowpass'] and getattr(ctx, 'fsc', None) is not None and len(ctx.fsc) > 2:
            from relion_dem.core.network.inference import data_resolution
            argv += ['--input-lowpass', repr(round(data_resolution(ctx.fsc, ctx.voxel_size, ctx.threshold), 3))]
        return argv + self._extra()

    def _extra(self):
        return []

    def check(self):
        """EnhancerError (with the fix) if the model file or the network environment is missing."""
        if not os.path.exists(self.model):
            raise EnhancerError('enhancer %s: model file %s does not exist%s'
                                % (self.name, self.model, '' if self.opts['model'] else
                                   ' (the package was installed without its weights; reinstall relion_dem)'))
        why = install.env_status(self.python)
        if why:
            raise EnhancerError('enhancer %s: network environment unusable: %s. Create it with '
                                '`relion_dem install-network` (or set RELION_DEM_NETWORK_PYTHON, or the '
                                'enhancer option python, to a python with tensorflow, numpy, scipy and mrcfile)'
                                % (self.name, why))

    def describe(self):
        """``NAME:MODEL``."""
        return '%s:%s' % (self.name, os.path.splitext(os.path.basename(self.model))[0])


@register
class KerasEnhancer(NetworkEnhancer):
    """A Keras model file of yours, run like the bundled network."""
    name = 'keras'
    label = 'custom Keras model'
    form_index = 4
    scipion_install_hint = 'scipion3 installb relion_dem_network   (the custom model runs in the network environment)'
    user_model = True
    doctor_check = False   # needs the user's model file
    methods = 'The denoiser was a user-provided Keras model, applied as relion_dem applies its bundled network.'
    #: a user's model may take fixed-size cubes only: always cubes unless told otherwise
    options = dict(NetworkEnhancer.options, net_voxel_size=None, cube=None, overlap=None, whole_up_to=0)

    def __init__(self, options=None):
        super().__init__(options)
        if not self.opts['model']:
            raise EnhancerError('enhancer keras: option model (a Keras model file) is required')
        for key in ('net_voxel_size', 'cube', 'overlap'):
            v = self.opts[key]
            if v is not None and (not isinstance(v, (int, float)) or isinstance(v, bool) or v <= 0
                                  and not (key == 'overlap' and v == 0)):
                raise EnhancerError('enhancer keras: %s must be a positive number, got %r' % (key, v))

    def _extra(self):
        extra = []
        if self.opts['net_voxel_size'] is not None:
            extra += ['--net-voxel-size', repr(float(self.opts['net_voxel_size']))]
        for key in ('cube', 'overlap'):
            if self.opts[key] is not None:
                extra += ['--' + key, str(int(self.opts[key]))]
        return extra

