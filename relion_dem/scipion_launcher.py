"""``relion_dem_scipion3``: the ``scipion3`` command, working on Python 3.11.

scipion-app 3.8.3's entry point calls ``importlib.util.find_spec`` without importing
``importlib.util`` (only ``importlib``), which fails on Python 3.11. Importing it first
and calling ``scipion.__main__.main()`` runs Scipion unchanged::

    relion_dem_scipion3 tests relion_dem.tests.test_protocol_refine_dem
    python -m relion_dem.scipion_launcher installb relion_dem_network
"""
import importlib.util  # noqa: F401  (the import scipion-app forgets)
import sys


def main(argv=None):
    if argv is not None:
        sys.argv = [sys.argv[0]] + list(argv)
    if not sys.argv[0] or sys.argv[0].endswith('__main__.py') or sys.argv[0] == '-m':
        sys.argv[0] = 'scipion3'
    # scipion.__main__ reads sys.argv and the configuration when imported
    from scipion.__main__ import main as scipion_main
    return scipion_main()


if __name__ == '__main__':
    sys.exit(main())
