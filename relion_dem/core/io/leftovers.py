"""What a run must never leave where RELION reads: temporary files, work folders, unreadable maps.

The runtime writes every map atomically (a hidden temporary, then a rename) and works in a
hidden folder it removes; a killed call's folder is removed by the next one. After a
refinement, whatever its path (regularized, plain, killed and continued, through a queue),
:func:`find` must return nothing.

A check, not part of a run. It stays in the package (not under tests/) because code outside
tests/ calls it at run time: the benchmark (``relion_dem_dev/bench/arms.py`` records
``files_lost`` of every arm) and the Scipion tests shipped with the plugin
(``relion_dem/tests/base.py``); tests/conftest.py uses it too.
"""
import os

from relion_dem.core.io import mrc


def find(folder, also=None):
    """(path, why) of everything in ``folder`` that must not be there: hidden or temporary files
    and work folders, MRC maps that cannot be read. ``also(path, name)`` may add a reason, return
    False (the file is known: no further check) or None."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in filenames + [d for d in dirnames if d.startswith('.')]:
            path = os.path.join(dirpath, name)
            if name.startswith('.') or '.tmp' in name:
                found.append((path, 'temporary file or work folder left behind'))
                continue
            why = also(path, name) if also else None
            if why:
                found.append((path, why))
            elif why is not False and name.endswith('.mrc'):
                try:
                    mrc.read(path)
                except mrc.MapError as e:
                    found.append((path, 'unreadable map: %s' % e))
    return found
