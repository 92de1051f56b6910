"""Metrics that tell whether regularization helped (pure numpy/scipy; no Scipion import).

One concept a module:

``fsc``        masked FSC with the phase-randomization correction (Chen et al. 2013),
               resolution at 0.143 / 0.5, map against a reference
``locres``     local resolution: ``relion_postprocess --locres`` and a numpy
               sliding-window local FSC; statistics inside a mask
``angles``     per-particle angular (symmetry-aware) and shift differences
               between two refinements, or a refinement and the ground truth
``qscore``     Q-score (Pintilie et al. 2020) per atom, residue, and mean
``fscq``       FSC-Q (Ramirez-Aportela et al. 2021) per atom
``iterations`` per-iteration table of a (regularized) refinement
``masks``      a soft solvent mask when the user gives none
``model``      an atomic model placed on a map's grid; trilinear map values at atoms
"""
