"""The paper's benchmark on simulated data (``relion_dem bench``, ``python -m relion_dem_dev.bench``):
plain RELION, RELION + SIDESPLITTER, regularized refinement (DEM), the regularizer as
post-processing only and the oracle, scored against the truth, with the artifact controls.

- :mod:`.settings`: scales, run and metric names, the log;
- :mod:`.data`: structures, simulated data sets (main and controls'), the particle mask;
- :mod:`.arms`: the refinements and maps of each arm (:class:`.arms.Session` and its ledger);
- :mod:`.score`: :class:`.score.Scorer` and the metrics of each arm against the truth;
- :mod:`.controls`: the low-pass, noise-sweep and pure-noise controls;
- :mod:`.run`: :func:`run_bench`, one benchmark from data to result dict;
- :mod:`.report`: targets, diagnosis, Markdown, plots, written results, :func:`check_shape`;
- :mod:`.cli`: :func:`main` (the command line).
"""
from .cli import main
from .report import check_shape, write_results
from .run import run_bench

__all__ = ['main', 'run_bench', 'write_results', 'check_shape']
