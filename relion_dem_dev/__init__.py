"""Developer tools outside the installed package: the benchmark and the network's training."""
