"""Scipion protocols of relion_dem."""
from relion_dem.protocols.protocol_refine_dem import ProtRelionDemRefine  # noqa: F401
from relion_dem.protocols.protocol_compare import ProtRelionDemCompare  # noqa: F401
from relion_dem.protocols.protocol_denoise import ProtRelionDemDenoise  # noqa: F401
