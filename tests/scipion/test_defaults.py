"""The Scipion form and the workflow templates start from the runtime's defaults."""
import glob
import os
import re

from relion_dem import constants as C
from relion_dem.core.runtime import config

TEMPLATES = sorted(glob.glob(os.path.join(os.path.dirname(C.__file__), 'templates', '*.json.template')))


def test_form_default_gate_is_the_runtimes():
    assert C.GATE_CHOICES[C.default_gate_index()][1] == config.DEFAULTS['gate']


def test_templates_start_with_the_runtimes_default_gate():
    found = 0
    for path in TEMPLATES:
        with open(path) as f:
            for m in re.finditer(r'"gate": ~[^|~]*\|(\d+)\|', f.read()):
                found += 1
                assert int(m.group(1)) == C.default_gate_index(), path
    assert found == 2, TEMPLATES
