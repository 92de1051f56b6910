"""Scipion viewers of relion_dem: the regularized refinement, the comparison and the denoising protocols.

Both draw with :mod:`relion_dem.core.analysis.figures` (the figures of ``relion_dem compare``) into
pwem ``EmPlotter`` windows, and show FSC objects with pwem's ``FscViewer``.
"""
from relion_dem.viewers.viewer_compare import CompareViewer  # noqa: F401
from relion_dem.viewers.viewer_refine_dem import RefineDemViewer  # noqa: F401
from relion_dem.viewers.viewer_denoise import DenoiseViewer  # noqa: F401
