"""Fixtures: implementation (c/py) x event loop (asyncio/uvloop), the MS unit.

Coroutine tests run on a fresh loop of the kind named by the ``loop_kind``
fixture (stdlib asyncio when the test does not ask), under a time limit, and
fail when the loop reported an unhandled exception (asyncpg's _testbase).
"""

from __future__ import annotations

import asyncio
import inspect
import os
import tempfile

import pytest

from fasttun._core import mux as _mux

try:
    import uvloop
except ImportError:  # pragma: no cover
    uvloop = None

# Certificates the tests' servers create go to a temporary state directory,
# never to the user's home (inherited by the CLI processes too).
os.environ["XDG_STATE_HOME"] = tempfile.mkdtemp(prefix="fasttun-test-state-")

# One scalable time unit (websockets' MS): raise FASTTUN_TEST_SLOWDOWN on slow machines.
MS = 0.001 * float(os.environ.get("FASTTUN_TEST_SLOWDOWN", "1"))

IMPLS = [pytest.param("c", id="c"), pytest.param("py", id="py")]
LOOPS = [pytest.param("asyncio", id="asyncio"), pytest.param("uvloop", id="uvloop")]


def session_class(impl: str):
    if impl == "c":
        if _mux.SessionC is None:
            pytest.skip("compiled core not built")
        return _mux.SessionC
    return _mux.SessionPy


@pytest.fixture(params=IMPLS)
def impl(request, monkeypatch):
    """The mux implementation used by the asyncio adapters in this test, and
    the HTTP front's visitor protocol (visitor_c, or its twin visitor_py)."""
    cls = session_class(request.param)
    import fasttun.aio.protocol as protocol
    import fasttun.http.front as front

    monkeypatch.setattr(protocol, "Session", cls)
    visitor = front.VisitorProtocolC if request.param == "c" else front.VisitorProtocolPy
    if visitor is None:
        pytest.skip("compiled visitor not built")
    monkeypatch.setattr(front, "VisitorProtocol", visitor)
    return request.param


@pytest.fixture(params=LOOPS)
def loop_kind(request):
    if request.param == "uvloop" and uvloop is None:
        pytest.skip("uvloop not installed")
    return request.param


def pytest_pyfunc_call(pyfuncitem):
    fn = pyfuncitem.obj
    if not inspect.iscoroutinefunction(fn):
        return None
    kwargs = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    kind = pyfuncitem.funcargs.get("loop_kind", "asyncio")
    factory = uvloop.new_event_loop if kind == "uvloop" else asyncio.new_event_loop
    errors: list = []
    marker = pyfuncitem.get_closest_marker("timeout")
    limit = marker.args[0] if marker else 60

    async def guarded():
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _loop, ctx: errors.append(ctx))
        async with asyncio.timeout(limit):
            await fn(**kwargs)
        await asyncio.sleep(0.01)  # let closing callbacks run and report

    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(guarded())
    if errors:
        pytest.fail(f"unhandled exceptions in the event loop: {errors!r}")
    return True


def pytest_configure(config):
    config.addinivalue_line("markers", "timeout(seconds): time limit of a coroutine test")
    config.addinivalue_line("markers", "slow: takes more than a few seconds")
