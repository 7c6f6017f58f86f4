"""HTTP body counter: the compiled one when available (see httpbody_py for the rules)."""

from ._select import NO_EXTENSIONS
from .httpbody_py import BODY_CHUNKED, BODY_LENGTH, BODY_NONE, BODY_UNTIL_CLOSE, MalformedBody
from .httpbody_py import BodyCounter as BodyCounterPy

__all__ = ["BodyCounter", "BodyCounterPy", "BodyCounterC", "MalformedBody",
           "BODY_NONE", "BODY_LENGTH", "BODY_CHUNKED", "BODY_UNTIL_CLOSE"]

BodyCounterC = None
if not NO_EXTENSIONS:  # pragma: no branch
    try:
        from .httpbody_c import BodyCounter as BodyCounterC  # type: ignore[no-redef]
    except ImportError:  # pragma: no cover - not built
        pass

BodyCounter = BodyCounterC or BodyCounterPy
