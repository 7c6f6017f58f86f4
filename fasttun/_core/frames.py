"""Frame codec: the compiled one when available (see frames_py for the rules)."""

from ._select import NO_EXTENSIONS
from .frames_py import FrameDecoder as FrameDecoderPy
from .frames_py import encode_frame

__all__ = ["FrameDecoder", "FrameDecoderPy", "FrameDecoderC", "encode_frame"]

FrameDecoderC = None
if not NO_EXTENSIONS:  # pragma: no branch
    try:
        from .frames_c import FrameDecoder as FrameDecoderC  # type: ignore[no-redef]
    except ImportError:  # pragma: no cover - not built
        pass

FrameDecoder = FrameDecoderC or FrameDecoderPy
