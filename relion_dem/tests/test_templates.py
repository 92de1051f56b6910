"""Each shipped workflow template loads into a project and runs end to end:
``scipion3 tests relion_dem.tests.test_templates``.

``relion_dem-compare_refinements`` runs the three refinements (plain RELION, RELION +
SIDESPLITTER through scipion-em-relion's SIDESPLITTER_HOME, RELION + DEM) in one project,
then the comparison protocol on them;
``relion_dem-regularized_refine`` runs the regularized refinement alone. Both use a small
simulated data set (200 particles, 32 px) to keep the CPU time modest: these tests are
about the templates and the plumbing, not about which refinement wins. On so little data
RELION may converge before it reaches local searches, so the regularized runs use the
gate "always" (a template field). The RELION options that bound the run time (sampling,
offsets) are set on the loaded protocols before launching; everything else comes from
the template.
"""
import glob
import os
import unittest

from pyworkflow.template import LocalTemplate
from pyworkflow.utils import magentaStr
from pyworkflow.tests import BaseTest

from relion_dem import constants as C
from relion_dem.core.enhancers import choice_index
from relion_dem.core.runtime import runlog
from relion_dem.tests import simulated_dataset, sidesplitter_source, FAST_REFINE
from relion_dem.tests.base import setup_project

#: the templates' data set: small, the tests check plumbing (see the module doc)
TEMPLATE_DATA = dict(n_particles=200, box=32, seed=2)
TEMPLATES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'templates')
REFINE_CLASSES = ('ProtRelionRefine3D', 'ProtRelionDemRefine')
TIME_BOUNDS = {k: v for k, v in FAST_REFINE.items()
               if k in ('angularSamplingDeg', 'localSearchAutoSamplingDeg', 'offsetSearchRangePix',
                        'offsetSearchStepPix', 'numberOfThreads')}


def template_path(name):
    return os.path.join(TEMPLATES, name + '.json.template')


def plugin_sidesplitter_home():
    """scipion-em-relion's SIDESPLITTER_HOME when it holds a built ``sidesplitter``, else None."""
    from relion import Plugin as RelionPlugin
    home = RelionPlugin.getVar('SIDESPLITTER_HOME')
    if home and os.access(os.path.join(home, 'sidesplitter'), os.X_OK):
        return home
    return None


class TestTemplates(BaseTest):

    @classmethod
    def setUpClass(cls):
        setup_project(cls)

    def _fill(self, name, folder, data, enhancer=choice_index('classical')):
        t = LocalTemplate('relion_dem', template_path(name))
        t.replaceEnvVariables()
        t.parseContent()
        values = dict(particlesStar=os.path.join(folder, data['particles']),
                      initialVolume=os.path.join(folder, data['initial']),
                      samplingRate=data['voxel_size'], volumeSamplingRate=data['voxel_size'],
                      symmetry='c1', diameter=int(round(data['mask_diameter_A'])),
                      initialLowPass=40, useGpu='false', mpi=3, enhancer=enhancer,
                      gate=C.GATE_ALWAYS)
        aliases = {p.getAlias() for p in t.getParams().values()}
        for alias in sorted(aliases):
            self.assertIn(alias, values, 'template field %s has no value in the test' % alias)
            self.assertTrue(t.setParamValue(alias, str(values[alias])))
        return t.createTemplateFile()

    def _load(self, jsonPath):
        loaded = self.proj.loadProtocols(jsonPath)
        os.remove(jsonPath)
        return sorted(loaded.values(), key=lambda p: p.getObjId())

    def _run(self, prots):
        for prot in prots:
            if prot.getClassName() in REFINE_CLASSES:
                for key, value in TIME_BOUNDS.items():
                    getattr(prot, key).set(value)
            errors = prot.validate()
            self.assertEqual(errors, [], '%s: %s' % (prot.getRunName(), errors))
            print(magentaStr('\n==> %s (%s)' % (prot.getObjLabel(), prot.getClassName())))
            self.launchProtocol(prot)
        return prots

    def _checkRefine(self, prot, data):
        box, apix = data['box'], data['voxel_size']
        vol = prot.outputVolume
        self.assertEqual(vol.getDim(), (box, box, box))
        self.assertAlmostEqual(vol.getSamplingRate(), apix, places=3)
        self.assertEqual(len(vol.getHalfMaps().split(',')), 2)
        self.assertEqual(prot.outputParticles.getSize(), data['n_particles'])
        self.assertTrue(prot.outputFSC.getData()[0])

    def test_compare_refinements(self):
        """The three refinements side by side, in one project, from one template."""
        if plugin_sidesplitter_home() is None:
            if sidesplitter_source() is None:
                self.skipTest('SIDESPLITTER is not installed (SIDESPLITTER_HOME) and its source '
                              '(shared/third_party or $RELION_DEM_SIDESPLITTER_SRC) is not here to build it')
            self.fail('SIDESPLITTER_HOME with a built sidesplitter is needed; its source is at %s '
                      '(source scripts/scipion-env.sh builds it)' % sidesplitter_source())
        folder, data = simulated_dataset(**TEMPLATE_DATA)
        prots = self._load(self._fill('relion_dem-compare_refinements', folder, data))
        names = [p.getClassName() for p in prots]
        self.assertEqual(names[:5], ['ProtImportParticles', 'ProtImportVolumes', 'ProtRelionRefine3D',
                                     'ProtRelionRefine3D', 'ProtRelionDemRefine'])
        after = [p for p in prots if p.getClassName() in ('ProtRelionDemCompare', 'ProtRelionDemDenoise')]
        self.assertEqual([p.getClassName() for p in after], ['ProtRelionDemCompare', 'ProtRelionDemDenoise'])
        self._run([p for p in prots if p not in after])
        plain, side, dem = prots[2:5]
        for prot in (plain, side, dem):
            self._checkRefine(prot, data)
        # SIDESPLITTER really ran inside plain RELION's loop
        self.assertIn('--external_reconstruct', side.extraParams.get())
        self.assertTrue(glob.glob(side._getExtraPath('*_sidesplitter.out')),
                        'no SIDESPLITTER output in %s' % side._getExtraPath())
        self.assertFalse(glob.glob(plain._getExtraPath('*external_reconstruct*')))
        # the regularized run regularized
        records = runlog.read(dem.outputRegularizationLog.getFileName())
        self.assertTrue(any(r['regularized'] for r in records), records)
        type(self).finished = dict(refinements=(plain, side, dem), after=after)

    def test_compare_refinements_report(self):
        """The template's last steps: the comparison of the three, and the DEM run's half-maps
        denoised once (post-processing)."""
        finished = getattr(type(self), 'finished', None)
        if not finished:
            self.skipTest('the refinements of test_compare_refinements did not finish')
        plain, side, dem = finished['refinements']
        cmp_, post = finished['after']
        self.assertEqual([p.get().getObjId() for p in cmp_.inputRefinements],
                         [plain.getObjId(), side.getObjId(), dem.getObjId()])
        self.assertEqual(post.inputVolume.get().getFileName(), dem.outputVolume.getFileName())
        self._run([cmp_, post])
        self.assertEqual(cmp_.outputFSCs.getSize(), 3)
        self.assertTrue(os.path.exists(cmp_.outputReport.getFileName()))
        self.assertEqual(post.outputVolume.getDim(), dem.outputVolume.getDim())
        self.assertTrue(os.path.exists(post._getExtraPath('denoised_provenance.mrc')))
        self.assertIn('provenance', ' '.join(post.summary()))

    def test_regularized_refine(self):
        folder, data = simulated_dataset(**TEMPLATE_DATA)
        prots = self._load(self._fill('relion_dem-regularized_refine', folder, data))
        self.assertEqual([p.getClassName() for p in prots][:3],
                         ['ProtImportParticles', 'ProtImportVolumes', 'ProtRelionDemRefine'])
        self._run(prots)
        dem = prots[2]
        self._checkRefine(dem, data)
        records = runlog.read(dem.outputRegularizationLog.getFileName())
        self.assertTrue(records)
        self.assertEqual(records[0]['enhancer'], 'classical')
        self.assertTrue(any(r['regularized'] for r in records), records)


if __name__ == '__main__':
    unittest.main()
