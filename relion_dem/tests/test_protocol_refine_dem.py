"""The regularized refine protocol run for real: ``scipion3 tests relion_dem.tests.test_protocol_refine_dem``.

One regularized refinement (classical denoiser, gate at local searches) to convergence,
then a RELION "continue" run from one of its iterations, and the continued run's half-maps
denoised once (the denoise protocol); plus the form's validation.
"""
import json
import os

from pyworkflow.utils import magentaStr

from relion_dem import constants as C
from relion_dem.core.enhancers import choice_index, form_choices
from relion_dem.core.runtime import runlog
from relion_dem.core.analysis import runinfo
from relion_dem.protocols import ProtRelionDemDenoise, ProtRelionDemRefine
from relion_dem.tests import FAST_REFINE
from relion_dem.tests.base import RelionDemTestBase

#: RELION's --auto_local_healpix_order in these tests: the gate opens from this order
LOCAL_ORDER = FAST_REFINE['localSearchAutoSamplingDeg']


class TestRelionDemRefine(RelionDemTestBase):

    def _regularized(self, **extra):
        return self.newRefine(ProtRelionDemRefine, 'DEM refine (classical)',
                              enhancer=choice_index('classical'), gate=C.GATE_LOCAL, **extra)

    def test_1_validate(self):
        """Form checks, no RELION run: MPI count, missing backend with the install command."""
        prot = self._regularized(numberOfMpi=2)
        errors = prot.validate()
        self.assertTrue(any('3 MPI' in e for e in errors), errors)

        prot = self._regularized()
        self.assertEqual(prot.validate(), [])
        cfg = prot.getRuntimeConfig()
        # the local-search order reaches the runtime through the launch plan, from the
        # --auto_local_healpix_order the form gives RELION
        self.assertEqual((cfg['enhancer'], cfg['gate'], cfg['local_healpix_order']),
                         ('classical', 'local_searches', None))
        self.assertEqual(prot._localHealpixOrder(), LOCAL_ORDER)

        # the stalled gate's count reaches the runtime and the methods text
        prot = self.newRefine(ProtRelionDemRefine, 'DEM refine (stalled, 1)', enhancer=choice_index('classical'),
                              gate=C.GATE_STALLED, gateStallIterations=1)
        cfg = prot.getRuntimeConfig()
        self.assertEqual((cfg['gate'], cfg['gate_stall_iterations']), ('stalled', 1))
        self.assertIn('(1 iterations without resolution gain)', prot._methods()[0])

        # a denoiser whose environment is missing: the error names the install command
        from relion_dem.core.enhancers import BACKENDS, EnhancerError, create
        for choice, package in ((choice_index('deepemhancer', processing_type='tightTarget'), C.DEEPEMHANCER_PACKAGE),
                                (choice_index('network'), C.NETWORK_PACKAGE)):
            prot = self.newRefine(ProtRelionDemRefine, 'DEM refine (%d)' % choice, enhancer=choice)
            errors = prot.validate()
            name = form_choices()[choice].name
            try:
                with prot._pluginEnvironment():
                    create(prot.getRuntimeConfig()).check() if name in BACKENDS else None
                usable = name in BACKENDS
            except EnhancerError:
                usable = False
            if usable:
                self.assertEqual(errors, [])
            else:
                self.assertTrue(any('installb %s' % package in e for e in errors), errors)
        # the form's deepEMhancer settings reach the backend's options
        prot = self.newRefine(ProtRelionDemRefine, 'DEM refine (highRes)', enhancer=choice_index('deepemhancer', processing_type='highRes'),
                              demGpus='1', demBatchSize=3, enhancerOptions='{"cleaning_strength": 0.5}')
        if 'deepemhancer' in BACKENDS:
            opts = prot.getRuntimeConfig()['enhancer_options']
            self.assertEqual((opts['processing_type'], opts['gpu'], opts['batch_size'],
                              opts['cleaning_strength']), ('highRes', '1', 3, 0.5))

    def test_2_refine_and_continue(self):
        print(magentaStr('\n==> Regularized 3D auto-refine (classical denoiser)'))
        prot = self._regularized()
        self.launchProtocol(prot)
        self.checkRefineOutputs(prot)

        # the per-iteration regularization log
        log = getattr(prot, 'outputRegularizationLog', None)
        self.assertIsNotNone(log, 'no outputRegularizationLog')
        records = runlog.read(log.getFileName())
        self.assertTrue(records)
        root = prot._getExtraPath('relion')
        summary = runinfo.summary(root, log.getFileName())
        print('relion_dem summary: %s' % json.dumps(summary))
        self.assertTrue(summary['converged'])
        self.assertGreaterEqual(summary['regularized_iterations'], 1, summary)
        self.assertEqual(summary['fallbacks'], 0, summary)
        for r in records:
            if r['regularized']:
                self.assertGreaterEqual(r['healpix_order'], LOCAL_ORDER, r)   # gate: local searches
            if r['half'] == 'final':
                self.assertFalse(r['regularized'], r)
        halves = {(r['iteration'], r['half']) for r in records}
        for it in {r['iteration'] for r in records if r['half'] != 'final'}:
            self.assertIn((it, 1), halves)
            self.assertIn((it, 2), halves)
        with open(prot._getExtraPath('relion_relion_dem.json')) as f:
            self.assertEqual(json.load(f)['enhancer'], 'classical')
        text = '\n'.join(prot.summary())
        self.assertIn('Regularized iterations', text)
        self.assertTrue(prot.methods())
        self.assertIn('RamirezAportela2022', prot._citations())

        # RELION's continue option: a new run from an iteration of the first one
        # continue from the first iteration RELION ran with local searches: the continued
        # run must regularize from its very first call (the gate reads the copied STARs)
        rows = runinfo.per_iteration(root)
        local = [r['iteration'] for r in rows if (r['healpix_order'] or 0) >= LOCAL_ORDER]
        cont_it = local[0] if local and local[0] < rows[-1]['iteration'] else rows[len(rows) // 2]['iteration']
        print(magentaStr('\n==> Continue the regularized refine from iteration %d' % cont_it))
        cont = self.newProtocol(ProtRelionDemRefine, objLabel='DEM refine (continue)',
                                doContinue=True, continueIter=str(cont_it),
                                enhancer=choice_index('classical'), gate=C.GATE_LOCAL,
                                doGpu=False, numberOfMpi=3, numberOfThreads=1)
        cont.continueRun.set(prot)
        self.assertEqual(cont.validate(), [])
        self.launchProtocol(cont)
        self.checkRefineOutputs(cont)
        croot = cont._getExtraPath('relion')
        crecords = runlog.read(cont.outputRegularizationLog.getFileName())
        self.assertTrue(crecords)
        self.assertGreater(min(r['iteration'] for r in crecords), cont_it)
        if cont_it in local:
            # continued inside local searches: the gate is open from the first call
            first = min(r['iteration'] for r in crecords)
            self.assertTrue(all(r['regularized'] for r in crecords
                                if r['iteration'] == first and r['half'] != 'final'), crecords)
        self.assertTrue(runinfo.summary(croot, cont.outputRegularizationLog.getFileName())['converged'])

        # the continued run's half-maps denoised once (post-processing), with both guards
        print(magentaStr('\n==> Denoise the continued run\'s half-maps once'))
        post = self.newProtocol(ProtRelionDemDenoise, objLabel='denoise half-maps',
                                enhancer=choice_index('classical'))
        post.inputVolume.set(cont.outputVolume)
        self.assertEqual(post.validate(), [])
        self.launchProtocol(post)
        self.assertEqual(post.outputVolume.getDim(), cont.outputVolume.getDim())
        self.assertAlmostEqual(post.outputVolume.getSamplingRate(), cont.outputVolume.getSamplingRate())
        report = post.report()
        self.assertEqual(report['half1'], post.halfMaps()[0])
        self.assertIsNone(report['fallback'], report)
        self.assertIn('harm_guard_verdict', report)
        self.assertTrue(os.path.exists(post._getExtraPath('denoised_provenance.mrc')))
