"""The pure core of relion_dem: no Scipion import and no import of the command line below
this package.

Packages, lowest first: ``maths`` (Fourier shells, FSC per shell, Euler angles, symmetry
operators, soft masks), ``io`` (RELION's file names, STAR, MRC, atomic writes, finding RELION),
``guards`` (the FSC and do-no-harm guards), ``network`` (the bundled network: inference,
server, installation), ``enhancers`` (the denoising backends, one of which wraps the network),
``runtime`` (the external-reconstruct program: configuration, gate, run log, launch),
``postprocess`` (``denoise`` and provenance), ``simulation`` (synthetic data), ``analysis``
(scoring and reports); ``options`` (command-line groups shared by ``refine`` and ``denoise``), ``doctor``.
A package imports only those below it (``tests/test_architecture.py``).
"""
