"""Guard: the compiled core must be in use wherever it should be.

A silent fallback to the pure-Python twins is the likeliest "it got slow"
bug; this test makes it a red run.  Set FASTTUN_NO_EXTENSIONS=1 to test the
twins on purpose, or FASTTUN_ALLOW_PURE=1 on a platform without a compiler.
"""

import os
import subprocess
import sys

import pytest

import fasttun
from fasttun._core import buffers, frames, httpbody, httphead, mux


def test_compiled_core_loaded():
    if os.environ.get("FASTTUN_NO_EXTENSIONS") or os.environ.get("FASTTUN_ALLOW_PURE"):
        assert fasttun.IMPLEMENTATION in ("c", "py")
        return
    assert fasttun.IMPLEMENTATION == "c"
    assert mux.Session is mux.SessionC and mux.SessionC.__module__ == "fasttun._core.mux_c"
    assert frames.FrameDecoder is frames.FrameDecoderC
    assert buffers.BufferPool is buffers.BufferPoolC
    assert httpbody.BodyCounter is httpbody.BodyCounterC
    assert httphead.FAST_PATH and httphead.scan_request is httphead.scan_request_c
    # mux_c is the hand-written extension (it cimports the compiled decoder and pool)
    import importlib.machinery

    from fasttun._core import mux_c

    assert mux_c.__file__.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))
    with pytest.raises(TypeError):  # it takes the compiled pool only
        mux_c.Session(True, pool=buffers.BufferPoolPy(1 << 20))
    # the HTTP front's visitors are the compiled visitor_py (visitor_c)
    from fasttun.http import _heads_c, front, visitor_c

    assert visitor_c.__file__.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))
    assert _heads_c.__file__.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))
    assert visitor_c.read_request is _heads_c.read_request  # the visitor reads heads with the compiled reader
    from fasttun.admin import agent
    from fasttun.http import tap_c

    assert tap_c.__file__.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))
    assert agent.Tap is tap_c.Tap and agent.Capture is tap_c.Capture  # the inspector's tap
    assert front.VisitorProtocol is front.VisitorProtocolC
    from fasttun import cli
    from fasttun.http import _console_c

    assert _console_c.__file__.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))
    assert cli.RequestLog(None)._request_lines is _console_c.request_lines  # the client's console lines
    assert visitor_c.request_line is _console_c.request_line  # the server's, for clients that ask for lines
    assert issubclass(front.VisitorProtocol, visitor_c.VisitorCore) and issubclass(front.HttpFront, visitor_c.FrontCore)
    # the TCP adapters' per-event path (a stream's copy loop, the session's dispatch) is _stream compiled
    from fasttun.aio import _stream_c, relay

    assert _stream_c.__file__.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))
    assert relay.StreamProtocol is relay.StreamProtocolC and issubclass(relay.StreamProtocolC, _stream_c.StreamCore)
    assert relay.stream_protocol_for(mux.Session(True)) is relay.StreamProtocolC
    assert relay.dispatch_for(mux.Session(True)) is _stream_c.dispatch
    assert agent.TappedStreamProtocol is agent.TappedStreamProtocolC
    assert issubclass(agent.TappedStreamProtocolC, relay.StreamProtocolC)


def test_no_extensions_env_selects_twins():
    code = ("import fasttun; from fasttun._core import frames, httpbody, httphead, mux; "
            "from fasttun.http import front, heads, visitor_py; from fasttun import cli; "
            "from fasttun.aio import relay; "
            "print(fasttun.IMPLEMENTATION, frames.FrameDecoderC, httpbody.BodyCounterC, httphead.FAST_PATH, "
            "front.VisitorProtocolC, front.VisitorProtocol.__name__, heads.heads_c, "
            "cli.RequestLog(None)._request_lines.__module__, visitor_py.request_line.__module__, "
            "relay.StreamProtocolC, relay.StreamProtocol.__name__, relay.dispatch_for(mux.Session(True)).__module__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "FASTTUN_NO_EXTENSIONS": "1"}).stdout.split()
    assert out == ["py", "None", "None", "False", "None", "VisitorProtocolPy", "None", "fasttun.http._console",
                   "fasttun.http._console", "None", "StreamProtocolPy", "fasttun.aio._stream"]
