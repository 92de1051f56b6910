"""Post-processing of a finished refinement: its half-maps denoised once (``relion_dem denoise``),
and the provenance map that says where the denoiser moved the density beyond the noise."""
