"""Training of the bundled network: the structure split, simulated half-maps, the seeded training command."""
