# cython: annotation_typing=False
"""The console's request lines: ``12:04:05  GET /api/items  200  1.2 KiB  3.1 ms``.

``fasttun expose`` prints one line per request an HTTP tunnel answered (its
``RequestLog``, in ``cli``).  A line is the time of day, the tunnel's name
when the client has several, and what ``request_line`` makes of the request:
the server makes that part itself for a client that asks for lines (a bind's
``log: "lines"``, docs/spec.md §9.2), and the client makes it from the
records of a ``requests`` message otherwise (``request_lines``).

Sans-I/O, and run once per request, so it is compiled as ``_console_c``
with the augmenting declarations of ``_console_c.pxd`` (as ``_heads`` is);
``console`` gives the one in use.  Both must give the same text and the same
errors (tests/test_request_log.py).
"""

from ..aio.protocol import format_size

__all__ = ["request_line", "request_lines", "MAX_PATH"]

MAX_PATH = 200  # a longer path is cut to this many characters, "..." last


def request_line(method: str, path: str, status: object, size: object, duration: object) -> str:
    """``GET /api/items  200  1.2 KiB  3.1 ms`` and a newline: *duration* in
    seconds, shown in tenths of a millisecond rounded half up (in integers,
    the same in both twins; a duration out of range shows as 0.0).

    ``TypeError`` for a path that is not a string or a duration that is not
    a number."""
    if type(path) is not str:
        raise TypeError("a request's path is not a string")
    if len(path) > MAX_PATH:
        path = path[:MAX_PATH - 3] + "..."
    if type(duration) is not float and type(duration) is not int:
        raise TypeError("a request's duration is not a number")
    seconds = duration
    tenths = int(seconds * 10000 + 0.5) if 0 <= seconds < 1e9 else 0
    if type(size) is int and 0 <= size < 1024:  # type: ignore[operator]
        return f"{method} {path}  {status}  {size} B  {tenths // 10}.{tenths % 10} ms\n"
    return f"{method} {path}  {status}  {format_size(size)}  {tenths // 10}.{tenths % 10} ms\n"  # type: ignore[arg-type]


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
        line = request_line(r[1], r[2], r[3], r[4], r[5])
        lines.append(f"{stamp}  {tunnel.name}  {line}" if several else f"{stamp}  {line}")
