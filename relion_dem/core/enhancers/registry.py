"""The enhancer backends known here, and everything built from their class attributes.

Each backend module of this package calls :func:`register` on its classes (a decorator);
:func:`load_backends` imports every module of the package (``pkgutil``), so adding a backend
is adding one module: the command line's ``--enhancer`` choices, the Scipion form's choices,
the install hints, the methods text and citations, and ``relion_dem doctor``'s checks all come
from the :class:`~relion_dem.core.enhancers.base.Enhancer` attributes.

A backend module whose third-party dependency is missing is not loaded and is remembered in
:data:`MISSING` (:func:`unavailable` names the missing module); any other import failure
(relion_dem's own code, a syntax error) raises: it is a bug, not an optional part.
"""
import collections
import importlib
import pkgutil
import sys

from relion_dem.core.enhancers.base import EnhancerError

PACKAGE = __name__.rpartition('.')[0]
#: modules of the package that hold no backend (never imported by :func:`load_backends`)
SUPPORT_MODULES = ('base', 'registry', 'process')
#: backend name -> Enhancer subclass
BACKENDS = {}
#: backend module (name in this package) -> the third-party module it could not import
MISSING = {}

#: one entry of the Scipion form's enhancer list: label, backend name (None: not loaded here), options
Choice = collections.namedtuple('Choice', 'label name options')


def register(cls):
    """Add backend ``cls`` under ``cls.name`` (usable as a class decorator; returns ``cls``)."""
    if not cls.name or cls.name == 'base':
        raise TypeError('enhancer class %s has no name' % cls.__qualname__)
    if cls.__module__ == '__main__':
        return cls  # a backend module run as a program: the package import registered it already
    other = BACKENDS.get(cls.name)
    if other is not None and (other.__module__, other.__qualname__) != (cls.__module__, cls.__qualname__):
        raise TypeError('enhancer %s registered twice: %s.%s and %s.%s' % (
            cls.name, other.__module__, other.__qualname__, cls.__module__, cls.__qualname__))
    BACKENDS[cls.name] = cls
    return cls


def load_module(module):
    """Import backend module ``module`` of this package (it registers its backends); a missing
    third-party module is recorded in :data:`MISSING`, any other ImportError raises."""
    full = '%s.%s' % (PACKAGE, module)
    try:
        importlib.import_module(full)
    except ImportError as e:
        if not e.name or e.name.split('.')[0] == 'relion_dem':
            raise  # relion_dem's own code is broken: a bug, never an optional part
        for name in [n for n, cls in BACKENDS.items() if cls.__module__ == full]:
            del BACKENDS[name]
        MISSING[module] = e.name
        return False
    MISSING.pop(module, None)
    return True


def load_backends():
    """Import every backend module of the package (each registers its backends)."""
    package = sys.modules[PACKAGE]
    for info in pkgutil.iter_modules(package.__path__):
        if not info.name.startswith('_') and info.name not in SUPPORT_MODULES:
            load_module(info.name)


def create(cfg):
    """The backend named by ``cfg['enhancer']`` with its ``enhancer_options``."""
    return BACKENDS[cfg['enhancer']](dict(cfg.get('enhancer_options') or {}))


def not_loaded(name):
    """Why backend ``name`` is not registered here (naming the missing module when known)."""
    if name in MISSING:
        return ('enhancer %s is not available in this installation: it needs the python module %s, '
                'which is not installed' % (name, MISSING[name]))
    text = 'enhancer %s is not available in this installation' % name
    if MISSING:
        text += ' (backend modules not loaded: %s)' % '; '.join(
            '%s needs the python module %s' % item for item in sorted(MISSING.items()))
    return text


def unavailable(name):
    """None when backend ``name`` can run here, else the reason (with the fix) why not."""
    if name not in BACKENDS:
        return not_loaded(name)
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


def help_text():
    """One line per registered backend, ``name: label``, for the command line's help."""
    return '; '.join('%s: %s' % (name, BACKENDS[name].label or name) for name in sorted(BACKENDS))


def form_choices():
    """The Scipion form's enhancer choices, a list of :data:`Choice` whose position is the index
    saved projects store; a position whose backend is not loaded here holds a placeholder
    (name None) so that every other index keeps its meaning."""
    slots = {}
    for name, cls in BACKENDS.items():
        for index, variant in cls.choices():
            if index in slots:
                raise TypeError('Scipion form index %d claimed by enhancers %s and %s'
                                % (index, slots[index].name, name))
            slots[index] = Choice(variant.label, name, variant.options)
    return [slots.get(i, Choice('(enhancer #%d: not available in this installation)' % i, None, {}))
            for i in range(max(slots) + 1 if slots else 0)]


def choice_index(name, **options):
    """Index in :func:`form_choices` of the first choice of backend ``name`` whose options
    include ``options``; ValueError if none."""
    for i, choice in enumerate(form_choices()):
        if choice.name == name and all(choice.options.get(k) == v for k, v in options.items()):
            return i
    raise ValueError('no Scipion form choice for enhancer %s %s' % (name, options or ''))


def choice_indices(**attributes):
    """Indices in :func:`form_choices` of the choices whose backend class has all ``attributes``
    (e.g. ``uses_gpu=True``)."""
    return [i for i, choice in enumerate(form_choices())
            if choice.name in BACKENDS
            and all(getattr(BACKENDS[choice.name], k) == v for k, v in attributes.items())]


def install_hint(name, scipion=False):
    """The command installing what backend ``name`` needs (``scipion``: for Scipion users); None
    when there is nothing to install or the backend is not loaded."""
    cls = BACKENDS.get(name)
    if cls is None:
        return None
    return (cls.scipion_install_hint or cls.install_hint) if scipion else cls.install_hint


def methods_text(name):
    """The methods sentence of backend ``name`` ('' when it has none or is not loaded)."""
    cls = BACKENDS.get(name)
    return cls.methods if cls is not None else ''


def citations(name):
    """The bibtex keys (:mod:`relion_dem.bibtex`) backend ``name`` asks to cite."""
    cls = BACKENDS.get(name)
    return list(cls.citations) if cls is not None else []
