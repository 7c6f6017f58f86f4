"""The server's `requests` messages (docs/spec.md §9.2) stay under the frame limit."""

from __future__ import annotations

import orjson

from fasttun._core import consts as C
from fasttun.http.front import RECORDS_MESSAGE_MAX, record_messages


def _record(i: int, path_len: int) -> list:
    return [7, "GET", "/" + "p" * path_len + str(i), 200, 12, 0.000123, "127.0.0.1"]


def test_a_busy_turn_is_split_in_order_and_every_message_fits():
    batch = [_record(i, 10 + (i % 7) * 900) for i in range(3000)]  # about 9 MB of records
    payloads = record_messages(batch)
    assert len(payloads) > 1
    assert all(len(p) <= RECORDS_MESSAGE_MAX for p in payloads)
    got = []
    for p in payloads:
        msg = orjson.loads(p)
        assert msg["op"] == "requests"
        got += msg["records"]
    assert got == batch


def test_a_quiet_turn_is_one_message_and_a_huge_path_still_fits_a_frame():
    assert len(record_messages([_record(1, 5)])) == 1
    huge = [_record(1, 32700), _record(2, 32700), _record(3, 5)]  # paths as long as a head may be
    payloads = record_messages(huge)
    assert [len(orjson.loads(p)["records"]) for p in payloads] == [1, 2]
    assert all(len(p) <= C.DEFAULT_MAX_FRAME for p in payloads)
    assert record_messages([]) == []
