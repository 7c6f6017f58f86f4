"""Decide whether the compiled modules are to be used."""

import importlib
import os
from types import ModuleType

NO_EXTENSIONS = bool(os.environ.get("FASTTUN_NO_EXTENSIONS"))


def compiled(name: str) -> ModuleType | None:
    """The compiled module *name* (``fasttun.http._heads_c``), or None under
    ``FASTTUN_NO_EXTENSIONS`` or when it was not built: its twin is used then."""
    if NO_EXTENSIONS:
        return None
    try:
        return importlib.import_module(name)
    except ImportError:  # pragma: no cover - not built
        return None
