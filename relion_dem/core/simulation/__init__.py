"""Data with a known truth: atomic model -> map -> particles, refinement recipes."""
