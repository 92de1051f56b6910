"""Scipion viewers of relion_dem, one per protocol: the regularized refinement
(:mod:`.viewer_refine_dem`), the comparison (:mod:`.viewer_compare`) and the denoising
(:mod:`.viewer_denoise`).

Each draws with :mod:`relion_dem.core.analysis.figures` (the figures of ``relion_dem compare``)
into pwem ``EmPlotter`` windows and shows FSC objects with pwem's ``FscViewer``, through the
base class and helpers of :mod:`.common`.
"""
from relion_dem.viewers.viewer_compare import CompareViewer  # noqa: F401
from relion_dem.viewers.viewer_refine_dem import RefineDemViewer  # noqa: F401
from relion_dem.viewers.viewer_denoise import DenoiseViewer  # noqa: F401
