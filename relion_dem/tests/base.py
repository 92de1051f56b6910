"""Shared set-up of the relion_dem Scipion tests."""
import os

from pyworkflow.tests import BaseTest
from pyworkflow.project import Manager
from pyworkflow.utils import magentaStr
from pwem.protocols import ProtImportParticles, ProtImportVolumes

from relion_dem.tests import simulated_dataset, mpi_env_for_root, FAST_REFINE


def setup_project(cls):
    """Create the test project (and load it back, as the GUI does)."""
    mpi_env_for_root()
    name = cls.__name__
    manager = Manager()
    if os.environ.get('SCIPION_TEST_CONTINUE') == '1' and manager.hasProject(name):
        proj = manager.loadProject(name)
    else:
        manager.createProject(name)
        proj = manager.loadProject(name)
    cls.proj = proj
    cls.projName = name
    cls.outputPath = proj.path
    os.chdir(proj.path)
    return proj


class RelionDemTestBase(BaseTest):
    """Imports simulated particles (with CTF) and the 40 A initial volume."""

    @classmethod
    def setUpClass(cls):
        setup_project(cls)
        cls.dataFolder, cls.dataset = simulated_dataset()
        cls.protImportParts = cls.runImportParticles()
        cls.protImportVol = cls.runImportVolume()

    @classmethod
    def runImportParticles(cls):
        print(magentaStr('\n==> Importing simulated particles (RELION STAR)'))
        prot = cls.newProtocol(ProtImportParticles,
                               objLabel='import simulated particles',
                               importFrom=ProtImportParticles.IMPORT_FROM_RELION,
                               starFile=os.path.join(cls.dataFolder, cls.dataset['particles']),
                               samplingRate=cls.dataset['voxel_size'],
                               magnification=10000,
                               haveDataBeenPhaseFlipped=False)
        cls.launchProtocol(prot)
        assert prot.outputParticles is not None
        return prot

    @classmethod
    def runImportVolume(cls):
        print(magentaStr('\n==> Importing the initial volume'))
        prot = cls.newProtocol(ProtImportVolumes,
                               objLabel='import initial volume',
                               filesPath=os.path.join(cls.dataFolder, cls.dataset['initial']),
                               samplingRate=cls.dataset['voxel_size'])
        cls.launchProtocol(prot)
        assert prot.outputVolume is not None
        return prot

    @classmethod
    def refineArgs(cls, **extra):
        args = dict(FAST_REFINE, maskDiameterA=int(round(cls.dataset['mask_diameter_A'])))
        args.update(extra)
        return args

    def newRefine(self, protClass, label, **extra):
        prot = self.newProtocol(protClass, objLabel=label, **self.refineArgs(**extra))
        prot.inputParticles.set(self.protImportParts.outputParticles)
        prot.referenceVolume.set(self.protImportVol.outputVolume)
        return prot

    def checkRefineOutputs(self, prot):
        """Outputs of a finished 3D auto-refine: volume with half maps, particles, FSC."""
        box = self.dataset['box']
        apix = self.dataset['voxel_size']
        vol = getattr(prot, 'outputVolume', None)
        self.assertIsNotNone(vol, 'no outputVolume')
        self.assertEqual(vol.getDim(), (box, box, box))
        self.assertAlmostEqual(vol.getSamplingRate(), apix, places=3)
        self.assertTrue(os.path.exists(vol.getFileName()), vol.getFileName())
        halves = vol.getHalfMaps().split(',')
        self.assertEqual(len(halves), 2)
        for h in halves:
            self.assertTrue(os.path.exists(h), h)
        parts = getattr(prot, 'outputParticles', None)
        self.assertIsNotNone(parts, 'no outputParticles')
        self.assertEqual(parts.getSize(), self.dataset['n_particles'])
        self.assertAlmostEqual(parts.getSamplingRate(), apix, places=3)
        self.assertTrue(parts.hasAlignmentProj())
        fsc = getattr(prot, 'outputFSC', None)
        self.assertIsNotNone(fsc, 'no outputFSC')
        x, y = fsc.getData()
        self.assertGreater(len(x), 5)
        self.assertGreater(max(y), 0.5)
        # nothing lost where RELION reads: no temporary file, work folder or unreadable map
        from relion_dem.core.io import leftovers
        self.assertEqual(leftovers.find(prot._getExtraPath()), [])
        return vol, parts, fsc
