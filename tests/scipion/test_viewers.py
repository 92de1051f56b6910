"""The relion_dem viewers open headless in a Scipion test project, without errors.

Run with Scipion's environment (``source scripts/scipion-env.sh``; skipped otherwise):
``pytest tests/scipion``. Two RELION refinement protocols are created in a fresh test
project and given the files of the session's real refinements (tests/shared_refinements.py:
plain RELION and regularized with the classical enhancer) as their ``extra/relion_*``;
the comparison protocol runs its steps in this process on them; then every section of
``CompareViewer`` and ``RefineDemViewer`` is drawn (Agg backend, no window) and the
figures are saved as PNG beside the project, and must not be blank.
"""
import glob
import os

import pytest

pytestmark = pytest.mark.skipif(not os.environ.get('SCIPION_DOMAIN'),
                                reason='Scipion environment not set (source scripts/scipion-env.sh)')

MODEL = os.path.join(os.path.dirname(__file__), '..', '..', 'relion_dem', 'data', '19hc.pdb.gz')


def _give_run(prot, run_root, log=None):
    """Link a finished RELION run as the protocol's extra/relion_* files."""
    extra = prot._getExtraPath()
    os.makedirs(extra, exist_ok=True)
    base = os.path.basename(run_root)
    for p in glob.glob(run_root + '_*'):
        name = 'relion' + os.path.basename(p)[len(base):]
        os.symlink(os.path.abspath(p), os.path.join(extra, name))


@pytest.fixture(scope='module')
def project(refinements):
    cwd = os.getcwd()
    try:
        yield _make_project(refinements)
    finally:
        os.chdir(cwd)


def _make_project(refinements):
    import matplotlib
    matplotlib.use('Agg')
    from pyworkflow.project import Manager
    from pyworkflow.object import Pointer
    from relion.protocols import ProtRelionRefine3D
    from relion_dem.protocols import ProtRelionDemCompare, ProtRelionDemRefine
    manager = Manager()
    name = 'relion_dem_test_viewers'
    if manager.hasProject(name):
        manager.deleteProject(name)
    proj = manager.createProject(name)
    os.chdir(proj.path)          # protocol paths (Runs/...) are relative to the project
    plain = proj.newProtocol(ProtRelionRefine3D)
    plain.setObjLabel('Plain')
    proj.saveProtocol(plain)
    _give_run(plain, os.path.join(refinements, 'Plain', 'run'))
    dem = proj.newProtocol(ProtRelionDemRefine)
    dem.setObjLabel('DEM')
    proj.saveProtocol(dem)
    _give_run(dem, os.path.join(refinements, 'DEM', 'run'))
    cmp = proj.newProtocol(ProtRelionDemCompare)
    cmp.setObjLabel('compare')
    cmp.inputRefinements.append(Pointer(plain))
    cmp.inputRefinements.append(Pointer(dem))
    cmp.truthMap.set(os.path.join(refinements, 'truth.mrc'))
    cmp.fscqStep.set(3)
    proj.saveProtocol(cmp)
    assert cmp.validate() == []
    cmp.compareStep()
    cmp.createOutputStep()
    return proj, cmp, dem


def _check_views(views, out_prefix, made, missing_ok=False):
    from pwem.viewers import EmPlotter
    from pyworkflow.viewer import MessageView, TextView
    for i, v in enumerate(views or []):
        if isinstance(v, MessageView) and missing_ok:
            continue
        if isinstance(v, EmPlotter):
            path = '%s_%d.png' % (out_prefix, i)
            v.getFigure().savefig(path)
            assert os.path.getsize(path) > 8000, path
            made.append(path)
        elif isinstance(v, TextView):
            for f in v.getFileList():
                assert os.path.getsize(f) > 100
        else:
            raise AssertionError('unexpected view %r (%s)' % (v, getattr(v, '_msg', '')))


def test_compare_outputs_and_summary(project):
    proj, cmp, dem = project
    fscs = cmp.outputFSCs
    assert fscs.getSize() == 2
    assert sorted(f.getObjLabel() for f in fscs) == ['DEM', 'Plain']
    summary = cmp._summary()
    assert any(s.startswith('Plain: FSC 0.143') for s in summary)
    assert any('DEM vs Plain' in s for s in summary)


def _sections(cls, proj, prot, prefix, missing_ok=()):
    """Draw every section of viewer ``cls`` on ``prot``; the PNGs written."""
    viewer = cls(project=proj, protocol=prot)
    viewer.setProtocol(prot)
    made = []
    for name, handler in viewer._getVisualizeDict().items():
        _check_views(handler(name), os.path.join(proj.path, '%s_%s' % (prefix, name)), made,
                     missing_ok=name in missing_ok)
    return made


def test_compare_viewer_sections(project):
    from relion_dem.viewers import CompareViewer
    proj, cmp, dem = project
    no_model = {'displayFscModel', 'displayQscore', 'displayFscq'}   # no atomic model given
    assert len(_sections(CompareViewer, proj, cmp, 'viewer_compare', missing_ok=no_model)) >= 10


def test_refine_dem_viewer_sections(project):
    from relion_dem.viewers import RefineDemViewer
    proj, cmp, dem = project
    made = _sections(RefineDemViewer, proj, dem, 'viewer_refine', missing_ok={'displayFsc'})  # no FSC output
    assert [os.path.basename(p) for p in made] == ['viewer_refine_displayIterations_0.png']


@pytest.fixture(scope='module')
def denoised(project, refinements):
    """The denoise protocol run in this process (classical filter) on the DEM run's half-maps."""
    from pwem.objects import Volume
    from relion_dem.core.enhancers import choice_index
    from relion_dem.core.io.layout import RelionRun
    from relion_dem.protocols import ProtRelionDemDenoise
    proj, cmp, dem = project
    run = RelionRun(os.path.join(refinements, 'DEM', 'run'))
    vol = Volume(location=run.final_map)
    vol.setSamplingRate(mrc_voxel(run.final_map))
    vol.setHalfMaps([run.half_map(1), run.half_map(2)])
    dem._defineOutputs(outputVolume=vol)
    proj.saveProtocol(dem)
    den = proj.newProtocol(ProtRelionDemDenoise)
    den.setObjLabel('denoise')
    den.inputVolume.set(dem.outputVolume)
    den.enhancer.set(choice_index('classical'))
    proj.saveProtocol(den)
    assert den.validate() == []
    den.denoiseStep()
    den.createOutputStep()
    return proj, den, run


def mrc_voxel(path):
    from relion_dem.core.io import mrc
    return mrc.read(path)[1]


def test_denoise_protocol_keeps_the_plain_average_beyond_the_cutoff(denoised):
    import numpy as np
    from relion_dem.core.maths import fourier
    from relion_dem.core.io import mrc
    proj, den, run = denoised
    r = den.report()
    out, voxel = mrc.read(den.outputVolume.getFileName())
    plain = (mrc.read(run.half_map(1))[0] + mrc.read(run.half_map(2))[0]) / 2
    # no cutoff when the half-maps' FSC stays above 1/7 to Nyquist (RELION 5's maps here): then only
    # the corners beyond Nyquist are RELION's
    cut = int(round(out.shape[0] * voxel / r['guard_cutoff_A'])) if r['guard_cutoff_A'] else len(r['fsc'])
    idx = fourier.radial_index(out.shape)
    beyond = idx >= cut
    got, want = np.fft.rfftn(out)[beyond], np.fft.rfftn(plain)[beyond]
    assert np.abs(got - want).max() < 1e-3 * np.abs(want).max()
    assert any('provenance' in line for line in den._summary())
    assert 'relion_dem' in den._methods()[0] and den._citations() == ['RamirezAportela2022']


def test_denoise_viewer_sections(denoised):
    from relion_dem.viewers import DenoiseViewer
    proj, den, run = denoised
    made = _sections(DenoiseViewer, proj, den, 'viewer_denoise')
    assert [os.path.basename(p) for p in made] == ['viewer_denoise_displayProvenance_0.png',
                                                   'viewer_denoise_displayFsc_0.png']
