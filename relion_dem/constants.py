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
#: scipion-em-relion's variable for the SIDESPLITTER peer (folder of sidesplitter + wrapper)
SIDESPLITTER_HOME = 'SIDESPLITTER_HOME'

# ---- the protocol form -------------------------------------------------------------------
# enhancer choices: built from the backends (relion_dem.core.enhancers.form_choices)
# appended, never reordered: a saved protocol stores the index
GATE_CHOICES = [('local searches', 'local_searches'),
                ('from iteration', 'from_iteration'),
                ('always', 'always'),
                ('local searches, or once RELION stalls', 'stalled')]
GATE_LOCAL, GATE_FROM_ITERATION, GATE_ALWAYS, GATE_STALLED = range(len(GATE_CHOICES))


def default_gate_index():
    """The form's default gate: the runtime's (``config.DEFAULTS['gate']``, which follows the gate
    benchmark's recommendation), so the Scipion protocol and the command line start alike."""
    from relion_dem.core.runtime import config
    return [value for _, value in GATE_CHOICES].index(config.DEFAULTS['gate'])
