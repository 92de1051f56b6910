# **************************************************************************
# * relion_dem: RELION 3D auto-refine regularized in the loop by a enhancer
# * (Ramirez-Aportela, Carazo & Sorzano, IUCrJ 2022). GPL-3.
# **************************************************************************
"""The enhancer choice shared by the refine and the denoise protocols: form parameters,
backend options from the form and the plugin's variables, validation with install hints.

Nothing here names a backend: the choices, their labels, which choices ask for GPUs or a
model file, and the install hints come from the backends' class attributes
(:mod:`relion_dem.core.enhancers.registry`). One word for the concept everywhere a user reads
it: "enhancer" (the form, the command line's ``--enhancer``, the configuration's ``enhancer``)."""
import contextlib
import json
import os

import pyworkflow.protocol.params as params


def choices_condition(**attributes):
    """A form condition true for the enhancer choices whose backend class has ``attributes``
    (e.g. ``uses_gpu=True``)."""
    from relion_dem.core.enhancers import choice_indices
    return 'enhancer in [%s]' % ', '.join(str(i) for i in choice_indices(**attributes))


def enhancer_runs_condition():
    """A form condition true when the chosen enhancer is not ``none``."""
    from relion_dem.core.enhancers import choice_index
    return 'enhancer != %d' % choice_index('none')


def enhancer_help(what):
    """The help of the enhancer parameter: each backend offered and its description (the first
    line of its class docstring)."""
    from relion_dem.core.enhancers import BACKENDS, form_choices
    lines = ['Enhancer applied to %s. Default: the bundled network where its environment is '
             'installed, else the classical filter.' % what]
    seen = []
    for choice in form_choices():
        if choice.name in BACKENDS and choice.name not in seen:
            seen.append(choice.name)
            cls = BACKENDS[choice.name]
            lines.append('*%s*: %s' % (cls.label or cls.name, (cls.__doc__ or '').strip().split('\n')[0]))
    return '\n'.join(lines)


class EnhancerChoice:
    """Mixin of a protocol that runs one of relion_dem's enhancer backends. The protocol
    defines ``getRuntimeConfig()`` (a configuration dict, see
    relion_dem.core.runtime.config.DEFAULTS)."""

    def _defineEnhancerParams(self, form, label, what):
        """The enhancer choice and, for backends that need one, the model file."""
        from relion_dem.core.enhancers import form_choices
        form.addParam('enhancer', params.EnumParam, default=self._defaultEnhancer(),
                      choices=[c.label for c in form_choices()],
                      label=label, help=enhancer_help(what))
        form.addParam('customModel', params.FileParam, default='',
                      condition=choices_condition(user_model=True),
                      label='Model file',
                      help='The model file of the chosen enhancer (custom Keras model: a Keras model, '
                           '.h5/.keras, mapping a normalized half-map cube to a denoised one).')

    def _defineBackendParams(self, form):
        """GPU ids and batch size (backends that use a GPU), timeout, extra options."""
        form.addParam('demGpus', params.StringParam, default='0',
                      condition=choices_condition(uses_gpu=True),
                      label='Enhancer GPU ids',
                      help='GPUs for the enhancer (e.g. deepEMhancer), e.g. "0" or "0,1"; -1 runs it on '
                           'the CPU (slow). Independent of RELION\'s own GPU setting.')
        form.addParam('demBatchSize', params.IntParam, default=6,
                      condition=choices_condition(uses_gpu=True),
                      label='Enhancer batch size',
                      help='Cubes per GPU batch; lower it if the GPU runs out of memory.')
        form.addParam('enhancerTimeout', params.FloatParam, default=1800,
                      condition=enhancer_runs_condition(),
                      label='Enhancer timeout (s)',
                      help='A enhancer call running longer is killed and the plain map used.')
        form.addParam('enhancerOptions', params.StringParam, default='',
                      condition=enhancer_runs_condition(),
                      expertLevel=params.LEVEL_ADVANCED,
                      label='Extra enhancer options (JSON)',
                      help='Backend options as a JSON object, merged last, e.g. '
                           '{"dilate_A": 8} for the classical filter.')

    @staticmethod
    def _defaultEnhancer():
        """The bundled network where its environment exists, else the classical filter (as
        relion_dem.core.enhancers.default_enhancer; only a file check: forms open fast)."""
        from relion_dem.core.enhancers import choice_index
        from relion_dem.core.network import install
        from relion_dem.plugin import Plugin
        python = Plugin.getNetworkPython() or install.default_python()
        return choice_index('network' if os.path.exists(python) else 'classical')

    def _enhancerChoice(self):
        from relion_dem.core.enhancers import form_choices
        return form_choices()[self.enhancer.get()]

    def getEnhancerName(self):
        """The chosen backend's name (None: a choice whose backend is not loaded here)."""
        return self._enhancerChoice().name

    def getEnhancerLabel(self):
        """The chosen enhancer as the form shows it."""
        return self._enhancerChoice().label

    def getEnhancerClass(self):
        """The chosen backend's class, None if it is not loaded here."""
        from relion_dem.core.enhancers import BACKENDS
        return BACKENDS.get(self.getEnhancerName())

    def _candidateOptions(self):
        """Backend options from the chosen variant, the form and the plugin's variables (keys
        a backend does not declare are dropped in :meth:`_enhancerOptions`)."""
        from relion_dem.plugin import Plugin
        choice, cls = self._enhancerChoice(), self.getEnhancerClass()
        if cls is None:
            return {}
        opts = {}
        if cls.uses_gpu:
            opts.update(gpu=(self.demGpus.get() or 'auto').strip(), batch_size=self.demBatchSize.get())
        if cls.user_model and self.customModel.get():
            # the network environment's python reaches the backend as RELION_DEM_NETWORK_PYTHON
            opts['model'] = os.path.abspath(self.customModel.get())
        opts.update(Plugin.getEnhancerOptions(choice.name))
        opts.update(choice.options)
        return opts

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
                raise ValueError('Extra enhancer options must be a JSON object')
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
        """Form errors: the chosen backend missing or unable to run here (with its install hint)."""
        from relion_dem.core.runtime import config as config_mod
        from relion_dem.core.enhancers import BACKENDS, EnhancerError, create, install_hint, not_loaded
        name, cls = self.getEnhancerName(), self.getEnhancerClass()
        hint = install_hint(name, scipion=True)
        if cls is None:
            return ['The enhancer "%s" is not available in this installation of relion_dem (%s; '
                    'relion_dem.core.enhancers has: %s).'
                    % (self.getEnhancerLabel(), not_loaded(name) if name else 'no backend at this choice',
                       ', '.join(sorted(BACKENDS)))]
        if cls.user_model and not self.customModel.get():
            return ['Give the model file for the %s enhancer.' % self.getEnhancerLabel()]
        try:
            cfg = config_mod.validate(self.getRuntimeConfig(), 'protocol form')
            with self._pluginEnvironment():
                create(cfg).check()
        except ValueError as e:  # bad JSON in extra options, ConfigError
            return ['Regularization settings: %s' % e]
        except EnhancerError as e:
            msg = 'Enhancer "%s" cannot run here: %s' % (self.getEnhancerLabel(), e)
            if hint:
                msg += '\nInstall it with: %s' % hint
            return [msg]
        return []
