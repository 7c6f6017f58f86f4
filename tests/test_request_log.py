"""The console's request lines (``cli.RequestLog``): one line per request,
the same whether a ``requests`` message comes whole (``requests_message``), one
request at a time (the ``on_request`` callback) or as the server's lines
(``request_lines`` messages, ``lines_message``); and the compiled line
functions (``_console_c``) against their twin (``_console``)."""

from __future__ import annotations

import asyncio
import io
import re

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fasttun.cli import RequestLog
from fasttun.http import console
from fasttun.http.visitor_py import LINES_MESSAGE_TEXT, line_messages


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


def _printed(several: bool, feed) -> str:
    """What a console prints after *feed* gave its RequestLog the requests."""
    log, out, loop = _log(several)
    feed(log)
    log.flush()
    loop.close()
    return out.getvalue()


def _one_at_a_time(log: RequestLog) -> None:
    for r in RECORDS:
        if r[0] in TUNNELS:
            log(TUNNELS[r[0]], {"method": r[1], "path": r[2], "status": r[3], "bytes": r[4], "duration": r[5],
                                "client": r[6]})


def _whole(log: RequestLog) -> None:
    log.requests_message(TUNNELS, RECORDS)


def test_lines_whole_message_and_one_at_a_time_agree():
    for several in (False, True):
        lines = _printed(several, _whole).splitlines()
        assert lines == _printed(several, _one_at_a_time).splitlines() and len(lines) == 3
        name = "app  " if several else ""
        assert re.fullmatch(rf"\d\d:\d\d:\d\d  {name}GET /  200  615 B  0\.5 ms", lines[0])
        assert lines[1].endswith(f"{'api  ' if several else ''}POST /upload?x=1  201  5.0 MiB  1250.0 ms")
        assert f"{name}GET /{'x' * 196}...  404  0 B  10.1 ms" in lines[2]  # long paths cut at 200


# -- the server's lines (a bind's log: "lines") ---------------------------------------


def _server_runs(records):
    """What a server sends for *records*: request_lines messages (docs/spec.md §9.2)."""
    batch = []
    for r in records:
        batch += [r[0], console.request_line(r[1], r[2], r[3], r[4], r[5])]
    return [orjson.loads(p) for p in line_messages(batch)]


def test_many_lines_are_written_at_once():
    """Past 64 KiB of waiting lines the console writes without its timer:
    a busy tunnel's lines go out a little at a time."""
    log, out, loop = _log(False)
    text = "GET /  200  615 B  0.5 ms\n" * 1000  # 26,000 characters
    log.lines_message(TUNNELS, [[1, text]])
    assert out.getvalue() == "" and log._flush is not None  # waits for the timer
    log.lines_message(TUNNELS, [[1, text], [2, text]])
    printed = out.getvalue().splitlines()
    assert len(printed) == 3000 and log._flush is None and log._lines == []
    assert all(re.fullmatch(r"\d\d:\d\d:\d\d  GET /  200  615 B  0\.5 ms", line) for line in printed)
    loop.close()


def test_server_lines_print_as_records_do():
    messages = _server_runs(RECORDS)
    assert [m["op"] for m in messages] == ["request_lines"]
    assert [run[0] for run in messages[0]["lines"]] == [1, 2, 1, 9]  # runs of one tunnel, in order

    def from_server(log: RequestLog) -> None:
        for m in messages:
            log.lines_message(TUNNELS, m["lines"])

    for several in (False, True):
        printed = _printed(several, _whole)
        assert _printed(several, from_server) == printed and printed.count("\n") == 3


def test_line_messages_split_and_keep_order():
    records = [[1 + i % 2, "GET", f"/{i}/" + "x" * (i % 150), 200, i, 0.001, ""] for i in range(2000)]
    records += [[1, "GET", "/" + "\u00e9" * 199, 200, 5, 0.001, ""]]  # characters JSON escapes or widens
    batch = []
    for r in records:
        batch += [r[0], console.request_line(r[1], r[2], r[3], r[4], r[5])]
    payloads = line_messages(batch)
    assert len(payloads) > 1 and all(len(p) <= 65536 for p in payloads)
    got = []
    for p in payloads:
        msg = orjson.loads(p)
        assert msg["op"] == "request_lines"
        for tunnel_id, text in msg["lines"]:
            assert sum(len(t) for _, t in msg["lines"]) <= LINES_MESSAGE_TEXT
            got += [(tunnel_id, line) for line in text.splitlines(keepends=True)]
    assert got == [(batch[i], batch[i + 1]) for i in range(0, len(batch), 2)]


def test_malformed_lines_are_skipped():
    log, out, loop = _log(False)
    log.lines_message(TUNNELS, [[1, "GET /  200  1 B  0.1 ms\n"], [2, 5], [9, "x\n"], [1, ""]])
    with pytest.raises(ValueError):
        log.lines_message(TUNNELS, [[1]])  # (the client catches it and drops the message)
    log.flush()
    loop.close()
    assert re.fullmatch(r"\d\d:\d\d:\d\d  GET /  200  1 B  0\.1 ms\n", out.getvalue())


# -- the compiled lines (_console_c) against their twin (_console) ---------------------

compiled = pytest.mark.skipif(console.console_c is None, reason="_console_c is not built")


def _lines(module, several, tunnels, records):
    lines: list[str] = []
    try:
        module.request_lines(lines, "12:04:05", several, tunnels, records)
    except (TypeError, ValueError, IndexError, KeyError) as exc:
        return lines, type(exc)
    return lines, None


@compiled
def test_compiled_lines_match_the_twin_on_the_examples():
    c, py = console.console_c, console.console_py
    for several in (False, True):
        assert _lines(c, several, TUNNELS, RECORDS) == _lines(py, several, TUNNELS, RECORDS)
        lines, err = _lines(c, several, TUNNELS, RECORDS)
        assert err is None and len(lines) == 3
    # rounding to a tenth of a millisecond: half up, the same in both
    for duration in (0.00005, 0.00015, 0.0012345, 0.99995, 59.99996, 0, 1, -0.5, 1e12):
        rec = [[1, "GET", "/", 200, 10, duration, "x"]]
        assert _lines(c, False, TUNNELS, rec) == _lines(py, False, TUNNELS, rec)
    assert py.request_line("GET", "/", 200, 10, 0.00016).endswith(" 0.2 ms\n")
    assert py.request_line("GET", "/", 200, 10, 1e12).endswith(" 0.0 ms\n")


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
    assert _lines(console.console_c, several, TUNNELS, records) == _lines(console.console_py, several, TUNNELS, records)


def test_the_compiled_lines_are_in_use_unless_told():
    from fasttun.http import visitor_c, visitor_py

    best = console.console_c or console.console_py
    assert _log(False)[0]._request_lines is best.request_lines and visitor_py.request_line is best.request_line
    if visitor_c is not None:
        assert visitor_c.request_line is best.request_line
