"""Backend ``none``: no enhancer, RELION's plain reconstruction is kept (the control run)."""
from relion_dem.core.enhancers.base import Enhancer
from relion_dem.core.enhancers.registry import register


@register
class NoEnhancer(Enhancer):
    """No denoising: RELION's plain map is kept (a control run)."""
    name = 'none'
    label = 'none (control run)'
    form_index = 6
    doctor_check = False

    def command(self, input_path, output_path, ctx):
        """None: the plain reconstruction is kept."""
        return None
