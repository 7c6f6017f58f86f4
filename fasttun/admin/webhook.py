"""``fasttun serve --hook-url URL``: the hooks (``fasttun.hooks``) as HTTP
POSTs of the event as JSON, the way frp's server plugins work.

The answer decides: a 2xx with ``{"allow": true}`` (or an empty body) allows;
``{"allow": false, "reason": "..."}`` refuses with that reason.  Anything else
(a refused connection, a timeout, another status, an answer that is not
JSON) counts as a hook that is down: the event is refused (fail closed) and
the log says why.  ``close`` events are posted too; their answer is ignored.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from urllib.parse import urlsplit

import h11

from ..aio.protocol import dumps, loads
from ..exceptions import ConfigError
from ..hooks import Hooks, Refused

__all__ = ["url_hooks", "check_hook_url"]

log = logging.getLogger("fasttun")

MAX_ANSWER = 65536


def check_hook_url(url: str) -> None:
    """Raise ``ConfigError`` unless *url* is an http(s) URL with a host."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"--hook-url {url!r}: want http://HOST[:PORT]/PATH or https://...")
    try:
        parts.port
    except ValueError:
        raise ConfigError(f"--hook-url {url!r}: the port is not a number") from None


async def post_event(url: str, event: dict) -> dict:
    """POST *event* to *url*; the JSON answer (``{}`` for an empty one).

    Raises:
        OSError: the hook cannot be reached.
        ValueError: it answered with something else than a 2xx JSON object.
    """
    parts = urlsplit(url)
    tls = parts.scheme == "https"
    port = parts.port or (443 if tls else 80)
    reader, writer = await asyncio.open_connection(parts.hostname, port,
                                                   ssl=ssl.create_default_context() if tls else None)
    try:
        body = dumps(event)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn = h11.Connection(h11.CLIENT)
        host = parts.netloc.rpartition("@")[2]
        writer.write(conn.send(h11.Request(method="POST", target=target, headers=[
            ("Host", host), ("Content-Type", "application/json"), ("Content-Length", str(len(body))),
            ("User-Agent", "fasttun-hook"), ("Connection", "close")])))
        writer.write(conn.send(h11.Data(data=body)) + conn.send(h11.EndOfMessage()))
        await writer.drain()
        status, answer = 0, bytearray()
        while True:
            ev = conn.next_event()
            if ev is h11.NEED_DATA:
                conn.receive_data(await reader.read(65536))
            elif isinstance(ev, h11.Response):
                status = ev.status_code
            elif isinstance(ev, h11.Data):
                answer += ev.data
                if len(answer) > MAX_ANSWER:
                    raise ValueError("the answer is too long")
            elif isinstance(ev, (h11.EndOfMessage, h11.ConnectionClosed)):
                break
    except h11.ProtocolError as exc:
        raise ValueError(f"not an HTTP answer ({exc})") from None
    finally:
        writer.close()
    if not 200 <= status < 300:
        raise ValueError(f"status {status}")
    if not answer.strip():
        return {}
    out = loads(bytes(answer))
    if not isinstance(out, dict):
        raise ValueError("the answer is not a JSON object")
    return out


def url_hooks(url: str, timeout: float) -> Hooks:
    """Hooks that post every event to *url* (see the module docstring)."""

    async def ask(event: dict) -> None:
        try:
            answer = await post_event(url, event)
        except (OSError, ValueError) as exc:
            if event["event"] == "close":
                log.warning("hook %s: cannot tell it of a closed tunnel: %s", url, exc)
                return
            log.warning("hook %s is down (%s): refusing the %s", url, exc or type(exc).__name__, event["event"])
            raise Refused("the server's hook is unavailable") from None
        if event["event"] != "close" and answer.get("allow", True) is not True:
            raise Refused(str(answer.get("reason") or "refused by the server's hook")[:200])

    return Hooks(on_login=ask, on_tunnel=ask, on_connect=ask, on_close=ask, timeout=timeout)
