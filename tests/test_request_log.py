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
