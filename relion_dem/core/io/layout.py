"""RELION's auto-refine run layout: the one place that knows RELION's file names.

A run writes, under its root ``Refine/run``::

    run_it006_sampling.star           run_it006_half1_model.star    run_it006_optimiser.star
    run_it006_data.star               run_it007_half1_class001_external_reconstruct.star
    run_model.star  run_data.star  run_class001.mrc  run_half1_class001_unfil.mrc   (final)

and relion_dem adds ``run_relion_dem.json`` (configuration) and ``run_relion_dem.jsonl``
(run log). Iteration numbers have three or more digits; the final external-reconstruct
call has no ``_half``. A run continued with ``--continue`` writes under a new root in the
same folder: :meth:`RelionRun.latest_before` then looks at every root there. Whether a path
given by a user is a run root at all: :meth:`RelionRun.problem`, for every entry point.
"""
import collections
import glob
import os
import re

CALL_NAME = re.compile(r'^(?P<root>.*)_it(?P<it>\d{3,})(?:_half(?P<half>[12]))?_class(?P<cls>\d+)'
                       r'_external_reconstruct\.star$')
OPTIMISER_NAME = re.compile(r'^(?P<root>.*)_it(?P<it>\d{3,})_optimiser\.star$')

Call = collections.namedtuple('Call', 'root iteration half class_number')
Call.__doc__ = 'One external-reconstruct call: run root, iteration, half (None: final), class.'


def parse_call(path):
    """The :class:`Call` of an external-reconstruct STAR path; ValueError naming it otherwise."""
    m = CALL_NAME.match(os.fspath(path))
    if not m:
        raise ValueError('%s: not a RELION external-reconstruct STAR name '
                         '(<root>_itNNN[_halfH]_classKKK_external_reconstruct.star)' % path)
    half = int(m.group('half')) if m.group('half') else None
    return Call(m.group('root'), int(m.group('it')), half, int(m.group('cls')))


def continued_root(optimiser_path):
    """(root, iteration) of ``<root>_itNNN_optimiser.star``; ValueError otherwise."""
    m = OPTIMISER_NAME.match(os.fspath(optimiser_path))
    if not m:
        raise ValueError('%s: not an optimiser STAR name (expected <root>_itNNN_optimiser.star)' % optimiser_path)
    return m.group('root'), int(m.group('it'))


class RelionRun:
    """The files of one auto-refine run root (``Refine/run``); nothing is read here."""

    SAMPLING = '_sampling.star'
    OPTIMISER = '_optimiser.star'
    HALF1_MODEL = '_half1_model.star'
    MODEL = '_model.star'
    DATA = '_data.star'

    def __init__(self, root):
        self.root = os.fspath(root)

    def __repr__(self):
        return 'RelionRun(%r)' % self.root

    # ------------------------------------------------------------------ per iteration
    def iteration_path(self, iteration, suffix):
        return '%s_it%03d%s' % (self.root, iteration, suffix)

    def sampling(self, iteration):
        return self.iteration_path(iteration, self.SAMPLING)

    def optimiser(self, iteration):
        return self.iteration_path(iteration, self.OPTIMISER)

    def half_model(self, iteration, half=1):
        return self.iteration_path(iteration, '_half%d_model.star' % half)

    def call_star(self, iteration, half=1, class_number=1):
        tag = '_half%d' % half if half else ''
        return self.iteration_path(iteration, '%s_class%03d_external_reconstruct.star' % (tag, class_number))

    def iteration_files(self, suffix):
        """{iteration: path} of this root's ``<root>_itNNN<suffix>`` files."""
        pattern = re.compile(re.escape(os.path.basename(self.root)) + r'_it(\d{3,})' + re.escape(suffix) + '$')
        found = {}
        for p in glob.glob(glob.escape(self.root) + '_it*' + suffix):
            m = pattern.match(os.path.basename(p))
            if m:
                found[int(m.group(1))] = p
        return found

    def iterations(self):
        """Sorted iteration numbers with a sampling STAR."""
        return sorted(self.iteration_files(self.SAMPLING))

    def all_before(self, iteration, suffix):
        """Paths of the ``<root>_itNNN<suffix>`` files with NNN < iteration, oldest first; when
        this root has none, those of any root in the same folder (a continued run's new root)."""
        files = {k: p for k, p in self.iteration_files(suffix).items() if k < iteration}
        if not files:
            folder = os.path.dirname(self.root) or '.'
            pattern = re.compile(r'^(.*)_it(\d{3,})' + re.escape(suffix) + '$')
            for p in glob.glob(os.path.join(glob.escape(folder), '*_it*' + suffix)):
                m = pattern.match(os.path.basename(p))
                if m and int(m.group(2)) < iteration:
                    k = int(m.group(2))
                    if k not in files or os.path.getmtime(p) > os.path.getmtime(files[k]):
                        files[k] = p
        return [files[k] for k in sorted(files)]

    def latest_before(self, iteration, suffix):
        """Path of the newest ``<root>_itNNN<suffix>`` with NNN < iteration, else None (see
        :meth:`all_before`)."""
        files = self.all_before(iteration, suffix)
        return files[-1] if files else None

    @staticmethod
    def iteration_of(path):
        """The iteration number NNN in a ``<root>_itNNN<suffix>`` path."""
        return int(re.search(r'_it(\d{3,})[^/]*$', os.path.basename(path)).group(1))

    def latest_data(self):
        """The final particles STAR, else the newest iteration's, else None."""
        if os.path.exists(self.final_data):
            return self.final_data
        its = self.iteration_files(self.DATA)
        return its[max(its)] if its else None

    def sidesplitter_logs(self, class_number=1):
        """{iteration: path} of ``<root>_itNNN_classKKK_sidesplitter.out``: the log that SIDESPLITTER's
        upstream ``sidesplitter_wrapper.sh`` writes when it processes an iteration's half maps."""
        return self.iteration_files('_class%03d_sidesplitter.out' % class_number)

    # ------------------------------------------------------------------ converged run
    @property
    def final_model(self):
        return self.root + self.MODEL

    @property
    def final_data(self):
        return self.root + self.DATA

    @property
    def final_map(self):
        return self.root + '_class001.mrc'

    def half_map(self, half, unfiltered=True):
        return '%s_half%d_class001%s.mrc' % (self.root, half, '_unfil' if unfiltered else '')

    def is_finished(self):
        return os.path.exists(self.half_map(1))

    def problem(self, iteration=None):
        """Why this is not the root of a RELION run, as a sentence naming the path, or None.
        A root has ``<root>_itNNN_optimiser.star`` or ``_sampling.star`` files, the final
        half map or model, or relion_dem's run log. With ``iteration``: also every file of
        that iteration that ``relion_refine --continue`` reads. Every entry point that takes
        a run root or an optimiser STAR asks here."""
        folder = os.path.dirname(self.root) or '.'
        if not os.path.isdir(folder):
            return '%s: folder %s does not exist' % (self.root, folder)
        if os.path.isdir(self.root):
            roots = self.find_roots(self.root)
            return '%s: a folder, not a run root (%s)' % (
                self.root, 'give one of its runs: %s' % ', '.join(roots) if roots else 'no RELION run in it')
        found = (self.iteration_files(self.OPTIMISER) or self.iterations() or self.is_finished()
                 or self.converged or os.path.exists(self.log))
        if not found:
            what = 'a file, not a run root: ' if os.path.exists(self.root) else ''
            return '%s: %sno RELION run there (no %s_it*%s, no %s)' % (self.root, what, self.root,
                                                                         self.OPTIMISER, self.log)
        if iteration is not None:
            missing = [p for p in (self.optimiser(iteration), self.sampling(iteration),
                                   self.iteration_path(iteration, self.DATA), self.half_model(iteration, 1),
                                   self.half_model(iteration, 2)) if not os.path.isfile(p)]
            if missing:
                return '%s: iteration %d is incomplete (no %s)' % (self.root, iteration, ', no '.join(missing))
        return None

    @property
    def converged(self):
        return os.path.exists(self.final_model)

    # ------------------------------------------------------------------ relion_dem's files
    @property
    def config(self):
        return self.root + '_relion_dem.json'

    @property
    def log(self):
        return self.root + '_relion_dem.jsonl'

    @staticmethod
    def find_roots(folder):
        """Roots (``<folder>/<name>``) of the auto-refine runs in ``folder``."""
        roots = set()
        for p in glob.glob(os.path.join(glob.escape(folder), '*_it*' + RelionRun.SAMPLING)):
            m = re.match(r'^(.*)_it\d{3,}' + re.escape(RelionRun.SAMPLING) + '$', p)
            if m:
                roots.add(m.group(1))
        return sorted(roots)
