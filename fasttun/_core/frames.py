"""Frame codec: the compiled one when available (see frames_py for the rules)."""

from typing import Any

from ._select import compiled
from .frames_py import FrameDecoder as FrameDecoderPy
from .frames_py import encode_frame

__all__ = ["FrameDecoder", "FrameDecoderPy", "FrameDecoderC", "encode_frame"]

_c: Any = compiled("fasttun._core.frames_c")
FrameDecoderC = _c.FrameDecoder if _c is not None else None

FrameDecoder = FrameDecoderC or FrameDecoderPy
