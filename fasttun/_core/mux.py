"""Multiplexer: the compiled ``mux_c`` when available, else its twin ``mux_py``."""

from ._select import NO_EXTENSIONS
from .mux_py import Session as SessionPy
from .mux_py import Stream

__all__ = ["IMPLEMENTATION", "Session", "SessionPy", "SessionC", "Stream"]

SessionC = None
if not NO_EXTENSIONS:  # pragma: no branch
    try:
        import importlib.machinery as _m

        from . import mux_c as _mux_c
        from .mux_c import Session as SessionC  # type: ignore[no-redef]

        if not _mux_c.__file__ or not _mux_c.__file__.endswith(tuple(_m.EXTENSION_SUFFIXES)):
            SessionC = None  # the .py link was imported, not the extension
    except ImportError:  # pragma: no cover - not built
        SessionC = None

Session = SessionC or SessionPy
IMPLEMENTATION = "c" if SessionC is not None else "py"
