"""Enhancer backends: each turns one half-map into a regularized one.

A backend is a program run as a subprocess (so a crash, hang or out-of-memory
in it can never take the runtime down): :meth:`Enhancer.command` returns the
argument list that reads ``input`` and writes ``output``. ``none`` returns None
(the plain reconstruction is kept: the control run).
"""
from relion_dem.core.enhancers.base import Enhancer, EnhancerError, CallContext  # noqa: F401
from relion_dem.core.enhancers.base import NoEnhancer
from relion_dem.core.enhancers.classical import ClassicalEnhancer
from relion_dem.core.enhancers.command import CommandEnhancer

BACKENDS = {
    'none': NoEnhancer,
    'classical': ClassicalEnhancer,
    'command': CommandEnhancer,
}


def register(name, cls):
    """Add a backend (used by the network backends, which live in their own modules)."""
    BACKENDS[name] = cls


def _load_optional():
    from importlib import import_module
    for module in ('network', 'deepemhancer'):
        try:
            import_module('%s.%s' % (__name__, module))
        except ImportError:
            pass


_load_optional()


def unavailable(name):
    """None when backend ``name`` can run here, else the reason (with the fix) why not."""
    if name not in BACKENDS:
        return 'enhancer %s is not available in this installation' % name
    try:
        create({'enhancer': name}).check()
    except EnhancerError as e:
        return str(e)
    return None


def default_enhancer():
    """The default backend and, when it is not the bundled network, why: the network where
    its environment can run, else the classical filter."""
    why = unavailable('network')
    if why is None:
        return 'network', None
    return 'classical', 'the bundled network cannot run here (%s): using the classical filter' % why


def create(cfg):
    """The backend named by ``cfg['enhancer']`` with its ``enhancer_options``."""
    return BACKENDS[cfg['enhancer']](dict(cfg.get('enhancer_options') or {}))
