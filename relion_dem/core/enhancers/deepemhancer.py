"""Backend ``deepemhancer``: the real deepEMhancer (Sanchez-Garcia et al. 2021) on each half-map.

Calls deepEMhancer's command line in its own (conda) environment::

    deepemhancer -i IN.mrc -o OUT.mrc -p tightTarget -s VOXEL -g GPU -b BATCH
                 [--deepLearningModelPath DIR_OR_HD5] [--noiseStats MEAN STD] [--cleaningStrengh S]

``-o`` must not exist beforehand (the runtime's output path never does). Where
deepEMhancer comes from, first found wins:

1. option ``executable`` (path of the ``deepemhancer`` program);
2. option ``conda_env`` (an environment name or prefix), run with ``conda run`` when
   conda is found, else its ``bin/deepemhancer`` directly;
3. ``deepemhancer`` on the PATH;
4. the conda environments ``deepEMhancer_env`` (deepEMhancer's own recipe) or
   ``xmipp_deepEMhancer`` (Xmipp's deep-learning toolkit). With the Xmipp environment
   and no ``model_path``, Xmipp's models ``$XMIPP_HOME/models/deepEMhancer_v016/
   production_checkpoints`` are used when present.

Install: ``conda env create -f deepEMhancer_env.yml -n deepEMhancer_env`` from
deepEMhancer's repository, then ``conda run -n deepEMhancer_env deepemhancer --download``
for the models (or Xmipp's ``scipion3 installb deepLearningToolkit``).

Options: ``processing_type`` (tightTarget | wideTarget | highRes), ``model_path``
(``--deepLearningModelPath``: a models folder, or one .hd5 file, which deepEMhancer
allows only with tightTarget), ``gpu`` (ids, comma separated, or -1 for CPU; ``auto``:
0 when ``nvidia-smi`` exists, else -1), ``batch_size`` (``-b``), ``noise_stats``
(``[mean, std]`` for ``--noiseStats``; default: deepEMhancer's automatic normalization),
``cleaning_strength`` (``--cleaningStrengh``; default: not passed).
"""
import os
import shutil

from relion_dem.core.enhancers.base import Enhancer, EnhancerError, Variant
from relion_dem.core.enhancers.registry import register

PROCESSING_TYPES = ('tightTarget', 'wideTarget', 'highRes')
DEFAULT_ENVS = ('deepEMhancer_env', 'xmipp_deepEMhancer')
XMIPP_ENV = 'xmipp_deepEMhancer'
XMIPP_MODELS = os.path.join('models', 'deepEMhancer_v016', 'production_checkpoints')
INSTALL_HINT = ('install deepEMhancer (https://github.com/rsanchezgarc/deepEMhancer): '
                '`conda env create -f deepEMhancer_env.yml -n deepEMhancer_env` then '
                '`conda run -n deepEMhancer_env deepemhancer --download`; or Xmipp\'s deep-learning '
                'toolkit (environment xmipp_deepEMhancer); or set the enhancer option executable '
                'or conda_env')


def conda_executable():
    """The conda (or mamba) program: $CONDA_EXE, else on the PATH; None if absent."""
    exe = os.environ.get('CONDA_EXE')
    if exe and os.path.exists(exe):
        return exe
    for name in ('conda', 'mamba', 'micromamba'):
        found = shutil.which(name)
        if found:
            return found
    return None


def conda_roots():
    """Folders that may hold conda environments under ``envs/``."""
    roots = []
    for var in ('CONDA_ROOT', 'CONDA_PREFIX_1', 'MAMBA_ROOT_PREFIX'):
        if os.environ.get(var):
            roots.append(os.environ[var])
    prefix = os.environ.get('CONDA_PREFIX')
    if prefix:
        roots.append(prefix)
        roots.append(os.path.dirname(os.path.dirname(prefix)))  # .../envs/x -> root
    exe = conda_executable()
    if exe:
        roots.append(os.path.dirname(os.path.dirname(exe)))
    home = os.path.expanduser('~')
    for d in ('miniconda3', 'anaconda3', 'miniforge3', 'mambaforge', '.conda'):
        roots.append(os.path.join(home, d))
    roots.append('/opt/conda')
    seen, out = set(), []
    for r in roots:
        r = os.path.abspath(r)
        if r not in seen:
            seen.add(r)
            out.append(r)
    return out


def find_env(name):
    """Prefix of conda environment ``name`` (or ``name`` itself if it is a prefix path); None if absent."""
    if os.sep in name:
        return os.path.abspath(os.path.expanduser(name)) if os.path.isdir(os.path.expanduser(name)) else None
    for root in conda_roots():
        cand = os.path.join(root, 'envs', name)
        if os.path.isdir(cand):
            return cand
    return None


@register
class DeepEMhancerEnhancer(Enhancer):
    """The GPU network of Sanchez-Garcia et al. (2021) with its tightTarget, wideTarget or highRes model."""
    name = 'deepemhancer'
    label = 'deepEMhancer'
    variants = [Variant('deepEMhancer %s' % p, {'processing_type': p}) for p in PROCESSING_TYPES]
    form_index = (1, 2, 3)
    install_hint = ('conda env create -f deepEMhancer_env.yml -n %s && conda run -n %s deepemhancer --download'
                    '   (deepEMhancer_env.yml from https://github.com/rsanchezgarc/deepEMhancer)'
                    % (DEFAULT_ENVS[0], DEFAULT_ENVS[0]))
    # the Scipion binary and variables of relion_dem.constants (a core module never imports it)
    scipion_install_hint = ('scipion3 installb relion_dem_deepemhancer   (or set '
                            'RELION_DEM_DEEPEMHANCER_ACTIVATION and RELION_DEM_DEEPEMHANCER_MODELS to an '
                            'existing deepEMhancer installation, e.g. Xmipp\'s: scipion3 installb xmippDLTK)')
    citations = ('SanchezGarcia2021',)
    uses_gpu = True
    methods = 'The denoiser was deepEMhancer [SanchezGarcia2021], a deep-learning map post-processing network.'
    options = dict(executable=None, conda_env=None, processing_type='tightTarget', model_path=None,
                   gpu='auto', batch_size=8, noise_stats=None, cleaning_strength=None)

    def __init__(self, options=None):
        super().__init__(options)
        o = self.opts
        if o['processing_type'] not in PROCESSING_TYPES:
            raise EnhancerError('enhancer deepemhancer: processing_type must be one of %s, got %r'
                                % (', '.join(PROCESSING_TYPES), o['processing_type']))
        if o['model_path'] and str(o['model_path']).endswith(('.hd5', '.h5')) \
                and o['processing_type'] != 'tightTarget':
            raise EnhancerError('enhancer deepemhancer: a single model file (%s) is used by deepEMhancer only '
                                'with processing_type tightTarget; give the models folder for %s'
                                % (o['model_path'], o['processing_type']))
        b = o['batch_size']
        if not isinstance(b, int) or isinstance(b, bool) or b < 1:
            raise EnhancerError('enhancer deepemhancer: batch_size must be a positive integer, got %r' % b)
        gpu = str(o['gpu'])
        if gpu != 'auto' and gpu != '-1' and not all(p.strip().isdigit() for p in gpu.split(',')):
            raise EnhancerError('enhancer deepemhancer: gpu must be "auto", -1 or comma-separated ids, got %r' % gpu)
        ns = o['noise_stats']
        if ns is not None and (not isinstance(ns, (list, tuple)) or len(ns) != 2
                               or not all(isinstance(v, (int, float)) for v in ns) or not ns[1] > 0):
            raise EnhancerError('enhancer deepemhancer: noise_stats must be [mean, std] with std > 0, got %r' % (ns,))
        cs = o['cleaning_strength']
        if cs is not None and not (isinstance(cs, (int, float)) and (cs == -1 or 0 < cs < 1)):
            raise EnhancerError('enhancer deepemhancer: cleaning_strength must be in (0, 1) or -1, got %r' % (cs,))

    def locate(self):
        """(argv prefix running deepemhancer, conda env prefix or None); EnhancerError if not found."""
        o = self.opts
        if o['executable']:
            return [os.path.expanduser(o['executable'])], None
        if o['conda_env']:
            prefix = find_env(o['conda_env'])
            if prefix is None:
                raise EnhancerError('enhancer deepemhancer: conda environment %r not found (looked in %s)'
                                    % (o['conda_env'], ', '.join(os.path.join(r, 'envs') for r in conda_roots())))
            return self._in_env(prefix), prefix
        found = shutil.which('deepemhancer')
        if found:
            return [found], None
        for name in DEFAULT_ENVS:
            prefix = find_env(name)
            if prefix and os.path.exists(os.path.join(prefix, 'bin', 'deepemhancer')):
                return self._in_env(prefix), prefix
        raise EnhancerError('enhancer deepemhancer: program deepemhancer not found; ' + INSTALL_HINT)

    @staticmethod
    def _in_env(prefix):
        conda = conda_executable()
        if conda:
            return [conda, 'run', '--no-capture-output', '-p', prefix, 'deepemhancer']
        return [os.path.join(prefix, 'bin', 'deepemhancer')]

    def model_path(self, env_prefix=None):
        """The --deepLearningModelPath to pass (None: deepEMhancer's default folder)."""
        if self.opts['model_path']:
            return os.path.abspath(os.path.expanduser(self.opts['model_path']))
        xmipp = os.environ.get('XMIPP_HOME')
        if xmipp and env_prefix and os.path.basename(env_prefix.rstrip(os.sep)) == XMIPP_ENV:
            models = os.path.join(xmipp, XMIPP_MODELS)
            if os.path.isdir(models):
                return models
        return None

    def gpu(self):
        """The ``-g`` value: the ids given, or for ``auto`` 0 when nvidia-smi exists, else -1."""
        g = str(self.opts['gpu'])
        if g == 'auto':
            return '0' if shutil.which('nvidia-smi') else '-1'
        return g

    def command(self, input_path, output_path, ctx):
        """deepEMhancer's argument list for this call."""
        prog, env_prefix = self.locate()
        argv = prog + ['-i', input_path, '-o', output_path, '-p', self.opts['processing_type'],
                       '-s', repr(float(ctx.voxel_size)), '-g', self.gpu(), '-b', str(self.opts['batch_size'])]
        models = self.model_path(env_prefix)
        if models:
            argv += ['--deepLearningModelPath', models]
        if self.opts['noise_stats'] is not None:
            argv += ['--noiseStats'] + [repr(float(v)) for v in self.opts['noise_stats']]
        if self.opts['cleaning_strength'] is not None:
            argv += ['--cleaningStrengh', repr(float(self.opts['cleaning_strength']))]
        return argv

    def check(self):
        """EnhancerError (with the fix) if the program, its environment or its models are missing."""
        prog, env_prefix = self.locate()
        exe = prog[0] if len(prog) == 1 else prog[-1]
        if len(prog) == 1 and not (os.path.exists(exe) or shutil.which(exe)):
            raise EnhancerError('enhancer deepemhancer: program %s not found; %s' % (exe, INSTALL_HINT))
        if env_prefix and not os.path.exists(os.path.join(env_prefix, 'bin', 'deepemhancer')):
            raise EnhancerError('enhancer deepemhancer: environment %s has no deepemhancer program; %s'
                                % (env_prefix, INSTALL_HINT))
        models = self.model_path(env_prefix)
        if models and not os.path.exists(models):
            raise EnhancerError('enhancer deepemhancer: model path %s does not exist (download the models with '
                                '`deepemhancer --download`)' % models)
        if models and os.path.isdir(models):
            wanted = os.path.join(models, 'deepEMhancer_%s.hd5' % self.opts['processing_type'])
            if not os.path.exists(wanted):
                raise EnhancerError('enhancer deepemhancer: %s missing (download the models with '
                                    '`deepemhancer --download`)' % wanted)

    def describe(self):
        """``deepemhancer:PROCESSING_TYPE``."""
        return 'deepemhancer:%s' % self.opts['processing_type']

