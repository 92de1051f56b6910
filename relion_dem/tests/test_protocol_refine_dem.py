"""The regularized refine protocol run for real: ``scipion3 tests relion_dem.tests.test_protocol_refine_dem``.

One regularized refinement (classical denoiser, gate at local searches) to convergence,
then a RELION "continue" run from one of its iterations; plus the form's validation.
"""
import json
import os

from pyworkflow.utils import magentaStr

from relion_dem import constants as C
from relion_dem.core import runlog, runinfo
from relion_dem.protocols import ProtRelionDemRefine
from relion_dem.tests.base import RelionDemTestBase


class TestRelionDemRefine(RelionDemTestBase):

    def _regularized(self, **extra):
        return self.newRefine(ProtRelionDemRefine, 'DEM refine (classical)',
                              enhancer=C.ENH_CLASSICAL, gate=C.GATE_LOCAL, **extra)

    def test_1_validate(self):
        """Form checks, no RELION run: MPI count, missing backend with the install command."""
        prot = self._regularized(numberOfMpi=2)
        errors = prot.validate()
        self.assertTrue(any('3 MPI' in e for e in errors), errors)

        prot = self._regularized()
        self.assertEqual(prot.validate(), [])
        cfg = prot.getRuntimeConfig()
        self.assertEqual((cfg['enhancer'], cfg['gate'], cfg['local_healpix_order']),
                         ('classical', 'local_searches', 3))

        from relion_dem.core.enhancers import BACKENDS
        prot = self.newRefine(ProtRelionDemRefine, 'DEM refine (deepEMhancer)',
                              enhancer=C.ENH_DEM_TIGHT)
        errors = prot.validate()
        self.assertTrue(errors, 'deepEMhancer is not installed here: validation must fail')
        self.assertTrue(any('installb %s' % C.DEEPEMHANCER_PACKAGE in e for e in errors), errors)
        if 'network' not in BACKENDS:
            prot = self.newRefine(ProtRelionDemRefine, 'DEM refine (network)', enhancer=C.ENH_NETWORK)
            errors = prot.validate()
            self.assertTrue(any('installb %s' % C.NETWORK_PACKAGE in e for e in errors), errors)

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
                self.assertGreaterEqual(r['healpix_order'], 3, r)   # gate: local searches
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
        its = runinfo.iterations(root)
        cont_it = its[len(its) // 2]
        print(magentaStr('\n==> Continue the regularized refine from iteration %d' % cont_it))
        cont = self.newProtocol(ProtRelionDemRefine, objLabel='DEM refine (continue)',
                                doContinue=True, continueIter=str(cont_it),
                                enhancer=C.ENH_CLASSICAL, gate=C.GATE_LOCAL,
                                doGpu=False, numberOfMpi=3, numberOfThreads=1)
        cont.continueRun.set(prot)
        self.assertEqual(cont.validate(), [])
        self.launchProtocol(cont)
        self.checkRefineOutputs(cont)
        croot = cont._getExtraPath('relion')
        crecords = runlog.read(cont.outputRegularizationLog.getFileName())
        self.assertTrue(crecords)
        self.assertGreater(min(r['iteration'] for r in crecords), cont_it)
        if runinfo.per_iteration(root)[cont_it]['healpix_order'] >= 3:
            # continued inside local searches: the gate is open from the first call
            first = min(r['iteration'] for r in crecords)
            self.assertTrue(all(r['regularized'] for r in crecords
                                if r['iteration'] == first and r['half'] != 'final'), crecords)
        self.assertTrue(runinfo.summary(croot, cont.outputRegularizationLog.getFileName())['converged'])
