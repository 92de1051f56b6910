"""Metrics that tell whether regularization helped, and the reports (pure numpy/scipy; no
Scipion import). The top package of ``relion_dem.core``: it may import every other one; maths
primitives (Fourier shells, Euler angles, symmetry operators, soft masks) are in
``relion_dem.core.maths``.

One concept a module:

``fsc``           masked FSC with the phase-randomization correction (Chen et al. 2013),
                  resolution at 0.143 / 0.5, map against a reference
``locres``        local resolution: ``relion_postprocess --locres`` and a numpy
                  sliding-window local FSC; statistics inside a mask
``angles``        per-particle angular (symmetry-aware) and shift differences
                  between two refinements, or a refinement and the ground truth
``qscore``        Q-score (Pintilie et al. 2020) per atom, residue, and mean
``fscq``          FSC-Q (Ramirez-Aportela et al. 2021) per atom
``atomic_model``  an atomic model placed on a map's grid; trilinear map values at atoms
``runinfo``       what a run says about itself: per-iteration table (RELION's STARs joined
                  with the run log), summary, final resolution checked against RELION's FSC
``figures``       the figures (matplotlib) of reports and viewers
``comparison``    every metric of a set of refinements against a common mask, truth and model
``report``        the written report of a comparison: Markdown + PNG (and JSON)
``compare_command``  the ``relion_dem compare`` command line
"""
