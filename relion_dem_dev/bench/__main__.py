"""``python -m relion_dem_dev.bench``: see :mod:`relion_dem_dev.bench.cli`."""
import sys

from .cli import main

sys.exit(main())
