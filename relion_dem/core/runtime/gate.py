"""The gate: decide, for one external-reconstruct call, whether to regularize.

RELION names the call's STAR ``<root>_it<N>[_half<h>]_class<k>_external_reconstruct.star``
(N has three or more digits; the final reconstruction has no ``_half``). By default
the gate opens once local angular searches have begun: ``_rlnHealpixOrder`` in the
latest ``_sampling.star`` before iteration N has reached the local-search order
(RELION's ``--auto_local_healpix_order``, stored as ``_rlnAutoLocalSearchesHealpixOrder``
in the optimiser STAR).
"""
import collections
import glob
import os
import re

from relion_dem.core.io import star

NAME = re.compile(r'^(?P<root>.*)_it(?P<it>\d{3,})(?:_half(?P<half>[12]))?_class(?P<cls>\d+)'
                  r'_external_reconstruct\.star$')

Call = collections.namedtuple('Call', 'root iteration half class_number')
Decision = collections.namedtuple('Decision', 'regularize reason healpix_order local_order')


def parse_call(path):
    """Split an external-reconstruct STAR path into root, iteration, half (None: final), class."""
    m = NAME.match(os.fspath(path))
    if not m:
        raise ValueError('%s: not a RELION external-reconstruct STAR name '
                         '(<root>_itNNN[_halfH]_classKKK_external_reconstruct.star)' % path)
    half = int(m.group('half')) if m.group('half') else None
    return Call(m.group('root'), int(m.group('it')), half, int(m.group('cls')))


def _iteration_files(root, suffix):
    """{iteration: path} of ``<root>_itNNN<suffix>`` files."""
    pattern = re.compile(re.escape(os.path.basename(root)) + r'_it(\d{3,})' + re.escape(suffix) + '$')
    found = {}
    for p in glob.glob(glob.escape(root) + '_it*' + suffix):
        m = pattern.match(os.path.basename(p))
        if m:
            found[int(m.group(1))] = p
    return found


def latest_before(root, iteration, suffix):
    """Path of the newest ``<root>_itNNN<suffix>`` with NNN < iteration, else None.

    A continued run writes under a new root; then any run root in the same folder counts.
    """
    files = {k: p for k, p in _iteration_files(root, suffix).items() if k < iteration}
    if not files:
        folder = os.path.dirname(root) or '.'
        pattern = re.compile(r'^(.*)_it(\d{3,})' + re.escape(suffix) + '$')
        for p in glob.glob(os.path.join(glob.escape(folder), '*_it*' + suffix)):
            m = pattern.match(os.path.basename(p))
            if m and int(m.group(2)) < iteration:
                k = int(m.group(2))
                if k not in files or os.path.getmtime(p) > os.path.getmtime(files[k]):
                    files[k] = p
    return files[max(files)] if files else None


def healpix_order(root, iteration):
    """``_rlnHealpixOrder`` of the latest sampling STAR before ``iteration`` (None if none)."""
    path = latest_before(root, iteration, '_sampling.star')
    return star.first_value(path, '_rlnHealpixOrder', int) if path else None


def local_search_order(root, iteration):
    """RELION's local-search healpix order for this run, from its optimiser STAR (None if none)."""
    path = latest_before(root, iteration + 1, '_optimiser.star')
    return star.first_value(path, '_rlnAutoLocalSearchesHealpixOrder', int) if path else None


def solvent_mask_radius(root, iteration, voxel_size):
    """Radius (Å) of the spherical solvent mask RELION applies to the references, soft edge
    included (``_rlnParticleDiameter`` / 2 + ``_rlnWidthMaskEdge`` pixels), from the run's
    optimiser STAR; None when it does not flatten the solvent or the STAR says nothing."""
    path = latest_before(root, iteration + 1, '_optimiser.star')
    blocks = star.read(path) if path else []
    if not star.lookup(blocks, '_rlnDoSolventFlattening', int):
        return None
    diameter = star.lookup(blocks, '_rlnParticleDiameter', float)
    if not diameter or diameter <= 0:
        return None
    edge = star.lookup(blocks, '_rlnWidthMaskEdge', float) or 0.0
    return diameter / 2.0 + edge * float(voxel_size)


def decide(cfg, call):
    """A :class:`Decision` for ``call`` under configuration ``cfg``."""
    hp = healpix_order(call.root, call.iteration)
    local = cfg.get('local_healpix_order')
    if local is None:
        local = local_search_order(call.root, call.iteration)
    if call.half is None and not cfg.get('regularize_final'):
        return Decision(False, 'final reconstruction kept unregularized', hp, local)
    mode = cfg['gate']
    if mode == 'never':
        return Decision(False, 'gate: never', hp, local)
    if mode == 'always':
        return Decision(True, 'gate: always', hp, local)
    if mode == 'from_iteration':
        first = int(cfg['gate_iteration'])
        if call.iteration >= first:
            return Decision(True, 'iteration %d >= %d' % (call.iteration, first), hp, local)
        return Decision(False, 'iteration %d < %d' % (call.iteration, first), hp, local)
    if hp is None:
        return Decision(False, 'no sampling STAR before iteration %d' % call.iteration, hp, local)
    if local is None:
        return Decision(False, 'local-search healpix order unknown (no optimiser STAR; '
                               'set local_healpix_order)', hp, local)
    if hp >= local:
        return Decision(True, 'local searches: healpix order %d >= %d' % (hp, local), hp, local)
    return Decision(False, 'global searches: healpix order %d < %d' % (hp, local), hp, local)
