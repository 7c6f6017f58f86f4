"""The console's request lines (``cli.RequestLog``): one line per request,
the same whether a ``requests`` message comes whole (``requests_message``) or one
request at a time (the ``on_request`` callback)."""

from __future__ import annotations

import asyncio
import io
import re

from fasttun.cli import RequestLog


class _Tunnel:
    def __init__(self, name: str) -> None:
        self.name = name


def _log(several: bool) -> tuple[RequestLog, io.StringIO, asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    out = io.StringIO()
    log = RequestLog(loop, out)
    log.several = several
    return log, out, loop


RECORDS = [
    [1, "GET", "/", 200, 615, 0.000523, "203.0.113.7"],
    [2, "POST", "/upload?x=1", 201, 5 << 20, 1.25, "203.0.113.8"],
    [1, "GET", "/" + "x" * 300, 404, 0, 0.0101, "203.0.113.7"],
    [9, "GET", "/gone", 200, 1, 0.001, "203.0.113.7"],  # a tunnel this client no longer has: no line
]
TUNNELS = {1: _Tunnel("app"), 2: _Tunnel("api")}


def test_lines_whole_message_and_one_at_a_time_agree():
    for several in (False, True):
        whole, out_whole, loop1 = _log(several)
        whole.requests_message(TUNNELS, RECORDS)
        whole.flush()
        single, out_single, loop2 = _log(several)
        for r in RECORDS:
            if r[0] in TUNNELS:
                single(TUNNELS[r[0]], {"method": r[1], "path": r[2], "status": r[3], "bytes": r[4],
                                       "duration": r[5], "client": r[6]})
        single.flush()
        loop1.close()
        loop2.close()
        lines = out_whole.getvalue().splitlines()
        assert lines == out_single.getvalue().splitlines() and len(lines) == 3
        name = "app  " if several else ""
        assert re.fullmatch(rf"\d\d:\d\d:\d\d  {name}GET /  200  615 B  0\.5 ms", lines[0])
        assert lines[1].endswith(f"{'api  ' if several else ''}POST /upload?x=1  201  5.0 MiB  1250.0 ms")
        assert f"{name}GET /{'x' * 196}...  404  0 B  10.1 ms" in lines[2]  # long paths cut at 200


# -- the compiled lines (console_c) against their twin (console) ---------------------

import pytest  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from fasttun import cli  # noqa: E402
from fasttun.http import console  # noqa: E402

try:
    from fasttun.http import console_c
except ImportError:  # pragma: no cover - not built (the guard test fails then)
    console_c = None

compiled = pytest.mark.skipif(console_c is None, reason="console_c is not built")


def _lines(module, several, tunnels, records):
    lines: list[str] = []
    try:
        module.request_lines(lines, "12:04:05", several, tunnels, records)
    except (TypeError, ValueError, IndexError, KeyError) as exc:
        return lines, type(exc)
    return lines, None


@compiled
def test_compiled_lines_match_the_twin_on_the_examples():
    for several in (False, True):
        assert _lines(console_c, several, TUNNELS, RECORDS) == _lines(console, several, TUNNELS, RECORDS)
        lines, err = _lines(console_c, several, TUNNELS, RECORDS)
        assert err is None and len(lines) == 3
    # rounding to a tenth of a millisecond: half up, the same in both
    for duration in (0.00005, 0.00015, 0.0012345, 0.99995, 59.99996, 0, 1, -0.5, 1e12):
        rec = [[1, "GET", "/", 200, 10, duration, "x"]]
        assert _lines(console_c, False, TUNNELS, rec) == _lines(console, False, TUNNELS, rec)
    assert _lines(console, False, TUNNELS, [[1, "GET", "/", 200, 10, 0.00016, ""]])[0][0].endswith(" 0.2 ms\n")
    assert _lines(console, False, TUNNELS, [[1, "GET", "/", 200, 10, 1e12, ""]])[0][0].endswith(" 0.0 ms\n")


_scalar = st.one_of(st.none(), st.booleans(), st.integers(-(1 << 70), 1 << 70),
                    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=260))


@compiled
@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(
    st.lists(_scalar, max_size=8),  # anything a broken server could send
    st.tuples(st.sampled_from([1, 2, 9]), st.sampled_from(["GET", "POST"]), st.text(max_size=260),
              st.integers(100, 599), st.integers(0, 1 << 45), st.floats(0, 1e4), st.just("203.0.113.9")).map(list),
    _scalar,
), max_size=6), st.booleans())
def test_compiled_lines_match_the_twin(records, several):
    assert _lines(console_c, several, TUNNELS, records) == _lines(console, several, TUNNELS, records)


def test_cli_uses_the_compiled_lines_unless_told():
    if console_c is None or cli.NO_EXTENSIONS:
        assert cli.request_lines is console.request_lines
    else:
        assert cli.request_lines is console_c.request_lines
