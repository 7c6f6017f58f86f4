"""HTTP body counter: the compiled one when available (see httpbody_py for the rules)."""

from typing import Any

from ._select import compiled
from .httpbody_py import BODY_CHUNKED, BODY_LENGTH, BODY_NONE, BODY_UNTIL_CLOSE, MalformedBody
from .httpbody_py import BodyCounter as BodyCounterPy

__all__ = ["BodyCounter", "BodyCounterPy", "BodyCounterC", "MalformedBody",
           "BODY_NONE", "BODY_LENGTH", "BODY_CHUNKED", "BODY_UNTIL_CLOSE"]

_c: Any = compiled("fasttun._core.httpbody_c")
BodyCounterC = _c.BodyCounter if _c is not None else None

BodyCounter = BodyCounterC or BodyCounterPy
