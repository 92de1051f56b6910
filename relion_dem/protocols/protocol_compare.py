# **************************************************************************
# * relion_dem: RELION 3D auto-refine regularized in the loop by a denoiser
# * (Ramirez-Aportela, Carazo & Sorzano, IUCrJ 2022). GPL-3.
# **************************************************************************
"""``ProtRelionDemCompare``: did regularization help? Compares N refinements.

A thin Scipion layer over :mod:`relion_dem.core.analysis.comparison` (the numbers) and
:mod:`relion_dem.core.analysis.report` (the files), pure numpy/scipy: the refinement
protocols chosen (plain RELION, SIDESPLITTER, regularized...) are read from their RELION
run roots (``extra/relion``), and the metrics (gold-standard FSC corrected by
phase randomization, RELION's local resolution, angular and shift differences, map-model
FSC, Q-score, FSC-Q, per-iteration view) go into ``extra/`` (report.md, metrics.json,
data.json, PNG figures) and into the outputs ``outputFSCs`` (one corrected FSC per
refinement) and ``outputReport``.
"""
import json
import os

import pyworkflow.protocol.params as params
from pyworkflow.constants import BETA
from pwem.objects import FSC, EMFile
from pwem.protocols import ProtAnalysis3D

from relion_dem.core.io.layout import RelionRun

__all__ = ['ProtRelionDemCompare']


class ProtRelionDemCompare(ProtAnalysis3D):
    """Compare refinements of the same particles (e.g. plain RELION, SIDESPLITTER and the
regularized refinement): gold-standard FSC with one common mask (corrected by phase
randomization), local resolution (relion_postprocess --locres), per-particle angular and
shift differences, and, with an atomic model, map-model FSC, Q-score and FSC-Q; plus the
per-iteration view of each run (resolution, healpix order, regularized iterations)."""
    _label = 'compare refinements'
    _devStatus = BETA
    _possibleOutputs = {'outputFSCs': FSC, 'outputReport': EMFile}

    # -------------------------- define params --------------------------------
    def _defineParams(self, form):
        form.addSection(label='Input')
        form.addParam('inputRefinements', params.MultiPointerParam, pointerClass='ProtRefine3D',
                      label='Refinements', important=True,
                      help='3D auto-refine protocols of the same particles (RELION, RELION with '
                           'SIDESPLITTER, regularized). The first is the reference of the angular '
                           'and shift differences. Each must have finished (unfiltered half maps).')
        form.addParam('inputMask', params.PointerParam, pointerClass='VolumeMask', allowsNull=True,
                      label='Mask (optional)',
                      help='Soft mask (0..1) used for every FSC and local-resolution statistic. '
                           'Empty: made from the truth map, else from the first refinement.')
        form.addParam('inputAtomStruct', params.PointerParam, pointerClass='AtomStruct',
                      allowsNull=True, label='Atomic model (optional)',
                      help='For map-model FSC, Q-score (Pintilie 2020) and FSC-Q '
                           '(Ramirez-Aportela 2021). Coordinates must lie on the maps\' grid.')
        form.addParam('centreModel', params.BooleanParam, default=False,
                      condition='inputAtomStruct', label='Centre the model as the simulation did?',
                      help='Yes when the data were simulated from this model by relion_dem '
                           'simulate (centre of mass moved to the box centre).')
        form.addParam('truthMap', params.FileParam, allowsNull=True,
                      label='Ground-truth map (optional)', help='Simulated data: the truth map.')
        form.addParam('truthParticles', params.FileParam, allowsNull=True,
                      label='Ground-truth particles STAR (optional)',
                      help='Simulated data: truth_particles.star (default: beside the truth map).')
        form.addParam('symmetry', params.StringParam, default='',
                      label='Symmetry for angular differences',
                      help='Point group (C1, Cn, Dn, T, O, I, I1-I4). Empty: each run\'s own.')
        form.addParam('doLocres', params.BooleanParam, default=True,
                      label='Local resolution (relion_postprocess --locres)?')
        form.addParam('fscqStep', params.IntParam, default=2, expertLevel=params.LEVEL_ADVANCED,
                      label='FSC-Q window step (voxels)')

    # -------------------------- steps ----------------------------------------
    def _insertAllSteps(self):
        self._insertFunctionStep(self.compareStep)
        self._insertFunctionStep(self.createOutputStep)

    def runRoots(self):
        """[(RELION run root, label)] of the chosen refinement protocols."""
        roots = []
        for pointer in self.inputRefinements:
            prot = pointer.get()
            roots.append((os.path.abspath(prot._getExtraPath('relion')),
                          prot.getObjLabel() or prot.getRunName()))
        return roots

    def _modelPath(self):
        if self.inputAtomStruct.hasValue():
            return os.path.abspath(self.inputAtomStruct.get().getFileName())
        return None

    def _maskPath(self):
        if self.inputMask.hasValue():
            return os.path.abspath(self.inputMask.get().getFileName())
        return None

    def compareStep(self):
        from relion_dem.core.analysis import comparison, report
        runs = [comparison.Run(root, label) for root, label in self.runRoots()]
        comparison.unique_labels(runs)
        truth = self.truthMap.get() or None
        truth_particles = self.truthParticles.get() or None
        if truth and not truth_particles:
            cand = os.path.join(os.path.dirname(os.path.abspath(truth)), 'truth_particles.star')
            truth_particles = cand if os.path.exists(cand) else None
        out = self._getExtraPath()
        result, arrays = comparison.compute(
            runs, out, mask_path=self._maskPath(), truth_path=truth, truth_particles=truth_particles,
            model=self._modelPath(), centre_model=self.centreModel.get(),
            sym=self.symmetry.get() or None, locres=self.doLocres.get(),
            fscq_step=self.fscqStep.get(), log=self.info)
        report.write(result, arrays, out)

    def createOutputStep(self):
        from relion_dem.core.analysis import report
        result, arrays = report.load_data(self._getExtraPath())
        fscs = self._createSetOfFSCs()
        for label, f in arrays['fsc'].items():
            item = FSC(objLabel=label)
            freq = [1.0 / r if 0 < r < 900 else 0.0 for r in f['resolution_A']]
            item.setData(freq, f['fsc_corrected'])
            fscs.append(item)
        self._defineOutputs(outputFSCs=fscs, outputReport=EMFile(filename=self.reportPath()))
        for pointer in self.inputRefinements:
            self._defineSourceRelation(pointer, fscs)

    # -------------------------- info -----------------------------------------
    def reportPath(self):
        return self._getExtraPath('report.md')

    def metrics(self):
        path = self._getExtraPath('metrics.json')
        if not os.path.exists(path):
            return None
        with open(path) as fh:
            return json.load(fh)

    def _summary(self):
        m = self.metrics()
        if not m:
            return ['Not computed yet.']
        lines = []
        for r in m['runs']:
            s = '%s: FSC 0.143 = %.2f Å' % (r['label'], r['resolution_0143'])
            if r.get('relion_postprocess_resolution'):
                s += ' (RELION %.2f Å)' % r['relion_postprocess_resolution']
            if r.get('locres'):
                s += ', local res. median %.2f Å' % r['locres']['median_A']
            if r.get('truth_resolution_05'):
                s += ', vs truth %.2f Å' % r['truth_resolution_05']
            if r.get('qscore'):
                s += ', Q %.3f' % r['qscore']['q_mean']
            if r.get('regularized_iterations'):
                s += ', %d regularized iterations' % r['regularized_iterations']
            lines.append(s)
        for p in m.get('pairs', []):
            lines.append('%s: median angle %.2f°, shift %.2f Å (%d particles)'
                         % (p['pair'], p['angle_median_deg'], p['shift_median_A'], p['matched']))
        return lines

    def _validate(self):
        errors = []
        if len(self.inputRefinements) < 1:
            errors.append('Choose at least one refinement.')
        for pointer in self.inputRefinements:
            prot = pointer.get()
            if prot is None:
                continue
            run = RelionRun(prot._getExtraPath('relion'))
            if prot.isFinished() and not run.is_finished():
                errors.append('%s: no unfiltered half maps (%s): not a RELION auto-refine?'
                              % (prot.getRunName(), run.half_map(1)))
        for name in ('truthMap', 'truthParticles'):
            p = getattr(self, name).get()
            if p and not os.path.exists(p):
                errors.append('%s does not exist' % p)
        return errors

    def _methods(self):
        return ['Refinements compared with relion_dem (gold-standard FSC corrected by phase '
                'randomization [Chen2013], local resolution by relion_postprocess, Q-score '
                '[Pintilie2020], FSC-Q [RamirezAportela2021]).']

    def _citations(self):
        return ['RamirezAportela2022', 'Chen2013', 'Pintilie2020', 'RamirezAportela2021']
