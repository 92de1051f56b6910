"""The gate: decide, for one external-reconstruct call, whether to regularize.

The call is named by its STAR (:func:`relion_dem.core.io.layout.parse_call`). Policies
(``gate`` in the run configuration), each read from the files RELION wrote before
iteration N:

``local_searches``
    open once local angular searches have begun: ``_rlnHealpixOrder`` of the latest
    ``_sampling.star`` has reached the local-search order (``--auto_local_healpix_order``,
    ``_rlnAutoLocalSearchesHealpixOrder`` in the optimiser STAR).
``stalled``
    as ``local_searches``, and also open from the first iteration after which RELION's
    global searches stalled. RELION's auto-refine raises the angular sampling when an
    iteration brought no resolution gain (``_rlnNumberOfIterWithoutResolutionGain`` ≥ 1)
    and the orientations settled; it counts the iterations without gain in the optimiser
    STAR and resets the count when it raises the sampling. A count of
    ``gate_stall_iterations`` (default 2) therefore means one more iteration without gain
    in which RELION could not move on because the orientations kept changing: its own
    references are not good enough to settle them, the situation the regularizer exists
    for. Once open the gate stays open (any earlier optimiser STAR of the run with that
    count), so a gain it brings does not close it again.
``from_iteration``, ``always``, ``never``
    from iteration ``gate_iteration`` on; every iteration; never.

The final (joined) reconstruction stays plain unless ``regularize_final``.
"""
import collections

from relion_dem.core.io import star
from relion_dem.core.io.layout import RelionRun

Decision = collections.namedtuple('Decision', 'regularize reason healpix_order local_order')


def healpix_order(root, iteration):
    """``_rlnHealpixOrder`` of the latest sampling STAR before ``iteration`` (None if none)."""
    path = RelionRun(root).latest_before(iteration, RelionRun.SAMPLING)
    return star.first_value(path, '_rlnHealpixOrder', int) if path else None


def local_search_order(root, iteration):
    """RELION's local-search healpix order for this run, from its optimiser STAR (None if none)."""
    path = RelionRun(root).latest_before(iteration + 1, RelionRun.OPTIMISER)
    return star.first_value(path, '_rlnAutoLocalSearchesHealpixOrder', int) if path else None


def solvent_mask_radius(root, iteration, voxel_size):
    """Radius (Å) of the spherical solvent mask RELION applies to the references, soft edge
    included (``_rlnParticleDiameter`` / 2 + ``_rlnWidthMaskEdge`` pixels), from the run's
    optimiser STAR; None when it does not flatten the solvent or the STAR says nothing."""
    path = RelionRun(root).latest_before(iteration + 1, RelionRun.OPTIMISER)
    blocks = star.read(path) if path else []
    if not star.lookup(blocks, '_rlnDoSolventFlattening', int):
        return None
    diameter = star.lookup(blocks, '_rlnParticleDiameter', float)
    if not diameter or diameter <= 0:
        return None
    edge = star.lookup(blocks, '_rlnWidthMaskEdge', float) or 0.0
    return diameter / 2.0 + edge * float(voxel_size)


def stalled_since(root, iteration, count):
    """The first iteration before ``iteration`` whose optimiser STAR counts at least ``count``
    iterations without resolution gain (None if none)."""
    run = RelionRun(root)
    for path in run.all_before(iteration, RelionRun.OPTIMISER):
        stall = star.first_value(path, '_rlnNumberOfIterWithoutResolutionGain', int)
        if stall is not None and stall >= count:
            return run.iteration_of(path)
    return None


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
    if mode == 'stalled' and (hp is None or local is None or hp < local):
        since = stalled_since(call.root, call.iteration, cfg['gate_stall_iterations'])
        if since is not None:
            return Decision(True, 'stalled: %d iterations without resolution gain in global searches after '
                                  'iteration %d' % (cfg['gate_stall_iterations'], since), hp, local)
    if hp is None:
        return Decision(False, 'no sampling STAR before iteration %d' % call.iteration, hp, local)
    if local is None:
        return Decision(False, 'local-search healpix order unknown (no optimiser STAR; '
                               'set local_healpix_order)', hp, local)
    if hp >= local:
        return Decision(True, 'local searches: healpix order %d >= %d' % (hp, local), hp, local)
    return Decision(False, 'global searches: healpix order %d < %d' % (hp, local), hp, local)
