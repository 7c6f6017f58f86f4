"""The server's access log: one JSON object per line (orjson), per request."""

from __future__ import annotations

from typing import IO, Any

from ..aio.protocol import dumps

__all__ = ["AccessLog"]


class AccessLog:
    """Appends records to *path*; buffered, flushed by ``flush`` (the front
    calls it every second) and on ``close``.

    Raises:
        OSError: the file cannot be opened for appending.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._file: IO[bytes] | None = open(path, "ab", buffering=1 << 16)

    def write(self, record: dict[str, Any]) -> None:
        if self._file is not None:
            self._file.write(dumps(record) + b"\n")

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
