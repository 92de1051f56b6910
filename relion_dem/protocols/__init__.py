"""Scipion protocols of relion_dem."""
from relion_dem.protocols.protocol_refine_dem import ProtRelionDemRefine  # noqa: F401

try:  # the comparison protocol is optional (written separately)
    from relion_dem.protocols.protocol_compare import *  # noqa: F401,F403
except ModuleNotFoundError as _e:
    if _e.name != __name__ + '.protocol_compare':
        raise
