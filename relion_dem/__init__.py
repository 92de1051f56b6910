"""relion_dem: RELION 3D auto-refine with each half-map regularized by a denoising network
inside the refinement loop (Ramirez-Aportela, Carazo & Sorzano, IUCrJ 2022).

The pure core (``relion_dem.core``) knows nothing of Scipion; the Scipion plugin class
``Plugin`` is loaded only when Scipion asks for it, so the external-reconstruct runtime,
called by RELION twice per iteration, never imports Scipion.
"""
__version__ = '0.1.0'


def __getattr__(name):
    if name == 'Plugin':
        from relion_dem.plugin import Plugin
        return Plugin
    raise AttributeError('module %r has no attribute %r' % (__name__, name))
