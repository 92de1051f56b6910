# **************************************************************************
# * relion_dem: RELION 3D auto-refine regularized in the loop by a denoiser
# * (Ramirez-Aportela, Carazo & Sorzano, IUCrJ 2022). GPL-3.
# **************************************************************************
"""``ProtRelionDemRefine``: scipion-em-relion's 3D auto-refine, every RELION option kept,
with each half-map regularized by a denoiser inside the refinement loop.

The protocol writes the runtime configuration (``extra/relion_relion_dem.json``), points
``RELION_EXTERNAL_RECONSTRUCT_EXECUTABLE`` at ``relion_dem_extrec``, sets
``RELION_DEM_CONFIG`` and adds ``--external_reconstruct`` to ``relion_refine``. The runtime
appends one JSON line per reconstruction call to ``extra/relion_relion_dem.jsonl``,
registered as the output ``outputRegularizationLog``.
"""
import os
import shlex
import shutil
from enum import Enum

import pyworkflow.protocol.params as params
from pyworkflow.constants import BETA
from pwem.objects import Volume, FSC, SetOfParticles, EMFile

from relion.protocols import ProtRelionRefine3D

from relion_dem.core.guards.threshold import THRESHOLD
from relion_dem.core.io.layout import RelionRun
from relion_dem.core.runtime import config as config_mod
from relion_dem.protocols.enhancer_choice import EnhancerChoice, choices_condition, enhancer_runs_condition

from relion_dem import constants as C


class outputs(Enum):
    outputVolume = Volume
    outputParticles = SetOfParticles
    outputFSC = FSC
    outputRegularizationLog = EMFile


class ProtRelionDemRefine(ProtRelionRefine3D, EnhancerChoice):
    """RELION 3D auto-refine with in-loop deep-learning regularization (DEM).

Every RELION 3D auto-refine option is kept. In each iteration, once the gate opens (by
default when RELION has started local angular searches), each half-map reconstructed by
RELION is passed, independently of the other half, through a denoiser (the bundled
network, deepEMhancer, a custom Keras model or a classical filter) before RELION uses it
as the next reference. The FSC guard keeps RELION's own map beyond the shell where
the gold-standard FSC falls below 1/7, so the denoiser cannot inflate the resolution that
drives the refinement. Any denoiser failure falls back to the plain reconstruction for
that call (logged). Ramirez-Aportela, Carazo & Sorzano, IUCrJ (2022).
    """
    _label = '3D auto-refine, half-maps denoised in the loop (DEM)'
    _devStatus = BETA
    _possibleOutputs = outputs

    # -------------------------- DEFINE param functions -----------------------
    def _defineParams(self, form):
        ProtRelionRefine3D._defineParams(self, form)
        form.addSection(label='Regularization')
        runs = enhancer_runs_condition()   # 'enhancer != <index of none>'
        self._defineEnhancerParams(form, 'Regularize half-maps with', 'each half-map inside the loop')
        form.addParam('gate', params.EnumParam, default=C.default_gate_index(),
                      choices=[c[0] for c in C.GATE_CHOICES],
                      condition=runs,
                      label='Start regularizing',
                      help='*local searches*: once RELION has reached the local-search angular '
                           'sampling (the "Local searches from auto-sampling" option), as in '
                           'the paper.\n*from iteration*: from the iteration given below.\n'
                           '*always*: every iteration.\n*local searches, or once RELION stalls*: also '
                           'from the iteration after which RELION\'s global searches went two '
                           'iterations without a resolution gain (its own references could not '
                           'settle the orientations); see benchmarks/results/gate-*.md.')
        form.addParam('gateIteration', params.IntParam, default=1,
                      condition='%s and gate == %d' % (runs, C.GATE_FROM_ITERATION),
                      label='First regularized iteration')
        form.addParam('gateStallIterations', params.IntParam,
                      default=config_mod.DEFAULTS['gate_stall_iterations'],
                      condition='%s and gate == %d' % (runs, C.GATE_STALLED),
                      expertLevel=params.LEVEL_ADVANCED,
                      label='Iterations without resolution gain',
                      help='How many global-search iterations without a resolution gain (RELION\'s own '
                           'count) open the gate. 1 opens it at the first stall (iteration 2 in every '
                           'benchmark run): on the struggling data of benchmarks/results/gate-summary.md it '
                           'gave finer maps than 2 but broke one apoferritin seed of eight that RELION '
                           'aligns, so 2 is the default.')
        form.addParam('fscGuard', params.BooleanParam, default=True,
                      condition=runs,
                      label='FSC guard?',
                      help='Keep the denoised map only up to the shell where the current '
                           'gold-standard FSC falls below the threshold and use RELION\'s own '
                           'map beyond it, so the denoiser cannot inflate the FSC that drives '
                           'the next iteration.')
        form.addParam('harmGuard', params.BooleanParam, default=True,
                      condition=runs,
                      label='Do-no-harm guard?',
                      help='Inside the shells the FSC guard keeps, keep the denoised map only where '
                           'it still agrees with this half\'s own reconstruction as much as the '
                           'gold-standard FSC says the data can (FSC(denoised, plain) >= FSC), and '
                           'no shell with more power than RELION\'s map; use RELION\'s map in the '
                           'shells that fail, or for the whole call when the shells that fail grossly '
                           '(FSC(denoised, plain) below half the FSC) carry over a quarter of the '
                           'signal (a fall-back, logged).')
        form.addParam('guardThreshold', params.FloatParam, default=THRESHOLD,
                      condition=runs + ' and fscGuard',
                      expertLevel=params.LEVEL_ADVANCED,
                      label='Guard FSC threshold')
        form.addParam('regularizeFinal', params.BooleanParam, default=False,
                      condition=runs,
                      expertLevel=params.LEVEL_ADVANCED,
                      label='Regularize the final map too?',
                      help='The final reconstruction (both halves joined) stays RELION\'s own '
                           'by default.')
        self._defineBackendParams(form)
        form.addParam('serializeDevice', params.BooleanParam, default=True,
                      condition=choices_condition(uses_gpu=True),
                      expertLevel=params.LEVEL_ADVANCED,
                      label='One half at a time on the GPU?',
                      help='Both halves call the denoiser at the same time; with one GPU, '
                           'let them take turns (a lock file in the run folder).')
        form.addParam('keepMaps', params.BooleanParam, default=False,
                      expertLevel=params.LEVEL_ADVANCED,
                      label='Keep plain and denoised maps?',
                      help='Keep, for each regularized call, RELION\'s plain and the denoised '
                           'half-map beside the run, for inspection.')

    # -------------------------- INSERT steps functions -----------------------
    def _setSamplingArgs(self, args):
        ProtRelionRefine3D._setSamplingArgs(self, args)
        # In continue mode the form hides "local searches from auto-sampling" but
        # scipion-em-relion still passes its (default) value: keep the continued run's own,
        # or RELION would drop back to global searches and the gate would disagree.
        order = self._localHealpixOrder()
        if self.doContinue and order is not None:
            args['--auto_local_healpix_order'] = order

    # -------------------------- runtime configuration ------------------------
    def relionRun(self):
        """The run's files (:class:`relion_dem.core.io.layout.RelionRun`), root ``extra/relion``."""
        return RelionRun(os.path.abspath(self._getExtraPath('relion')))

    def _localHealpixOrder(self):
        prot = self   # a continued run keeps the order of the run it started from
        for _ in range(100):
            if not (getattr(prot, 'doContinue', False) and prot.continueRun.get() is not None):
                break
            prot = prot.continueRun.get()
        value = getattr(prot, 'localSearchAutoSamplingDeg', None)
        return value.get() if value is not None and value.get() is not None else None

    def getRuntimeConfig(self):
        """The runtime configuration dict (see relion_dem.core.runtime.config.DEFAULTS)."""
        name = self.getEnhancerName()
        cfg = {
            'enhancer': name,
            'enhancer_options': self._enhancerOptions(),
            'gate': C.GATE_CHOICES[self.gate.get()][1] if name != 'none' else 'never',
            'gate_iteration': max(0, self.gateIteration.get()),
            'gate_stall_iterations': max(1, self.gateStallIterations.get()),
            'local_healpix_order': None,   # the launch plan reads --auto_local_healpix_order
            'regularize_final': bool(self.regularizeFinal),
            'fsc_guard': bool(self.fscGuard),
            'harm_guard': bool(self.harmGuard),
            'guard_threshold': float(self.guardThreshold.get()),
            'timeout_s': float(self.enhancerTimeout.get()),
            'keep_maps': bool(self.keepMaps),
        }
        backend = self.getEnhancerClass()
        if backend is not None and backend.uses_gpu and self.serializeDevice \
                and (self.demGpus.get() or '').strip() != '-1':
            cfg['device_lock'] = os.path.abspath(self._getExtraPath('relion_dem_gpu.lock'))
        return cfg

    def _getEnviron(self):
        env = ProtRelionRefine3D._getEnviron(self)
        env.update(self._pluginVariables())
        return env

    def _relionVersion(self):
        """RELION's version as a tuple: scipion-em-relion's active version, else relion_refine's."""
        from relion import Plugin as RelionPlugin
        active = RelionPlugin.getActiveVersion()
        if active:
            return tuple(int(x) for x in active.split('.')[:2] if x.isdigit())
        from relion_dem.core.io.relion import version
        with self._pluginEnvironment():
            return version('relion_refine')

    def launchPlan(self, arguments, cwd=None):
        """The launch plan (:func:`relion_dem.core.runtime.launch.plan`) for relion_refine
        ``arguments`` (a string, as scipion-em-relion builds it), the same one
        ``relion_dem refine`` builds from the same arguments and settings."""
        from relion_dem.core.runtime import launch
        with self._pluginEnvironment():
            return launch.plan(shlex.split(arguments), self.getRuntimeConfig(), cwd=cwd,
                               relion_version=self._relionVersion())

    # -------------------------- STEPS functions ------------------------------
    def _prepareContinue(self):
        """Copy the sampling and optimiser STARs of the iteration continued from, so the
        gate knows the healpix order before this run has written its own."""
        prev = self.continueRun.get()
        if prev is None:
            return
        prev._initialize()
        it = self._getContinueIter()
        for key in ('sampling', 'optimiser'):
            src = prev._getFileName(key, iter=it)
            dst = self._getFileName(key, iter=it)
            if os.path.exists(src) and not os.path.exists(dst):
                shutil.copy(src, dst)

    def runJob(self, program, arguments, **kwargs):
        """relion_refine runs as the launch plan says: configuration written, arguments and
        variables added."""
        if os.path.basename(str(program)).startswith('relion_refine'):
            if self.doContinue:
                self._prepareContinue()
            plan = self.launchPlan(arguments, kwargs.get('cwd'))
            cfg = config_mod.write(plan.config_path, plan.config)
            self.info('relion_dem: runtime configuration %s: enhancer %s, gate %s'
                      % (plan.config_path, cfg['enhancer'], cfg['gate']))
            arguments = ' '.join([arguments] + plan.extra_args)
            env = kwargs.get('env') or self._getEnviron()
            env.update(plan.env)
            kwargs['env'] = env
        return ProtRelionRefine3D.runJob(self, program, arguments, **kwargs)

    def createOutputStep(self):
        ProtRelionRefine3D.createOutputStep(self)
        log = EMFile(filename=self.relionRun().log)
        self._defineOutputs(**{outputs.outputRegularizationLog.name: log})

    # -------------------------- INFO functions -------------------------------
    def _validate(self):
        errors = ProtRelionRefine3D._validate(self)
        errors += self._validateRelion()
        # scipion-em-relion 5.x reports it too ("3D auto-refine needs at least 3 MPI processes.")
        if self.numberOfMpi.get() < 3 and not any('3 MPI' in e for e in errors):
            errors.append('3D auto-refine with two independent halves needs at least 3 MPI '
                          'processes (one master, one per half); now %d.' % self.numberOfMpi.get())
        errors += self._validateEnhancer()
        return errors

    def _validateRelion(self):
        from relion_dem.core.runtime.launch import extrec_executable, RefineError, MIN_RELION
        from relion_dem.core.io.relion import version_text
        version = self._relionVersion()
        errors = []
        if version is not None and version[:2] < MIN_RELION:
            errors.append('RELION %s found; in-loop regularization needs --external_reconstruct, '
                          'available from RELION 3.1.' % version_text(version))
        if '--blush' in (self.extraParams.get() or '').split():
            errors.append('--blush (Additional arguments) makes RELION 5 run Blush in place of the '
                          'external reconstruction, so the denoiser chosen under Regularization '
                          'would never run: remove it.')
        if getattr(self, 'useBlush', None) is not None and self.useBlush.get():
            errors.append('Blush regularization (useBlush) replaces RELION\'s external reconstruction, '
                          'so the denoiser chosen under Regularization would never run: untick Blush.')
        try:
            extrec_executable()
        except RefineError as e:
            errors.append(str(e))
        return errors

    def _regularizationSummary(self):
        from relion_dem.core.analysis import runinfo
        run = self.relionRun()
        if not os.path.exists(run.log):
            return []
        s = runinfo.summary(run.root, run.log)
        lines = ['Regularized iterations: *%d* of %d (first: %s), denoiser %s, %d fallback(s)'
                 % (s['regularized_iterations'], s['iterations'],
                    s['first_regularized_iteration'] if s['first_regularized_iteration'] else '-',
                    self.getEnhancerLabel(), s['fallbacks'])]
        if s['resolution_note']:
            lines.append('relion_dem final resolution: *%.2f A* (%s)' % (s['final_resolution_A'], s['resolution_note']))
        return lines

    def _summaryNormal(self):
        summary = ProtRelionRefine3D._summaryNormal(self)
        try:
            summary += self._regularizationSummary()
        except Exception as e:  # a summary must never break the GUI
            summary.append('Regularization log unreadable: %s' % e)
        return summary

    def _methods(self):
        from relion_dem.core.enhancers import methods_text
        name = self.getEnhancerName()
        if name == 'none':
            what = 'without in-loop regularization (control run of the same pipeline)'
        else:
            what = ('with each half-map regularized inside the refinement loop by %s '
                    '(in-loop deep-learning regularization, [RamirezAportela2022])' % self.getEnhancerLabel())
            gate = C.GATE_CHOICES[self.gate.get()][0]
            what += ', starting %s' % ('at iteration %d' % self.gateIteration.get()
                                       if self.gate.get() == C.GATE_FROM_ITERATION else
                                       'once local angular searches began'
                                       if self.gate.get() == C.GATE_LOCAL else
                                       'once local angular searches began or RELION\'s global searches stalled '
                                       '(%d iterations without resolution gain)' % self.gateStallIterations.get()
                                       if self.gate.get() == C.GATE_STALLED else gate)
            if self.fscGuard:
                what += ', with RELION\'s map kept beyond the shell where the gold-standard FSC ' \
                        'fell below %.3f' % self.guardThreshold.get()
            if self.harmGuard:
                what += ' and in the shells where the denoised map disagreed with its own half\'s ' \
                        'reconstruction more than the gold-standard FSC allows'
        methods = ['3D auto-refinement was performed with RELION [Scheres2012b] %s.' % what]
        if name != 'none' and methods_text(name):
            methods.append(methods_text(name))
        if hasattr(self, 'outputFSC'):
            try:
                from relion_dem.core.analysis import runinfo
                res = runinfo.resolution_check(self.relionRun().root)
                if res['final_A']:
                    methods.append('The final gold-standard resolution was %.2f A (FSC 0.143, first crossing)%s.' % (
                        res['final_A'], '; RELION reported %.2f A from an isolated FSC shell'
                        % res['relion_reported_A'] if res['isolated_shell'] else ''))
            except Exception:
                pass
        return methods

    def _citations(self):
        from relion_dem.core.enhancers import citations
        cites = ['RamirezAportela2022'] + citations(self.getEnhancerName()) + ['Scheres2012b', 'Zivanov2018']
        return list(dict.fromkeys(cites))
