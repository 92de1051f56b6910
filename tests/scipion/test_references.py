"""Every reference a protocol or an enhancer backend cites or names in its methods text is in
relion_dem/bibtex.py."""
import glob
import os
import re

import relion_dem
from relion_dem import bibtex

KEYS = set(re.findall(r'@article\{(\w+),', bibtex.__doc__))
PROTOCOLS = glob.glob(os.path.join(os.path.dirname(relion_dem.__file__), 'protocols', 'protocol_*.py'))


def test_cited_references_exist():
    cited = set()
    for path in PROTOCOLS:
        text = open(path).read()
        cited |= set(re.findall(r'\[([A-Z][A-Za-z]+\d{4}[a-z]?)\]', text))        # methods text
        cited |= set(re.findall(r"'([A-Z][A-Za-z]+\d{4}[a-z]?)'", text))          # _citations
    assert len(PROTOCOLS) >= 2 and cited
    # the protocols add each enhancer backend's own methods sentence and citations
    from relion_dem.core.enhancers import BACKENDS
    for cls in BACKENDS.values():
        cited |= set(cls.citations) | set(re.findall(r'\[([A-Z][A-Za-z]+\d{4}[a-z]?)\]', cls.methods))
    assert 'SanchezGarcia2021' in cited
    assert cited <= KEYS, 'missing from bibtex.py: %s' % sorted(cited - KEYS)
