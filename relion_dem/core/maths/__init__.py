"""Maths primitives of the core (numpy/scipy only; imports nothing else of relion_dem).

The lowest package of ``relion_dem.core``: every other package may import it.

``fourier``    Fourier shells (radial index, shell weights), low-pass filters, Fourier
               resampling; the FSC per shell and the resolution where it crosses a threshold
``euler``      RELION's Euler angles (ZYZ) to rotation matrices and back
``rotations``  RELION's point-group symmetry operators; the angle between two rotations,
               optionally the minimum over a group
``masks``      a soft solvent mask when the user gives none
"""
