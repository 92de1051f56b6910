"""The Scipion plugin class of relion_dem (imported only by Scipion, never by the runtime).

``relion_dem/__init__.py`` exposes ``Plugin`` lazily, so ``relion_dem_extrec`` (called by
relion_refine twice per iteration) never imports Scipion.

Binaries (``scipion3 installb NAME``, or ``relion_dem_scipion3 installb NAME``):

* ``relion_dem_network``: the bundled network's environment, a virtualenv with
  TensorFlow (CPU), numpy, scipy, mrcfile and this package (``--no-deps``), created by
  :mod:`relion_dem.core.network.install`;
* ``relion_dem_deepemhancer``: deepEMhancer's own recipe (conda environment from its
  ``deepEMhancer_env.yml``, ``pip install . --no-deps``, ``deepemhancer --download``).
  When Xmipp's deep-learning toolkit already holds deepEMhancer (``xmipp_deepEMhancer``
  environment and its models) that one is used and nothing is downloaded.
"""
import os
import shlex
import sys

import pwem
import pyworkflow.utils as pwutils

from relion_dem import __version__
from relion_dem.constants import (RELION_DEM_NETENV, RELION_DEM_NETWORK_PYTHON, NETWORK_PACKAGE, NETWORK_VERSION, RELION_DEM_DEEPEMHANCER_ACTIVATION, RELION_DEM_DEEPEMHANCER_MODELS, DEEPEMHANCER_PACKAGE, DEEPEMHANCER_VERSION, DEEPEMHANCER_ENV_NAME, DEEPEMHANCER_REPO, DEEPEMHANCER_MODEL_FILE, XMIPP_DEEPEMHANCER_ENV, XMIPP_DEEPEMHANCER_MODELS, SIDESPLITTER_HOME)

_references = ['RamirezAportela2022', 'SanchezGarcia2021', 'Scheres2012b', 'Zivanov2018']


def _em_root():
    return pwem.Config.EM_ROOT


def xmipp_deepemhancer_models():
    """Models folder of Xmipp's deep-learning toolkit if it holds deepEMhancer, else None."""
    homes = [os.environ.get('XMIPP_HOME'), os.path.join(_em_root(), 'xmipp')]
    for home in filter(None, homes):
        models = os.path.join(home, *XMIPP_DEEPEMHANCER_MODELS)
        if os.path.exists(os.path.join(models, DEEPEMHANCER_MODEL_FILE % 'tightTarget')):
            return models
    return None


def package_source():
    """What pip installs into the network environment for this package (``--no-deps``):
    the source tree when installed from one (editable/devel), else the released version."""
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(here)
    if os.path.exists(os.path.join(root, 'setup.py')):
        return '-e ' + shlex.quote(root)    # follows the source tree, as Scipion's devel mode
    return shlex.quote('scipion-em-relion-dem==%s' % __version__)


class Plugin(pwem.Plugin):
    _homeVar = RELION_DEM_NETENV
    _pathVars = []          # each environment is optional: the protocol checks the one it uses
    _supportedVersions = [NETWORK_VERSION]
    _url = 'https://github.com/I2PC/scipion-em-relion-dem'

    # ``Plugin`` lives in relion_dem.plugin, not in the package's __init__: name and path
    # must still be those of the package (templates, devel mode, plugin manager).
    def getName(self):
        """The plugin's name in Scipion."""
        return 'relion_dem'

    def getPath(self):
        """The folder of the installed plugin package."""
        return os.path.dirname(os.path.abspath(__file__))

    @classmethod
    def _defineVariables(cls):
        # scipion-em-relion (4.0.x) reads SIDESPLITTER_HOME with getVar but never defines it,
        # so its SIDESPLITTER mechanism stays off unless some plugin registers the variable:
        # register it (from the environment / Scipion config) for the side-by-side peer.
        if cls.getVar(SIDESPLITTER_HOME) is None and os.environ.get(SIDESPLITTER_HOME):
            cls._defineVar(SIDESPLITTER_HOME, None,
                           description='Folder with sidesplitter and sidesplitter_wrapper.sh '
                                       '(used by scipion-em-relion with --external_reconstruct)')
        cls._defineEmVar(RELION_DEM_NETENV, '%s-%s' % (NETWORK_PACKAGE, NETWORK_VERSION),
                         description='Folder of the bundled network environment (virtualenv with '
                                     'TensorFlow CPU); scipion3 installb %s' % NETWORK_PACKAGE)
        netenv = cls.getVar(RELION_DEM_NETENV)
        cls._defineVar(RELION_DEM_NETWORK_PYTHON, os.path.join(netenv, 'bin', 'python'),
                       description='Python of the bundled network environment')
        own_models = os.path.join(_em_root(), '%s-%s' % (DEEPEMHANCER_PACKAGE, DEEPEMHANCER_VERSION),
                                  'models', 'production_checkpoints')
        xmipp = xmipp_deepemhancer_models()
        if xmipp and not os.path.exists(own_models):
            activation, models = 'conda activate %s' % XMIPP_DEEPEMHANCER_ENV, xmipp
        else:
            activation, models = 'conda activate %s' % DEEPEMHANCER_ENV_NAME, own_models
        cls._defineVar(RELION_DEM_DEEPEMHANCER_ACTIVATION, activation,
                       description='Command activating the environment where deepemhancer runs '
                                   '(the conda hook CONDA_ACTIVATION_CMD is prepended)')
        cls._defineVar(RELION_DEM_DEEPEMHANCER_MODELS, models,
                       description='Folder with deepEMhancer_{tightTarget,wideTarget,highRes}.hd5')

    # ------------------------------------------------------------------ environment
    @classmethod
    def getNetworkPython(cls):
        """The network environment's python if it exists (or was set explicitly), else None:
        the backend then looks in its own default places (~/.relion_dem/netenv)."""
        python = cls.getVar(RELION_DEM_NETWORK_PYTHON)
        if python and (os.path.exists(python) or RELION_DEM_NETWORK_PYTHON in os.environ):
            return python
        return None

    @classmethod
    def getDeepEMhancerLocation(cls):
        """deepemhancer backend options locating the program from the activation variable:
        ``conda activate NAME`` -> ``conda_env`` (if that environment exists, or the variable
        was set explicitly); ``source DIR/bin/activate`` -> ``executable`` DIR/bin/deepemhancer.
        Empty: the backend searches (PATH, deepEMhancer_env, xmipp_deepEMhancer)."""
        activation = (cls.getVar(RELION_DEM_DEEPEMHANCER_ACTIVATION) or '').strip()
        words = activation.replace('&&', ' ').replace(';', ' ').split()
        explicit = RELION_DEM_DEEPEMHANCER_ACTIVATION in os.environ
        i = words.index('activate') if 'activate' in words else -1
        if 0 < i < len(words) - 1 and words[i - 1] in ('conda', 'mamba', 'micromamba'):
            env = words[i + 1]
            try:
                from relion_dem.core.enhancers.deepemhancer import find_env
                found = find_env(env)
            except (ImportError, OSError):  # the backend not importable, or conda's folders unreadable:
                found = None                # the environment counts as not found
            if found or explicit:
                return {'conda_env': env}
            return {}
        if len(words) >= 2 and words[0] in ('source', '.') and words[1].endswith('/bin/activate'):
            exe = os.path.join(os.path.dirname(words[1]), 'deepemhancer')
            if os.path.exists(exe) or explicit:
                return {'executable': exe}
        return {}

    @classmethod
    def getEnhancerOptions(cls, name):
        """Options of enhancer backend ``name`` that come from this plugin's variables (where the
        environment and models installed by ``scipion3 installb`` are); {} for other backends."""
        if name != 'deepemhancer':
            return {}
        opts = {}
        models = cls.getDeepEMhancerModels()
        if models and os.path.isdir(models):
            opts['model_path'] = models
        opts.update(cls.getDeepEMhancerLocation())
        return opts

    @classmethod
    def getDeepEMhancerActivation(cls):
        """Full shell command activating deepEMhancer's environment (conda hook included)."""
        activation = cls.getVar(RELION_DEM_DEEPEMHANCER_ACTIVATION) or ''
        hook = cls.getCondaActivationCmd() or ''
        if activation.startswith('conda ') and hook and hook.strip() not in activation:
            return '%s %s' % (hook, activation)
        return activation

    @classmethod
    def getDeepEMhancerModels(cls):
        """The folder of deepEMhancer's models (``RELION_DEM_DEEPEMHANCER_MODELS``)."""
        return cls.getVar(RELION_DEM_DEEPEMHANCER_MODELS)

    @classmethod
    def getEnviron(cls):
        """RELION's environment (scipion-em-relion) plus what the enhancer backends read."""
        try:
            from relion import Plugin as RelionPlugin
            environ = RelionPlugin.getEnviron()
        except Exception:  # scipion-em-relion missing or of another major version
            environ = pwutils.Environ(os.environ)
        # only what exists or was set explicitly: a default pointing nowhere must not hide
        # an environment the backends find by themselves
        values = {RELION_DEM_NETENV: cls.getVar(RELION_DEM_NETENV),
                  RELION_DEM_NETWORK_PYTHON: cls.getNetworkPython(),
                  RELION_DEM_DEEPEMHANCER_ACTIVATION: cls.getDeepEMhancerActivation(),
                  RELION_DEM_DEEPEMHANCER_MODELS: cls.getDeepEMhancerModels()}
        for key, value in values.items():
            if value and (key in os.environ or key == RELION_DEM_DEEPEMHANCER_ACTIVATION
                          or os.path.exists(value)):
                environ[key] = value
        # relion_dem_extrec lives next to the Python running Scipion
        bindir = os.path.dirname(sys.executable)
        if bindir not in environ.get('PATH', '').split(os.pathsep):
            environ.set('PATH', bindir, position=pwutils.Environ.END)
        return environ

    # ------------------------------------------------------------------ binaries
    @classmethod
    def defineBinaries(cls, env):
        """Register the installable environments: the bundled network's and deepEMhancer's."""
        cls._defineNetworkBinaries(env)
        cls._defineDeepEMhancerBinaries(env)

    @classmethod
    def _defineNetworkBinaries(cls, env):
        name = '%s-%s' % (NETWORK_PACKAGE, NETWORK_VERSION)
        prefix = os.path.join(env.getEmFolder(), name)
        python = sys.executable
        q = shlex.quote
        commands = [
            ('%s -m relion_dem.core.network.install --prefix %s'
             % (q(python), q(prefix)), ['bin/python']),
            ('%s -m pip install --disable-pip-version-check --no-deps %s && touch relion_dem_installed'
             % (q(os.path.join(prefix, 'bin', 'python')), package_source()),
             ['relion_dem_installed']),
        ]
        env.addPackage(NETWORK_PACKAGE, version=NETWORK_VERSION, tar='void.tgz',
                       commands=commands, neededProgs=[], default=False)

    @classmethod
    def _defineDeepEMhancerBinaries(cls, env):
        name = '%s-%s' % (DEEPEMHANCER_PACKAGE, DEEPEMHANCER_VERSION)
        target = 'models/production_checkpoints/' + DEEPEMHANCER_MODEL_FILE % 'tightTarget'
        xmipp = xmipp_deepemhancer_models()
        if xmipp:
            # Xmipp's deep-learning toolkit already has the environment and the models
            commands = [('mkdir -p models && ln -sfn %s models/production_checkpoints'
                         % shlex.quote(xmipp), [target])]
            needed = []
        else:
            hook = cls.getCondaActivationCmd() or ''
            commands = [
                ('rm -rf src && git clone --depth 1 %s src' % DEEPEMHANCER_REPO,
                 ['src/deepEMhancer_env.yml']),
                ('%s conda env create -f src/deepEMhancer_env.yml -n %s && touch env_created'
                 % (hook, DEEPEMHANCER_ENV_NAME), ['env_created']),
                ('%s conda activate %s && cd src && python -m pip install . --no-deps && cd .. && '
                 'deepemhancer --download "$PWD/models"' % (hook, DEEPEMHANCER_ENV_NAME), [target]),
            ]
            needed = ['git'] + ([] if hook else ['conda'])
        env.addPackage(DEEPEMHANCER_PACKAGE, version=DEEPEMHANCER_VERSION, tar='void.tgz',
                       commands=commands, neededProgs=needed, default=False)
