"""Names shared by the Scipion layer of relion_dem (no Scipion import here)."""

# ---- bundled network environment (virtualenv with TensorFlow CPU) -----------------------
#: folder of the network environment (a virtualenv); Scipion installs it under EM_ROOT
RELION_DEM_NETENV = 'RELION_DEM_NETENV'
#: python of that environment (read by the network backend); default <netenv>/bin/python
RELION_DEM_NETWORK_PYTHON = 'RELION_DEM_NETWORK_PYTHON'
NETWORK_PACKAGE = 'relion_dem_network'       # scipion3 installb relion_dem_network
NETWORK_VERSION = '1.0'

# ---- deepEMhancer (GPU) conda environment ------------------------------------------------
#: shell command that activates the environment where ``deepemhancer`` runs
RELION_DEM_DEEPEMHANCER_ACTIVATION = 'RELION_DEM_DEEPEMHANCER_ACTIVATION'
#: folder holding deepEMhancer_{tightTarget,wideTarget,highRes}.hd5
RELION_DEM_DEEPEMHANCER_MODELS = 'RELION_DEM_DEEPEMHANCER_MODELS'
DEEPEMHANCER_PACKAGE = 'relion_dem_deepemhancer'   # scipion3 installb relion_dem_deepemhancer
DEEPEMHANCER_VERSION = '0.16'
DEEPEMHANCER_ENV_NAME = 'deepEMhancer_env'
DEEPEMHANCER_REPO = 'https://github.com/rsanchezgarc/deepEMhancer.git'
DEEPEMHANCER_MODEL_FILE = 'deepEMhancer_%s.hd5'
#: Xmipp's deep-learning toolkit ships the same program and models: reused when present
XMIPP_DEEPEMHANCER_ENV = 'xmipp_deepEMhancer'
XMIPP_DEEPEMHANCER_MODELS = ('models', 'deepEMhancer_v016', 'production_checkpoints')

# ---- what the protocol writes and sets ---------------------------------------------------
RELION_EXTERNAL_RECONSTRUCT_EXECUTABLE = 'RELION_EXTERNAL_RECONSTRUCT_EXECUTABLE'
RELION_DEM_CONFIG = 'RELION_DEM_CONFIG'
#: scipion-em-relion's variable for the SIDESPLITTER peer (folder of sidesplitter + wrapper)
SIDESPLITTER_HOME = 'SIDESPLITTER_HOME'

# ---- the protocol form -------------------------------------------------------------------
# enhancer choices: (label, runtime backend name, deepEMhancer model or None)
ENHANCER_CHOICES = [
    ('bundled network (CPU)', 'network', None),
    ('deepEMhancer tightTarget', 'deepemhancer', 'tightTarget'),
    ('deepEMhancer wideTarget', 'deepemhancer', 'wideTarget'),
    ('deepEMhancer highRes', 'deepemhancer', 'highRes'),
    ('custom Keras model', 'keras', None),
    ('classical filter (no network)', 'classical', None),
    ('none (control run)', 'none', None),
]
ENH_NETWORK, ENH_DEM_TIGHT, ENH_DEM_WIDE, ENH_DEM_HIGHRES, ENH_KERAS, ENH_CLASSICAL, ENH_NONE = \
    range(len(ENHANCER_CHOICES))

GATE_CHOICES = [('local searches', 'local_searches'),
                ('from iteration', 'from_iteration'),
                ('always', 'always')]
GATE_LOCAL, GATE_FROM_ITERATION, GATE_ALWAYS = range(len(GATE_CHOICES))
