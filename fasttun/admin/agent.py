"""The client's agent API and request inspector (``fasttun expose --inspect``).

Like ngrok's agent on 127.0.0.1:4040 (docs/api.md, "The agent API"):

* ``GET /api/tunnels``, ``POST /api/tunnels`` (open one more tunnel while
  running), ``DELETE /api/tunnels/{name}``;
* ``GET /api/requests`` (the last HTTP exchanges of this client's HTTP
  tunnels, with headers and the first 64 KiB of each body),
  ``GET /api/requests/{id}``, ``POST /api/requests/{id}/replay``,
  ``DELETE /api/requests``;
* ``GET /``: the inspector page.

It serves loopback only, without a token, with the checks of ``App`` for an
open API (a loopback ``Host``; no cross-origin changes; JSON bodies).

Recording: the streams of HTTP tunnels are ``TappedStreamProtocol``, the
relay's protocol plus a ``http.tap.Tap`` that looks at the bytes each way
(``http.tap_c``, the same module compiled, unless ``FASTTUN_NO_EXTENSIONS``).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import h11

from .._core._select import compiled
from ..aio.client import ServerSession, Tunnel, TunnelClient
from ..aio.relay import StreamProtocol, StreamProtocolC, StreamProtocolPy
from ..config import Route, parse_duration, parse_local
from ..exceptions import ConfigError, FasttunError, TunnelError
from ..http import tap as _tap
from ..http.tap import BODY_LIMIT
from ._app import App, HttpError, Request, Response, int_param, json_response
from ._server import WebServer

__all__ = ["AgentApi", "TappedStreamProtocol", "TappedStreamProtocolC", "TappedStreamProtocolPy", "tunnel_view"]

_tap = compiled("fasttun.http.tap_c") or _tap  # the compiled tap, when built
Capture, Exchange, Tap = _tap.Capture, _tap.Exchange, _tap.Tap

REPLAY_TIMEOUT = 30.0


def _tapped(base: Any) -> Any:
    """The relay's stream protocol *base* (compiled, or the twin) with a tap."""

    class TappedStreamProtocol(base):  # type: ignore[misc]
        """The relay's protocol for an HTTP tunnel's stream, showing its bytes to a ``Tap``."""

        def __init__(self, owner: ServerSession, stream_id: int, tunnel: Tunnel, capture: Capture) -> None:
            super().__init__(owner, stream_id, tunnel.tunnel_id)
            self.tap = Tap(capture, tunnel.key or tunnel.name)
            self._last: memoryview | None = None

        # (the base's methods called by name, not through super(): these run per read.)
        def get_buffer(self, sizehint: int) -> memoryview:
            view = self._last = base_get_buffer(self, sizehint)
            return view

        def buffer_updated(self, nbytes: int) -> None:
            view = self._last
            self._last = None
            if view is not None:
                self.tap.response_data(view[:nbytes] if nbytes < len(view) else view)
                del view
            base_buffer_updated(self, nbytes)

        def deliver_many(self, payloads: list) -> None:
            if self.transport is not None and not self._closed:  # else kept, and delivered again later
                tap = self.tap
                for p in payloads:
                    tap.request_data(p)
            base_deliver_many(self, payloads)

        def connection_lost(self, exc: Exception | None) -> None:
            self.tap.closed()
            super().connection_lost(exc)

    base_get_buffer, base_buffer_updated, base_deliver_many = base.get_buffer, base.buffer_updated, base.deliver_many
    return TappedStreamProtocol


TappedStreamProtocolPy: Any = _tapped(StreamProtocolPy)
TappedStreamProtocolC: Any = _tapped(StreamProtocolC) if StreamProtocolC is not None else None
TappedStreamProtocol: Any = TappedStreamProtocolC or TappedStreamProtocolPy


def tunnel_view(t: Tunnel) -> dict:
    """What the agent API says about one of the client's tunnels."""
    route = t.route
    out: dict[str, Any] = {
        "name": t.key, "kind": "http" if route.http else "tcp", "url": t.url, "public": t.public_address,
        "local": t.local_address, "connections_open": t.traffic.open, "connections_total": t.traffic.total,
        "bytes_in": t.traffic.delivered, "bytes_out": t.traffic.received,
        "limits": {"max_conns": route.max_conns or None, "max_serves": route.max_serves or None,
                   "expires": t.deadline or None},
    }
    if route.http:
        out["urls"] = list(t.urls)
    else:
        out["remote_port"] = t.remote_port
    return out


class AgentApi:
    """The agent API of one ``TunnelClient``."""

    def __init__(self, client: TunnelClient, capture: Capture | None = None) -> None:
        self.client = client
        self.capture = capture or Capture()
        client.http_stream = self._http_stream
        self.app = app = App(None, "fasttun agent")
        app.pages("inspector.html")
        app.route("GET", "/api/tunnels", self.get_tunnels)
        app.route("POST", "/api/tunnels", self.post_tunnel)
        app.route("GET", "/api/tunnels/{name}", self.get_tunnel)
        app.route("DELETE", "/api/tunnels/{name}", self.delete_tunnel)
        app.route("GET", "/api/requests", self.get_requests)
        app.route("DELETE", "/api/requests", self.clear_requests)
        app.route("GET", "/api/requests/{id}", self.get_request)
        app.route("POST", "/api/requests/{id}/replay", self.replay)
        self.web: WebServer | None = None

    def _http_stream(self, owner: ServerSession, stream_id: int, tunnel: Tunnel) -> StreamProtocol:
        tapped = TappedStreamProtocolC if owner.stream_protocol is StreamProtocolC else TappedStreamProtocolPy
        return tapped(owner, stream_id, tunnel, self.capture)

    async def start(self, host: str, port: int) -> None:
        self.web = WebServer(self.app)
        await self.web.start(host, port, "--inspect")

    @property
    def address(self) -> tuple[str, int]:
        assert self.web is not None
        return self.web.address

    async def close(self) -> None:
        if self.web is not None:
            await self.web.close()

    # -- tunnels ------------------------------------------------------------------------
    def _tunnel(self, req: Request) -> Tunnel:
        name = req.params["name"]
        for t in self.client.tunnels:
            if t.key == name:
                return t
        raise HttpError(404, f"no tunnel named {name[:64]!r}")

    def get_tunnels(self, req: Request) -> Response:
        return json_response({"tunnels": [tunnel_view(t) for t in self.client.tunnels]})

    def get_tunnel(self, req: Request) -> Response:
        return json_response(tunnel_view(self._tunnel(req)))

    async def post_tunnel(self, req: Request) -> Response:
        body = req.json()
        route = _route(body)
        try:
            tunnel = await self.client.expose_route(route)
        except ConfigError as exc:
            raise HttpError(400, str(exc)) from None
        except TunnelError as exc:
            raise HttpError(409, str(exc)) from None
        except FasttunError as exc:  # not connected now (it reconnects)
            raise HttpError(503, str(exc)) from None
        return Response(201, json_response(tunnel_view(tunnel)).body)

    async def delete_tunnel(self, req: Request) -> Response:
        tunnel = self._tunnel(req)
        await tunnel.close()
        return json_response({"closed": tunnel.key})

    # -- requests -------------------------------------------------------------------------
    def get_requests(self, req: Request) -> Response:
        query = req.query
        limit = query.get("limit", "50")
        if not limit.isdigit():
            raise HttpError(400, "limit: want a whole number")
        records = list(self.capture.records)[::-1][: int(limit)]
        tunnel = query.get("tunnel")
        if tunnel:
            records = [r for r in records if r.tunnel == tunnel]
        full = query.get("full", "1") != "0"
        return json_response({"requests": [r.to_dict() if full else r.summary() for r in records],
                              "held_bytes": self.capture.bytes})

    def _record(self, req: Request) -> Exchange:
        rid = int_param(req, "id")
        ex = self.capture.get(rid)
        if ex is None:
            raise HttpError(404, f"no request {rid} is kept (the inspector keeps the last "
                                 f"{self.capture.max_records})")
        return ex

    def get_request(self, req: Request) -> Response:
        return json_response(self._record(req).to_dict())

    def clear_requests(self, req: Request) -> Response:
        self.capture.clear()
        return json_response({"cleared": True})

    async def replay(self, req: Request) -> Response:
        ex = self._record(req)
        if ex.request_size > len(ex.request_body):
            raise HttpError(409, f"the request's body was larger than {BODY_LIMIT} bytes; it was not kept whole")
        tunnel = next((t for t in self.client.tunnels if (t.key or t.name) == ex.tunnel), None)
        if tunnel is None:
            raise HttpError(409, f"the tunnel {ex.tunnel!r} is closed")
        try:
            new = await asyncio.wait_for(_replay(ex, tunnel), REPLAY_TIMEOUT)
        except (OSError, h11.ProtocolError, asyncio.IncompleteReadError) as exc:
            raise HttpError(502, f"replay to {tunnel.local_address} failed: {exc or type(exc).__name__}") from None
        except TimeoutError:
            raise HttpError(504, f"{tunnel.local_address} did not answer within {REPLAY_TIMEOUT:g} s") from None
        self.capture.add(new)
        return Response(201, json_response(new.to_dict()).body)


def _route(body: object) -> Route:
    """The ``Route`` a ``POST /api/tunnels`` asks for."""
    if not isinstance(body, dict):
        raise HttpError(400, 'want a JSON object such as {"local": "3000"}')
    known = {"local", "remote_port", "http", "subdomain", "hostname", "basic_auth", "name", "max_conns",
             "max_serves", "expire", "proxy_protocol"}
    unknown = set(body) - known
    if unknown:
        raise HttpError(400, f"unknown member(s) {', '.join(sorted(unknown))} (known: {', '.join(sorted(known))})")
    local = body.get("local")
    if isinstance(local, int) and not isinstance(local, bool):
        local = str(local)
    if not isinstance(local, str):
        raise HttpError(400, 'local: want "PORT" or "HOST:PORT"')
    try:
        host, port = parse_local(local)
        fields: dict[str, Any] = {}
        for key, kind in (("remote_port", int), ("http", bool), ("subdomain", str), ("hostname", str),
                          ("basic_auth", str), ("name", str), ("max_conns", int), ("max_serves", int)):
            if key in body:
                value = body[key]
                if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                    raise HttpError(400, f"{key}: want a {kind.__name__}")
                fields[key] = value
        if "expire" in body:
            expire = body["expire"]
            if isinstance(expire, bool) or not isinstance(expire, (str, int, float)):
                raise HttpError(400, 'expire: want seconds or a duration such as "2h"')
            fields["expire"] = parse_duration(str(expire), "expire")
        if "proxy_protocol" in body:
            from ..config import parse_proxy_protocol

            fields["proxy_protocol"] = parse_proxy_protocol(str(body["proxy_protocol"]))
        return Route(host, port, **fields).validate()
    except ConfigError as exc:
        raise HttpError(400, str(exc)) from None


async def _replay(ex: Exchange, tunnel: Tunnel) -> Exchange:
    """Send *ex*'s request again to *tunnel*'s local service; the answer as a new record."""
    reader, writer = await asyncio.open_connection(tunnel.local_host, tunnel.local_port)
    new = Exchange(ex.tunnel, ex.method, ex.target, ex.request_head)
    new.replay_of = ex.id
    new.request_body = bytearray(ex.request_body)
    new.request_size = ex.request_size
    conn = h11.Connection(h11.CLIENT)
    started = time.monotonic()
    try:
        writer.write(ex.request_head + bytes(ex.request_body))
        await writer.drain()
        # h11 reads the answer: tell it what was sent (the method decides the framing).
        conn.send(h11.Request(method=ex.method, target=ex.target or b"/", headers=[("Host", "replay")]))
        conn.send(h11.EndOfMessage())
        head_parts: list[bytes] = []
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await reader.read(65536)
                conn.receive_data(data)
                continue
            if isinstance(event, h11.InformationalResponse):
                continue
            if isinstance(event, h11.Response):
                new.status = event.status_code
                reason = event.reason.decode("latin-1")
                lines = [f"HTTP/{event.http_version.decode()} {event.status_code} {reason}".rstrip()]
                lines += [f"{k.decode('latin-1')}: {v.decode('latin-1')}" for k, v in event.headers.raw_items()]
                head_parts.append(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
                new.response_head = head_parts[0]
            elif isinstance(event, h11.Data):
                new.response_size += len(event.data)
                room = BODY_LIMIT - len(new.response_body)
                if room > 0:
                    new.response_body += event.data[:room]
            elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                break
    finally:
        writer.close()
    new.duration = time.monotonic() - started
    return new
