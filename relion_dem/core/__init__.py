"""The pure core of relion_dem: no Scipion import anywhere below this package.

Modules: ``star`` (STAR files), ``mrc`` (MRC maps, atomic writes), ``config``
(run configuration), ``gate`` (when to regularize), ``guard`` (FSC honesty
guard), ``runlog`` (JSON-lines run log), ``enhancers`` (denoising backends),
``runtime`` (the external-reconstruct program), ``relion`` (finding and calling
RELION), ``density`` and ``simulate`` (synthetic data).
"""
