# cython: annotation_typing=False
"""The console's request lines: ``12:04:05  GET /api/items  200  1.2 KiB  3.1 ms``.

``fasttun expose`` prints one line per request an HTTP tunnel answered (its
``RequestLog``, in ``cli``); this module turns the records of a ``requests``
message (docs/spec.md §9.2) into those lines.  It is sans-I/O and runs once
per request on the client, so it is compiled as ``console_c`` with the
augmenting declarations of ``console_c.pxd`` (as ``_heads`` is); the client
uses the compiled one unless ``FASTTUN_NO_EXTENSIONS`` is set, and both must
give the same lines and the same errors (tests/test_request_log.py).
"""

from ..aio.protocol import format_size

__all__ = ["request_lines", "MAX_PATH"]

MAX_PATH = 200  # a longer path is cut to this many characters, "..." last


def request_lines(lines: list, stamp: str, several: bool, tunnels: dict, records: list) -> None:
    """Append to *lines* one line for each of *records* (``[tunnel id, method,
    path, status, bytes, duration, ...]``) whose tunnel is in *tunnels*
    (tunnels by id, each with a ``name``).  *stamp* is the time of day;
    with *several* HTTP tunnels, each line names its tunnel.

    A record of the wrong shape or types raises ``TypeError``, ``ValueError``
    or ``IndexError`` (the client then drops the rest of that message); the
    lines before it are kept.
    """
    for record in records:
        if type(record) is not list:
            raise TypeError("a request record is not a list")
        r = record
        tunnel = tunnels.get(r[0])
        if tunnel is None:
            continue
        path = r[2]
        if type(path) is not str:
            raise TypeError("a request record's path is not a string")
        if len(path) > MAX_PATH:
            path = path[:MAX_PATH - 3] + "..."
        size = r[4]
        duration = r[5]
        if type(duration) is not float and type(duration) is not int:
            raise TypeError("a request record's duration is not a number")
        seconds = duration
        # tenths of a millisecond, rounded half up, in integers (and the same
        # in both twins); a duration out of range shows as 0.0
        tenths = int(seconds * 10000 + 0.5) if 0 <= seconds < 1e9 else 0
        head = f"{stamp}  {tunnel.name}" if several else stamp
        if type(size) is int and 0 <= size < 1024:
            lines.append(f"{head}  {r[1]} {path}  {r[3]}  {size} B  {tenths // 10}.{tenths % 10} ms\n")
        else:
            lines.append(f"{head}  {r[1]} {path}  {r[3]}  {format_size(size)}  {tenths // 10}.{tenths % 10} ms\n")
