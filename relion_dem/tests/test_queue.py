"""The regularized refine submitted through a Slurm queue: ``scipion3 tests relion_dem.tests.test_queue``.

Scipion writes the job script from ``hosts.conf`` (``scripts/scipion-env.sh``: partition
"debug", ``--ntasks`` = MPI ranks), ``sbatch`` runs it, and the job runs the protocol, whose
RELION runs its 3 MPI ranks and calls the runtime as on a workstation. Runs where Slurm
answers (``./dev.sh slurm`` sets up a single-node cluster here); skips, saying why, elsewhere.
"""
import os
import shutil
import subprocess
import time

from pyworkflow.utils import magentaStr

from relion_dem import constants as C
from relion_dem.core.enhancers import choice_index
from relion_dem.core.analysis import runinfo
from relion_dem.protocols import ProtRelionDemRefine
from relion_dem.tests.base import RelionDemTestBase

PARTITION = os.environ.get('RELION_DEM_SLURM_PARTITION', 'debug')
TIMEOUT_S = 3600


def slurm_unavailable(partition=PARTITION):
    """Why the queue test cannot run here, or None."""
    if not shutil.which('sbatch') or not shutil.which('sinfo'):
        return 'Slurm is not installed (no sbatch/sinfo; ./dev.sh slurm installs a single-node cluster)'
    try:
        out = subprocess.run(['sinfo', '-h', '-p', partition, '-o', '%T'], capture_output=True,
                             text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as e:
        return 'sinfo failed: %s' % e
    if out.returncode != 0:
        return 'Slurm does not answer: %s' % (out.stderr.strip() or 'sinfo rc %d' % out.returncode)
    if not any(s.strip('*~#') in ('idle', 'mixed', 'allocated') for s in out.stdout.split()):
        return 'partition %r has no node up (sinfo: %r)' % (partition, out.stdout.strip())
    return None


class TestRelionDemQueue(RelionDemTestBase):

    @classmethod
    def setUpClass(cls):
        cls.skipReason = slurm_unavailable()
        if cls.skipReason is None:
            super().setUpClass()

    def test_refine_through_slurm(self):
        if self.skipReason:
            print('SKIPPED test_queue: %s' % self.skipReason)
            self.skipTest(self.skipReason)
        print(magentaStr('\n==> Regularized 3D auto-refine through Slurm (partition %s)' % PARTITION))
        prot = self.newRefine(ProtRelionDemRefine, 'DEM refine (Slurm)', enhancer=choice_index('classical'),
                              gate=C.GATE_LOCAL)
        prot._useQueue.set(True)
        prot.setQueueParams([PARTITION, {}])
        self.assertEqual(prot.validate(), [])
        self.proj.launchProtocol(prot, wait=False)
        self.proj._updateProtocol(prot)   # reloads prot in place from its run database
        job_ids = [str(j) for j in prot.getJobIds()]
        self.assertTrue(job_ids, 'the protocol got no Slurm job id (not submitted?)')
        print('Slurm job %s' % ', '.join(job_ids))
        start = time.time()
        while not (prot.isFinished() or prot.isFailed() or prot.isAborted()):
            self.assertLess(time.time() - start, TIMEOUT_S, 'Slurm job %s still running' % job_ids)
            time.sleep(10)
            self.proj._updateProtocol(prot)   # reloads prot in place from its run database
        if not prot.isFinished():
            self.printLastLogLines(prot)
            self.fail('protocol %s ended %s in Slurm job %s' % (prot.getRunName(), prot.getStatus(), job_ids))
        self.checkRefineOutputs(prot)
        # the job ran under Slurm: Slurm wrote its output file, the job script asked for 3 ranks
        submitted = prot.getSubmitDict()
        with open(submitted['JOB_SCRIPT']) as f:
            text = f.read()
        self.assertIn('--ntasks=3', text)
        self.assertIn('--partition=%s' % PARTITION, text)
        self.assertTrue(os.path.exists(submitted['JOB_LOGS'] + '.out'))
        summary = runinfo.summary(prot._getExtraPath('relion'), prot.outputRegularizationLog.getFileName())
        print('relion_dem summary (Slurm): %s' % summary)
        self.assertTrue(summary['converged'])
        self.assertGreaterEqual(summary['regularized_iterations'], 1, summary)
        self.assertEqual(summary['fallbacks'], 0, summary)
