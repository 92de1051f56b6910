"""benchmarks/relion_version_check.py compares runs of one RELION only: a demo or a vanilla run
made by another RELION is refused, naming the file, before anything runs."""
import importlib.util
import json
import os

import pytest

from relion_dem.core.io.layout import RelionRun
from relion_dem.core.io.relion import version, version_text

SCRIPT = os.path.join(os.path.dirname(__file__), '..', '..', 'benchmarks', 'relion_version_check.py')
spec = importlib.util.spec_from_file_location('relion_version_check', SCRIPT)
check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check)

THIS = version_text(version('relion_refine'))
pytestmark = pytest.mark.skipif(THIS == 'unknown', reason='relion_refine not installed')


def _demo(tmp_path, made_by):
    (tmp_path / 'data' / 'Refine').mkdir(parents=True)
    (tmp_path / 'summary.json').write_text(json.dumps([dict(run='relion', relion_version=made_by),
                                                       dict(run='dem', relion_version=made_by)]))
    return str(tmp_path)


def test_a_demo_made_by_another_relion_is_refused(tmp_path):
    out = _demo(tmp_path, '5.0.1' if THIS != '5.0.1' else '3.1.3')
    with pytest.raises(SystemExit, match='summary.json: the demo ran on RELION'):
        check.main([out])


def test_a_demo_without_its_relion_recorded_is_refused(tmp_path):
    out = _demo(tmp_path, None)
    with pytest.raises(SystemExit, match='the demo ran on RELION None'):
        check.main([out])


def test_a_vanilla_run_made_by_another_relion_is_refused(tmp_path):
    out = _demo(tmp_path, THIS)
    vanilla = RelionRun(os.path.join(out, 'data', 'Refine', 'vanilla'))
    with open(vanilla.half_map(1), 'w') as f:
        f.write('made elsewhere')
    with pytest.raises(SystemExit, match=r'was made by RELION \(not recorded\)'):
        check.main([out])
    (tmp_path / 'data' / 'Refine' / 'vanilla_relion_version.txt').write_text('0.9.9\n')
    with pytest.raises(SystemExit, match='was made by RELION 0.9.9'):
        check.main([out])
