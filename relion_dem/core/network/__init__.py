"""The bundled denoising network (pure core: no Scipion; TensorFlow only inside the network environment).

- :mod:`.inference`: deepEMhancer-style application of any network to a map (numpy);
- :mod:`.model`: the 3D U-Net (Keras);
- :mod:`.worker`: the program the ``network`` and ``keras`` enhancer backends run;
  :mod:`.service`: the persistent server of that worker (TensorFlow and the model load once);
- :mod:`.install`: ``relion_dem install-network`` (the network environment).

Training (train / held-out split, simulated half-maps, the seeded training command) is in the
checkout only: ``relion_dem_dev/training``.

Shipped weights, settings and model card: ``weights/relion_dem_unet.{keras,json}``, ``weights/MODEL_CARD.md``.
"""
import os as _os

#: the shipped Keras model (settings beside it in ``relion_dem_unet.json``)
SHIPPED_MODEL = _os.path.join(_os.path.dirname(_os.path.abspath(__file__)), 'weights', 'relion_dem_unet.keras')
