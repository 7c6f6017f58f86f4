"""The copy loop between one TCP connection and one mux stream.

``StreamProtocol`` is the asyncio protocol of a public connection (server
side) or of a connection to the local service (client side).  Its code, and
the rules it follows (zero-copy both ways, backpressure per stream), are in
``_stream`` (``StreamCore``), compiled as ``_stream_c``: this module makes it
an asyncio protocol.

A session's streams must be of the same kind as its session: the compiled
stream calls the compiled ``mux_c.Session`` in C.  ``stream_protocol_for``
says which (``SessionProtocol.stream_protocol``); ``StreamProtocol`` is the
one a compiled session gets when the extensions are built.
"""

from __future__ import annotations

import asyncio
from typing import Any

from .._core import mux
from .._core._select import compiled
from . import _stream
from ._stream import LEND_MIN, SCRATCH_SIZE, WRITE_HIGH_WATER, abort_with_rst, write_payloads

_stream_c: Any = compiled("fasttun.aio._stream_c")

__all__ = ["StreamProtocol", "StreamProtocolPy", "StreamProtocolC", "stream_protocol_for", "abort_with_rst",
           "write_payloads", "dispatch_for", "LEND_MIN", "SCRATCH_SIZE", "WRITE_HIGH_WATER"]


class StreamProtocolPy(_stream.StreamCore, asyncio.BufferedProtocol):
    """One TCP connection bound to one stream of a ``SessionProtocol``: the
    pure-Python twin (``_stream.StreamCore``)."""

    __slots__ = ()


StreamProtocolC: Any = None
if _stream_c is not None and mux.SessionC is not None:  # pragma: no branch
    class StreamProtocolC(_stream_c.StreamCore, asyncio.BufferedProtocol):  # type: ignore[no-redef,misc]
        """One TCP connection bound to one stream of a ``SessionProtocol``:
        compiled (``_stream_c.StreamCore``), for a compiled session."""

        __slots__ = ()

StreamProtocol: Any = StreamProtocolC or StreamProtocolPy


def stream_protocol_for(session: Any) -> Any:
    """The stream protocol class for the streams of *session*: the compiled
    one for a compiled session, the twin for the twin's."""
    if StreamProtocolC is not None and type(session) is mux.SessionC:
        return StreamProtocolC
    return StreamProtocolPy


def dispatch_for(session: Any) -> Any:
    """``dispatch`` of the same kind as ``stream_protocol_for(session)``."""
    return _stream_c.dispatch if stream_protocol_for(session) is StreamProtocolC else _stream.dispatch
