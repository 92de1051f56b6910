"""The bundled denoising network (pure core: no Scipion; TensorFlow only inside the network environment).

- :mod:`.split`: train / held-out split of the atomic models (``HOLDOUT``, ``EXCLUDED``);
- :mod:`.simdata`: simulated mid-refinement half-maps and honest targets (numpy);
- :mod:`.inference`: deepEMhancer-style application of any network to a map (numpy);
- :mod:`.model`: the 3D U-Net (Keras);
- :mod:`.train`: the seeded training command; :mod:`.worker`: the program the ``network`` and
  ``keras`` enhancer backends run; :mod:`.install`: ``relion_dem install-network``.

Shipped weights, settings and model card: ``weights/relion_dem_unet.{keras,json}``, ``weights/MODEL_CARD.md``.
"""
import os as _os

#: the shipped Keras model (settings beside it in ``relion_dem_unet.json``)
SHIPPED_MODEL = _os.path.join(_os.path.dirname(_os.path.abspath(__file__)), 'weights', 'relion_dem_unet.keras')
