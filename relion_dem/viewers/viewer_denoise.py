"""Viewer of ``ProtRelionDemDenoise``: the denoised map with its provenance, the half-maps' FSC."""

from pyworkflow.viewer import TextView

from relion_dem.core.analysis import figures
from relion_dem.core.io import mrc
from relion_dem.protocols.protocol_denoise import ProtRelionDemDenoise

from relion_dem.viewers.common import DemViewer, plotter, redraw, text_file


class DenoiseViewer(DemViewer):
    """The denoised map's central slices with the voxels the denoiser moved beyond the noise
    in red, the half-maps' FSC with the guard's cutoff, and the report."""
    _label = 'viewer denoise half-maps'
    _targets = [ProtRelionDemDenoise]

    _FORM = [
        ('Result', [
            ('displayProvenance', 'Denoised map and provenance (red: > 3 sigma of the local noise)',
             '_showProvenance'),
            ('displayFsc', 'FSC of the half-maps (guard cutoff)', '_showFsc'),
            ('displayReport', 'Report (numbers)', '_showReport')])]

    def _report(self):
        return self.protocol.report()

    def _showProvenance(self, param=None):
        r = self._report()
        if not r:
            return self._message('Not denoised yet.')
        density, voxel = mrc.read(r['outputs']['map'])
        prov, _ = mrc.read(r['outputs']['provenance'])
        title = ('%s: %.1f%% of the masked volume above 3 sigma'
                 % (self.protocol.getRunName(), 100 * r['provenance_fraction_above_3']))
        return [redraw('relion_dem denoise', lambda fig: figures.provenance_slices(fig, density, prov, voxel,
                                                                                    title=title), size=(9, 3.6))]

    def _showFsc(self, param=None):
        r = self._report()
        if not r:
            return self._message('Not denoised yet.')
        p, ax = plotter('FSC of the half-maps')
        figures.fsc_overlay([('half-maps', r['resolution_A'], r['fsc'], None)], ax=ax,
                            thresholds=(0.143,), title='FSC of the half-maps (denoised map kept where >= 1/7)')
        return [p]

    def _showReport(self, param=None):
        r = self._report()
        if not r:
            return self._message('Not denoised yet.')
        from relion_dem.core.postprocess.denoise import summary_lines
        path = text_file(self.protocol._getExtraPath('report.txt'), summary_lines(r))
        return [TextView([path], title='relion_dem denoise', tkParent=self.getTkRoot())]
