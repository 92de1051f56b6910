"""The metrics tests use the session's shared refinements (tests/shared_refinements.py)."""
from shared_refinements import MODEL, needs_relion  # noqa: F401
