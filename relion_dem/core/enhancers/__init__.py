"""Enhancer backends: each turns one half-map into a regularized one.

A backend is a program run as a subprocess (so a crash, hang or out-of-memory
in it can never take the runtime down): :meth:`Enhancer.command` returns the
argument list that reads ``input`` and writes ``output``. ``none`` returns None
(the plain reconstruction is kept: the control run).

Adding a backend is adding one module to this package: an :class:`Enhancer` subclass whose
class attributes describe it (name, label, Scipion variants and form index, install hint,
citations, GPU use, methods sentence, options), decorated with :func:`register`. Every module
of the package is imported here (:mod:`.registry`).
"""
from relion_dem.core.enhancers.base import Enhancer, EnhancerError, CallContext, Variant  # noqa: F401
from relion_dem.core.enhancers.registry import (  # noqa: F401
    BACKENDS, MISSING, Choice, register, load_module, load_backends, create, unavailable, not_loaded,
    default_enhancer, help_text, form_choices, choice_index, choice_indices, install_hint, methods_text,
    citations)

load_backends()
