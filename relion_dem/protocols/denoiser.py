# **************************************************************************
# * relion_dem: RELION 3D auto-refine regularized in the loop by a denoiser
# * (Ramirez-Aportela, Carazo & Sorzano, IUCrJ 2022). GPL-3.
# **************************************************************************
"""The denoiser choice shared by the refine and the denoise protocols: form parameters,
backend options from the form and the plugin's variables, validation with install hints."""
import contextlib
import json
import os

import pyworkflow.protocol.params as params

from relion_dem import constants as C

INSTALL_HINT = {
    'network': 'scipion3 installb %s   (or: relion_dem install-network)' % C.NETWORK_PACKAGE,
    'deepemhancer': 'scipion3 installb %s   (or set %s and %s to an existing deepEMhancer '
                    'installation, e.g. Xmipp\'s: scipion3 installb xmippDLTK)'
                    % (C.DEEPEMHANCER_PACKAGE, C.RELION_DEM_DEEPEMHANCER_ACTIVATION,
                       C.RELION_DEM_DEEPEMHANCER_MODELS),
    'keras': 'scipion3 installb %s   (the custom model runs in the network environment)'
             % C.NETWORK_PACKAGE,
}


class DenoiserChoice:
    """Mixin of a protocol that runs one of relion_dem's enhancer backends. The protocol
    defines ``getRuntimeConfig()`` (a configuration dict, see
    relion_dem.core.runtime.config.DEFAULTS)."""

    def _defineDenoiserParams(self, form, label, what):
        form.addParam('enhancer', params.EnumParam, default=self._defaultEnhancer(),
                      choices=[c[0] for c in C.ENHANCER_CHOICES],
                      label=label,
                      help=('Denoiser applied to %s.\n' % what) +
                           '*bundled network* (the default where its environment is installed, '
                           'else the classical filter): the network shipped with relion_dem '
                           '(scipion3 installb %s).\n'
                           '*deepEMhancer*: the GPU network of Sanchez-Garcia et al. (2021) with '
                           'its tightTarget, wideTarget or highRes model (scipion3 installb %s, '
                           'or Xmipp\'s deep-learning toolkit).\n'
                           '*custom Keras model*: a model file of yours, run like the bundled network.\n'
                           '*classical filter*: FSC-weighted low-pass and solvent flattening, no network.\n'
                           '*none*: no denoising (a control run).'
                           % (C.NETWORK_PACKAGE, C.DEEPEMHANCER_PACKAGE))
        form.addParam('customModel', params.FileParam, default='',
                      condition='enhancer == %d' % C.ENH_KERAS,
                      label='Keras model file',
                      help='A Keras model (.h5/.keras) mapping a normalized half-map cube to a '
                           'denoised one.')

    def _defineBackendParams(self, form):
        form.addParam('demGpus', params.StringParam, default='0',
                      condition='enhancer in [%d, %d, %d]' % (C.ENH_DEM_TIGHT, C.ENH_DEM_WIDE,
                                                               C.ENH_DEM_HIGHRES),
                      label='deepEMhancer GPU ids',
                      help='GPUs for deepEMhancer, e.g. "0" or "0,1"; -1 runs it on the CPU '
                           '(slow). Independent of RELION\'s own GPU setting.')
        form.addParam('demBatchSize', params.IntParam, default=6,
                      condition='enhancer in [%d, %d, %d]' % (C.ENH_DEM_TIGHT, C.ENH_DEM_WIDE,
                                                               C.ENH_DEM_HIGHRES),
                      label='deepEMhancer batch size',
                      help='Cubes per GPU batch; lower it if the GPU runs out of memory.')
        form.addParam('enhancerTimeout', params.FloatParam, default=1800,
                      condition='enhancer != %d' % C.ENH_NONE,
                      label='Denoiser timeout (s)',
                      help='A denoiser call running longer is killed and the plain map used.')
        form.addParam('enhancerOptions', params.StringParam, default='',
                      condition='enhancer != %d' % C.ENH_NONE,
                      expertLevel=params.LEVEL_ADVANCED,
                      label='Extra denoiser options (JSON)',
                      help='Backend options as a JSON object, merged last, e.g. '
                           '{"dilate_A": 8} for the classical filter.')

    @staticmethod
    def _defaultEnhancer():
        """The bundled network where its environment exists, else the classical filter (as
        relion_dem.core.enhancers.default_enhancer; only a file check: forms open fast)."""
        from relion_dem.core.network import install
        from relion_dem.plugin import Plugin
        python = Plugin.getNetworkPython() or install.default_python()
        return C.ENH_NETWORK if os.path.exists(python) else C.ENH_CLASSICAL

    def _enhancerChoice(self):
        return C.ENHANCER_CHOICES[self.enhancer.get()]

    def getEnhancerName(self):
        return self._enhancerChoice()[1]

    def getEnhancerLabel(self):
        return self._enhancerChoice()[0]

    def _candidateOptions(self):
        """Backend options filled from the form and the plugin's variables (keys a backend
        does not declare are dropped in :meth:`_enhancerOptions`)."""
        from relion_dem.plugin import Plugin
        name = self.getEnhancerName()
        if name == 'deepemhancer':
            opts = {'processing_type': self._enhancerChoice()[2],
                    'gpu': (self.demGpus.get() or 'auto').strip(),
                    'batch_size': self.demBatchSize.get()}
            models = Plugin.getDeepEMhancerModels()
            if models and os.path.isdir(models):
                opts['model_path'] = models
            opts.update(Plugin.getDeepEMhancerLocation())
            return opts
        if name == 'keras' and self.customModel.get():
            # the network environment's python reaches the backend as RELION_DEM_NETWORK_PYTHON
            return {'model': os.path.abspath(self.customModel.get())}
        return {}

    def _enhancerOptions(self):
        from relion_dem.core.enhancers import BACKENDS
        name = self.getEnhancerName()
        declared = getattr(BACKENDS.get(name), 'options', None) or {}
        opts = {k: v for k, v in self._candidateOptions().items()
                if k in declared and v is not None}
        extra = (self.enhancerOptions.get() or '').strip()
        if extra:
            value = json.loads(extra)
            if not isinstance(value, dict):
                raise ValueError('Extra denoiser options must be a JSON object')
            opts.update(value)
        return opts

    @staticmethod
    def _pluginVariables():
        """The plugin's RELION_DEM_* variables that are set (read by the runtime's backends)."""
        from relion_dem.plugin import Plugin
        return {k: v for k, v in Plugin.getEnviron().items() if k.startswith('RELION_DEM_') and v}

    @contextlib.contextmanager
    def _pluginEnvironment(self):
        """os.environ with the plugin's variables, for backend checks in this process."""
        saved = dict(os.environ)
        try:
            os.environ.update(self._pluginVariables())
            yield
        finally:
            os.environ.clear()
            os.environ.update(saved)

    def _validateEnhancer(self):
        from relion_dem.core.runtime import config as config_mod
        from relion_dem.core.enhancers import BACKENDS, EnhancerError, create
        name = self.getEnhancerName()
        hint = INSTALL_HINT.get(name)
        if name not in BACKENDS:
            return ['The denoiser "%s" (backend %r) is not available in this installation of '
                    'relion_dem (relion_dem.core.enhancers has: %s).%s'
                    % (self.getEnhancerLabel(), name, ', '.join(sorted(BACKENDS)),
                       ' Install its environment with: %s' % hint if hint else '')]
        if name == 'keras' and not self.customModel.get():
            return ['Give the Keras model file for the custom model denoiser.']
        try:
            cfg = config_mod.validate(self.getRuntimeConfig(), 'protocol form')
            with self._pluginEnvironment():
                create(cfg).check()
        except ValueError as e:  # bad JSON in extra options, ConfigError
            return ['Regularization settings: %s' % e]
        except EnhancerError as e:
            msg = 'Denoiser "%s" cannot run here: %s' % (self.getEnhancerLabel(), e)
            if hint:
                msg += '\nInstall it with: %s' % hint
            return [msg]
        return []
