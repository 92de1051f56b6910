"""``relion_dem_scipion3``: the ``scipion3`` command, working on Python 3.11.

scipion-app 3.8.3's entry point calls ``importlib.util.find_spec`` without importing
``importlib.util`` (only ``importlib``), which fails on Python 3.11. Importing it first
and calling ``scipion.__main__.main()`` runs Scipion unchanged::

    relion_dem_scipion3 tests relion_dem.tests.test_protocol_refine_dem
    python -m relion_dem.scipion_launcher installb relion_dem_network

For ``tests`` it also reports skipped tests, which pyworkflow counts as passed silently
(:func:`tally_tests`).
"""
import importlib.util  # noqa: F401  (the import scipion-app forgets)
import os
import sys
import unittest

#: file where ``tests`` writes its tally (scripts/test-scipion.sh reads it)
TALLY_VAR = 'RELION_DEM_TEST_TALLY'


def tally_tests():
    """pyworkflow's test result (``GTestResult``) counts a skipped test as passed and says
    nothing of it. Print each skip with its reason; return a function that gives the lines
    ``passed N``, ``skipped N``, ``failed N`` and ``skip TEST: REASON`` of the run."""
    seen, skips = [], []
    add_skip, stop_test = unittest.TestResult.addSkip, unittest.TestResult.stopTest

    def addSkip(self, test, reason):
        add_skip(self, test, reason)
        name = test.id() if isinstance(test, unittest.TestCase) else str(test)
        name = '.'.join(name.split('.')[-2:]) if isinstance(test, unittest.TestCase) else name
        reason = ' '.join(str(reason).split())
        skips.append('%s: %s' % (name, reason))
        print('[  SKIPPED ] %s' % skips[-1], flush=True)
        seen.append(self)

    def stopTest(self, test):
        stop_test(self, test)
        seen.append(self)

    unittest.TestResult.addSkip, unittest.TestResult.stopTest = addSkip, stopTest

    def lines():
        if not seen:
            return ['passed 0', 'skipped 0', 'failed 0']
        r = seen[-1]
        failed = getattr(r, 'testFailed', len(r.errors) + len(r.failures))
        started = getattr(r, 'numberTests', r.testsRun)
        skipped_started = sum(1 for t, _ in r.skipped if isinstance(t, unittest.TestCase))
        passed = max(0, started - skipped_started - failed)
        return ['passed %d' % passed, 'skipped %d' % len(skips), 'failed %d' % failed] + \
            ['skip %s' % s for s in skips]
    return lines


def main(argv=None):
    if argv is not None:
        sys.argv = [sys.argv[0]] + list(argv)
    if not sys.argv[0] or sys.argv[0].endswith('__main__.py') or sys.argv[0] == '-m':
        sys.argv[0] = 'scipion3'
    tally = tally_tests() if sys.argv[1:2] in (['tests'], ['test']) else None
    # scipion.__main__ reads sys.argv and the configuration when imported
    from scipion.__main__ import main as scipion_main
    try:
        return scipion_main()
    finally:
        if tally and os.environ.get(TALLY_VAR):
            with open(os.environ[TALLY_VAR], 'w') as f:
                f.write('\n'.join(tally()) + '\n')


if __name__ == '__main__':
    sys.exit(main())
