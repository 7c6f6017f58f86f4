"""Server hooks: your code decides who may log in, open a tunnel, or connect.

Example::

    async def login(event):
        if event["account"] == "mallory":
            raise fasttun.Refused("mallory is suspended")

    hooks = fasttun.Hooks(on_login=login, on_close=lambda e: print("closed", e))
    async with fasttun.Server(token="T", hooks=hooks) as server:
        ...

Each callback takes one ``dict`` (the event, below) and may be a plain or an
``async`` function.  To refuse, raise ``Refused(reason)`` (or return the
reason as a string); to allow, return None.  The reason reaches the client:

* ``on_login``: the client is refused at once, before any tunnel, and gives
  up (``AuthenticationError`` naming the reason; the command line exits);
* ``on_tunnel``: the bind is refused, with the reason (``TunnelError``);
* ``on_connect``: the visitor's connection is refused (TCP: reset; HTTP: a
  403 page naming the reason); the server logs it.

``on_close`` is told when a tunnel closes, for any reason; it cannot refuse.

Events (all carry ``event``, the event's name, and ``client``, the id the
admin API uses):

* login: ``address``, ``version``, ``account`` (the ``[[clients]]`` entry, or None);
* tunnel: ``address``, ``account``, ``kind`` (``tcp``/``http``), ``local``,
  ``port`` (asked for; 0: any) or ``subdomain``/``hostname``, ``limits``;
* connect: ``tunnel``, ``kind``, ``public``, ``visitor`` (``host:port``),
  and for HTTP ``host``;
* close: ``tunnel``, ``kind``, ``public``, ``reason``.

A callback that raises anything else, or takes longer than ``timeout``
seconds, refuses (fails closed), and the server logs why.  Callbacks run
for new logins, tunnels and connections only: the bytes of an open
connection never wait for them.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

__all__ = ["Hooks", "Refused"]

log = logging.getLogger("fasttun")

Callback = Callable[[dict], "Awaitable[Any] | Any"]


class Refused(Exception):
    """Raised by a hook to refuse; the message is the reason the client sees."""


@dataclass
class Hooks:
    """The callbacks of ``fasttun.Server(hooks=...)`` (see the module docstring)."""

    on_login: Callback | None = None
    on_tunnel: Callback | None = None
    on_connect: Callback | None = None
    on_close: Callback | None = None
    timeout: float = 5.0
    """Seconds a callback may take before the event is refused."""

    async def call(self, name: str, event: dict) -> str | None:
        """Run the callback *name* (``login``...) on *event*: the reason
        to refuse, or None to allow.  Never raises."""
        callback = getattr(self, f"on_{name}")
        if callback is None:
            return None
        try:
            out = callback(event)
            if inspect.isawaitable(out):
                out = await asyncio.wait_for(out, self.timeout)
        except Refused as exc:
            return str(exc) or "refused"
        except TimeoutError:
            log.warning("hook %s: no answer within %g s; refusing", name, self.timeout)
            return "the server's hook did not answer"
        except Exception as exc:
            log.warning("hook %s failed (%s: %s); refusing", name, type(exc).__name__, exc)
            return "the server's hook failed"
        if isinstance(out, str):
            return out or "refused"
        return None
