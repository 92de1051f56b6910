# **************************************************************************
# * relion_dem: RELION 3D auto-refine regularized in the loop by a denoiser
# * (Ramirez-Aportela, Carazo & Sorzano, IUCrJ 2022). GPL-3.
# **************************************************************************
"""``ProtRelionDemDenoise``: a refinement's half-maps denoised once (post-processing).

A thin Scipion layer over :mod:`relion_dem.core.postprocess.denoise`: the half-maps of the
input ``Volume`` (e.g. any 3D refine protocol's output) go through the chosen enhancer,
the do-no-harm guard and the FSC guard; outputs are the denoised ``Volume`` and, in
``extra/``, the provenance map (``denoised_provenance.mrc``) and the report
(``denoised.json``).
"""
import json
import os

import pyworkflow.protocol.params as params
from pyworkflow.constants import BETA
from pwem.objects import Volume
from pwem.protocols import ProtAnalysis3D

from relion_dem.protocols.enhancer_choice import EnhancerChoice

__all__ = ['ProtRelionDemDenoise']


class ProtRelionDemDenoise(ProtAnalysis3D, EnhancerChoice):
    """Denoise the two half-maps of a refined volume once, as deepEMhancer post-processing is
used, with relion_dem's guards: the denoised map is kept only where the half-maps' FSC is at
least 1/7 (RELION's average beyond) and only in the shells where it still agrees with the data
(do-no-harm guard). A provenance map says where the enhancer moved the density more than the
local noise allows (above 3: density added or removed)."""
    _label = 'denoise half-maps (post-processing)'
    _devStatus = BETA
    _possibleOutputs = {'outputVolume': Volume}

    # -------------------------- define params --------------------------------
    def _defineParams(self, form):
        form.addSection(label='Input')
        form.addParam('inputVolume', params.PointerParam, pointerClass='Volume', important=True,
                      label='Volume with half-maps',
                      help='A refined map that carries its two unfiltered half-maps (e.g. the output '
                           'volume of any 3D auto-refine protocol).')
        form.addParam('inputMask', params.PointerParam, pointerClass='VolumeMask', allowsNull=True,
                      label='Mask (optional)',
                      help='Soft mask (0..1) for the provenance statistics. Empty: made from the map.')
        self._defineEnhancerParams(form, 'Denoise with', 'the average of the two half-maps')
        form.addParam('fscGuard', params.BooleanParam, default=True, label='FSC guard?',
                      help='Keep the denoised map only where the half-maps\' FSC is >= 1/7, the '
                           'plain average beyond.')
        form.addParam('harmGuard', params.BooleanParam, default=True, label='Do-no-harm guard?',
                      help='Inside those shells, use the plain average where the denoised map '
                           'disagrees with it more than the half-maps\' FSC allows (the whole map '
                           'when such shells hold over a quarter of the signal).')
        self._defineBackendParams(form)

    # -------------------------- steps ----------------------------------------
    def _insertAllSteps(self):
        self._insertFunctionStep(self.denoiseStep)
        self._insertFunctionStep(self.createOutputStep)

    def getRuntimeConfig(self):
        return {'enhancer': self.getEnhancerName(), 'enhancer_options': self._enhancerOptions(),
                'fsc_guard': bool(self.fscGuard), 'harm_guard': bool(self.harmGuard),
                'timeout_s': float(self.enhancerTimeout.get())}

    def halfMaps(self):
        return [os.path.abspath(p.split(':')[0]) for p in self.inputVolume.get().getHalfMaps().split(',')]

    def outputPath(self):
        return os.path.abspath(self._getExtraPath('denoised.mrc'))

    def denoiseStep(self):
        from relion_dem.core.postprocess import denoise
        from relion_dem.core.runtime import config as config_mod
        cfg = config_mod.validate(self.getRuntimeConfig(), 'protocol form')
        mask = os.path.abspath(self.inputMask.get().getFileName()) if self.inputMask.hasValue() else None
        with self._pluginEnvironment():
            denoise.denoise(*self.halfMaps(), self.outputPath(), cfg, mask_path=mask, force=True,
                            timeout=cfg['timeout_s'], log=self.info)

    def createOutputStep(self):
        vol = Volume()
        vol.setFileName(self.outputPath())
        vol.setSamplingRate(self.inputVolume.get().getSamplingRate())
        self._defineOutputs(outputVolume=vol)
        self._defineSourceRelation(self.inputVolume, vol)

    # -------------------------- info -----------------------------------------
    def report(self):
        path = self._getExtraPath('denoised.json')
        if not os.path.exists(path):
            return None
        with open(path) as f:
            return json.load(f)

    def _validate(self):
        errors = []
        vol = self.inputVolume.get()
        if vol is not None and not vol.hasHalfMaps():
            errors.append('%s has no half-maps: choose the output volume of a refinement.' % vol.getFileName())
        if self.getEnhancerName() == 'none':
            errors.append('Choose an enhancer ("none" would only average the half-maps).')
        return errors + self._validateEnhancer()

    def _summary(self):
        r = self.report()
        if not r:
            return ['Not denoised yet.']
        from relion_dem.core.postprocess.denoise import summary_lines
        return [line.strip() for line in summary_lines(r)[:3]]

    def _methods(self):
        r = self.report()
        from relion_dem.core.enhancers import methods_text
        what = ('The half-maps were averaged and denoised once with %s [RamirezAportela2022], keeping '
                'the denoised map only where the half-maps\' FSC was at least 1/7 and where it agreed with '
                'the data (relion_dem\'s FSC and do-no-harm guards)' % self.getEnhancerLabel())
        if r:
            what += '; %.1f%% of the masked volume moved by more than 3 sigma of the local noise' \
                    % (100 * r['provenance_fraction_above_3'])
        backend = methods_text(self.getEnhancerName())
        return [what + '.'] + ([backend] if backend else [])

    def _citations(self):
        from relion_dem.core.enhancers import citations
        return list(dict.fromkeys(['RamirezAportela2022'] + citations(self.getEnhancerName())))

