"""The server's admin API, metrics and dashboard (``fasttun serve --admin``).

Routes (docs/api.md):

* ``GET /api/v1/server``, ``/clients``, ``/tunnels``, ``/ports``, ``/names``;
* ``DELETE /api/v1/clients/{id}``, ``DELETE /api/v1/tunnels/{id}``;
* ``GET /metrics`` (Prometheus text format);
* ``GET /`` and ``/static/...``: the dashboard.

Every answer is built from the server's state at the moment of the request:
a tunnel that is gone is not listed, and the counters are those the streams
keep (``aio.protocol.Traffic``).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from .._core.consts import GO_AWAY_SHUTDOWN
from .._version import __version__
from ..aio.server import ClientSession, Tunnel, TunnelServer
from ._app import App, HttpError, Request, Response, int_param, json_response
from ._server import WebServer
from .metrics import render_metrics

__all__ = ["AdminApi", "client_info", "tunnel_info"]

def client_info(s: ClientSession) -> dict:
    """What the API says about one client."""
    return {
        "id": s.client_id, "address": s.peer, "version": s.name, "account": s.account,
        "connected_since": s.connected_at, "tunnels": sorted(s.tunnels),
        "streams": len(s.streams), "bytes_from_client": s.session.bytes_received,
        "bytes_to_client": s.session.bytes_sent,
    }


def tunnel_info(t: Tunnel) -> dict:
    """What the API says about one tunnel."""
    traffic = t.traffic
    info: dict[str, Any] = {
        "id": t.tunnel_id, "client": t.owner.client_id, "kind": t.kind, "public": t.public,
        "local": t.local, "connections_open": traffic.open, "connections_total": traffic.total,
        "bytes_in": traffic.received, "bytes_out": traffic.delivered, "created": t.created,
        "limits": {"max_conns": t.max_conns or None, "max_serves": t.max_serves or None,
                   "expires": t.expires or None},
    }
    if t.kind == "tcp":
        info["port"] = t.port
    else:
        entry = t.entry
        info["name"] = getattr(getattr(entry, "name", None), "host", "")
        info["urls"] = list(getattr(entry, "urls", ()))
        info["requests"] = {f"{i}xx": t.statuses[i] for i in range(1, 6)}
    return info


class AdminApi:
    """The admin listener of one ``TunnelServer``."""

    def __init__(self, server: TunnelServer, token: str | None, timeout: float = 10.0) -> None:
        self.server = server
        self.timeout = timeout
        self.app = app = App(token, "fasttun admin")
        app.pages("dashboard.html")
        app.route("GET", "/api/v1/server", self.get_server)
        app.route("GET", "/api/v1/clients", self.get_clients)
        app.route("GET", "/api/v1/clients/{id}", self.get_client)
        app.route("DELETE", "/api/v1/clients/{id}", self.delete_client)
        app.route("GET", "/api/v1/tunnels", self.get_tunnels)
        app.route("GET", "/api/v1/tunnels/{id}", self.get_tunnel)
        app.route("DELETE", "/api/v1/tunnels/{id}", self.delete_tunnel)
        app.route("GET", "/api/v1/ports", self.get_ports)
        app.route("GET", "/api/v1/names", self.get_names)
        app.route("GET", "/metrics", self.get_metrics)
        self.web: WebServer | None = None

    async def start(self, host: str, port: int) -> None:
        self.web = WebServer(self.app, self.timeout)
        await self.web.start(host, port, "--admin")

    @property
    def address(self) -> tuple[str, int]:
        assert self.web is not None
        return self.web.address

    async def close(self) -> None:
        if self.web is not None:
            await self.web.close()

    # -- the routes -------------------------------------------------------------------
    def _clients(self) -> list[ClientSession]:
        return sorted((s for s in self.server.sessions if s.authed and not s.closed.done()),
                      key=lambda s: s.client_id)

    def _tunnels(self) -> list[Tunnel]:
        return sorted((t for s in self._clients() for t in s.tunnels.values()), key=lambda t: t.tunnel_id)

    def get_server(self, req: Request) -> Response:
        srv = self.server
        cfg = srv.config
        http = srv.fronts.get("http")
        return json_response({
            "version": __version__, "uptime": round(time.monotonic() - srv.started, 3),
            "control": "%s:%d" % srv.address, "tls": cfg.tls, "ports": list(cfg.ports),
            "http_port": getattr(http, "http_port", 0) or None, "https_port": getattr(http, "https_port", 0) or None,
            "domain": cfg.domain or None, "clients": len(self._clients()), "tunnels": len(self._tunnels()),
            "streams_total": srv.streams_total, "auth_failures": srv.auth_failures,
        })

    def get_clients(self, req: Request) -> Response:
        return json_response({"clients": [client_info(s) for s in self._clients()]})

    def _client(self, req: Request) -> ClientSession:
        cid = int_param(req, "id")
        for s in self._clients():
            if s.client_id == cid:
                return s
        raise HttpError(404, f"no client {cid} is connected")

    def get_client(self, req: Request) -> Response:
        return json_response(client_info(self._client(req)))

    async def delete_client(self, req: Request) -> Response:
        s = self._client(req)
        s.leaving = True  # its names are freed, not kept for it
        s.close_reason = "disconnected by the operator"
        s.close(GO_AWAY_SHUTDOWN, "disconnected by the operator")
        try:
            await asyncio.wait_for(asyncio.shield(s.closed), 3)
        except TimeoutError:  # pragma: no cover - close() aborts after CLOSE_GRACE
            pass
        return json_response({"disconnected": s.client_id})

    def get_tunnels(self, req: Request) -> Response:
        return json_response({"tunnels": [tunnel_info(t) for t in self._tunnels()]})

    def _tunnel(self, req: Request) -> Tunnel:
        tid = int_param(req, "id")
        tunnel = self.server.find_tunnel(tid)
        if tunnel is None or tunnel.closing:
            raise HttpError(404, f"no tunnel {tid} is open")
        return tunnel

    def get_tunnel(self, req: Request) -> Response:
        return json_response(tunnel_info(self._tunnel(req)))

    def delete_tunnel(self, req: Request) -> Response:
        tunnel = self._tunnel(req)
        self.server.close_tunnel(tunnel, "closed by the operator")
        return json_response({"closed": tunnel.tunnel_id})

    def get_ports(self, req: Request) -> Response:
        srv = self.server
        cfg = srv.config
        ranges = []
        seen = set()
        for who, (low, high) in [("*", cfg.ports)] + [(c.name, c.ports) for c in cfg.clients]:
            if (low, high) in seen and who != "*":
                ranges[-1]["clients"].append(who)
                continue
            seen.add((low, high))
            used = sorted(p for p in srv.tunnels if low <= p <= high)
            ranges.append({"first": low, "last": high, "clients": [who], "in_use": used,
                           "free": _free_runs(low, high, used), "free_count": high - low + 1 - len(used)})
        return json_response({"ranges": ranges})

    def get_names(self, req: Request) -> Response:
        http = self.server.fronts.get("http")
        if http is None:
            return json_response({"domain": None, "names": []})
        names = http.names.snapshot(time.monotonic())  # type: ignore[attr-defined]
        out = []
        for n in names:
            route = n.holder
            tunnel = getattr(route, "tunnel", None)
            if tunnel is not None:
                out.append({"name": n.host, "state": "held", "tunnel": tunnel.tunnel_id,
                            "client": tunnel.owner.client_id})
            else:
                out.append({"name": n.host, "state": "reserved",
                            "free_in": max(0.0, round(n.expires - time.monotonic(), 1))})
        return json_response({"domain": self.server.config.domain or None, "names": out})

    def get_metrics(self, req: Request) -> Response:
        body, ctype = render_metrics(self.server, self._clients(), self._tunnels(), self.app.auth_failures)
        return Response(200, body, ctype)


def _free_runs(low: int, high: int, used: list[int]) -> list[list[int]]:
    """The free ports of low..high as [first, last] runs, given the *used* ones (sorted)."""
    runs = []
    start = low
    for p in used:
        if p > start:
            runs.append([start, p - 1])
        start = p + 1
    if start <= high:
        runs.append([start, high])
    return runs
