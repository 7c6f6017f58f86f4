"""The library API: ``Server`` and ``Client`` as async context managers.

Example::

    async with fasttun.Server(listen_port=0, token="s3cret") as server:
        host, port = server.address
        async with fasttun.Client(server=f"{host}:{port}", token="s3cret") as client:
            tunnel = await client.expose(3000)
            print(tunnel.public_address)
            web = await client.expose(8000, http=True, subdomain="myapp")
            print(web.url)                      # http://myapp.<the server's domain>
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable

from .aio.client import Tunnel, TunnelClient
from .aio.server import TunnelServer
from .config import DEFAULT_CONTROL_PORT, ClientConfig, Route, ServerConfig, is_loopback, parse_hostport, parse_server
from .exceptions import ConfigError
from .hooks import Hooks

__all__ = ["Server", "Client", "Tunnel", "expose", "ExposedTunnel"]


class Server:
    """A tunnel server; ``async with Server(...) as s`` starts and stops it.

    Accepts a ``ServerConfig`` or its fields as keyword arguments, e.g.
    ``Server(listen_port=0, ports=(20000, 20100), token="t")``, and
    ``hooks=fasttun.Hooks(...)``: your callbacks for logins, tunnels,
    connections and closes (``fasttun.hooks``).
    """

    def __init__(self, config: ServerConfig | None = None, *, hooks: Hooks | None = None, **fields: Any) -> None:
        base = config or ServerConfig()
        self.config = base.replace(**fields) if fields else base
        if self.config.hook_url is not None:
            if hooks is not None:
                raise ConfigError("give hooks or hook_url, not both")
            from .admin.webhook import check_hook_url, url_hooks

            check_hook_url(self.config.hook_url)
            hooks = url_hooks(self.config.hook_url, self.config.hook_timeout)
        self._server = TunnelServer(self.config, hooks)
        self._http: Any = None  # the HTTP front (fasttun.http.front.HttpFront), when on
        self._admin: Any = None  # the admin API (fasttun.admin.serverapi.AdminApi), when on
        self._ws: Any = None  # the WebSocket carrier listener (asyncio server), when on

    async def __aenter__(self) -> "Server":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        """Open the control listener, and the HTTP/HTTPS ports when configured.

        Raises:
            OSError: a port cannot be listened on.
        """
        await self._server.start()
        cfg = self.config
        carrier = None
        if cfg.ws_listen_port is not None or cfg.http_port is not None or cfg.https_port is not None:
            carrier = self._carrier_factory()
        if cfg.ws_listen_port is not None:
            loop = asyncio.get_running_loop()
            try:
                self._ws = await loop.create_server(carrier, cfg.ws_listen_host or None, cfg.ws_listen_port,
                                                    backlog=1024, reuse_address=True)
            except OSError as exc:
                await self._server.close()
                raise OSError(exc.errno, exc.strerror or str(exc),
                              f"{cfg.ws_listen_host or '*'}:{cfg.ws_listen_port} (--ws-listen)") from None
        if cfg.http_port is not None or cfg.https_port is not None:
            from .http.front import HttpFront  # only servers with an HTTP port load it (and h11)

            front = HttpFront(self._server, cfg)
            front.carrier = carrier  # tunnel clients may upgrade on --ws-path there too
            try:
                await front.start()
            except BaseException:
                await front.close()
                await self._server.close()
                raise
            self._http = front
            self._server.fronts[front.kind] = front
        if cfg.admin_port is not None:
            from .admin.serverapi import AdminApi  # only servers with --admin load it (and prometheus-client)

            admin = AdminApi(self._server, None if cfg.admin_open else cfg.admin_token)
            try:
                await admin.start(cfg.admin_host, cfg.admin_port)
            except BaseException:
                await self.close()
                raise
            self._admin = admin

    def _carrier_factory(self) -> Any:
        """Makes the protocol of a connection that may carry a tunnel client in a WebSocket."""
        from .aio.server import ClientSession
        from .ws.carrier import accept_server  # only servers with a WebSocket listener load it

        inner, cfg = self._server, self.config
        return lambda: accept_server(lambda: ClientSession(inner), path=cfg.ws_path,
                                     tls_context=inner.ssl_context, handshake_timeout=cfg.handshake_timeout)

    @property
    def ws_address(self) -> tuple[str, int] | None:
        """(host, port) of the WebSocket carrier listener (None when off)."""
        if self._ws is None:
            return None
        name = self._ws.sockets[0].getsockname()
        return name[0], name[1]

    async def close(self) -> None:
        """Tell the clients the server goes away and free every port."""
        if self._ws is not None:
            self._ws.close()
        if self._admin is not None:
            await self._admin.close()
        if self._http is not None:
            await self._http.close()
        await self._server.close()

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) of the control listener, where clients connect."""
        return self._server.address

    @property
    def http_port(self) -> int | None:
        """The HTTP port as bound (None when off)."""
        return self._http.http_port or None if self._http is not None else None

    @property
    def https_port(self) -> int | None:
        """The HTTPS port as bound (None when off)."""
        return self._http.https_port or None if self._http is not None else None

    @property
    def admin_address(self) -> tuple[str, int] | None:
        """(host, port) of the admin API as bound (None when off)."""
        return self._admin.address if self._admin is not None else None

    @property
    def public_ports(self) -> list[int]:
        """Public ports open now."""
        return sorted(self._server.tunnels)

    @property
    def client_count(self) -> int:
        """Clients connected now."""
        return len(self._server.sessions)

    def summary(self) -> str:
        """One line: uptime, streams, bytes each way."""
        return self._server.summary()


class Client:
    """A tunnel client; ``async with Client(server="host:port", token=...)``.

    Args:
        server: ``HOST:PORT`` of the tunnel server.
        token: the server's token.
        reconnect: dial again with backoff when the server is lost.
        on_tunnel: called with each ``Tunnel`` when it opens or reopens (up).
        on_request: called with (``Tunnel``, record) for each request an HTTP
            tunnel answered; the record has ``method``, ``path``, ``status``,
            ``bytes`` (of the answer), ``duration`` (s) and ``client`` (the
            visitor's address).  Without it the server sends no records.
        on_tunnel_closed: called with (``Tunnel``, reason) when the server
            closes a tunnel (a limit such as ``max_serves`` or ``expire``, or
            the operator); it is not asked for again.
        on_tunnel_down: called with (``Tunnel``, reason) for each tunnel when
            the connection to the server is lost; ``on_tunnel`` is called
            again when it reopens after the reconnect.
        **fields: other ``ClientConfig`` fields.
    """

    def __init__(self, server: str = f"127.0.0.1:{DEFAULT_CONTROL_PORT}", *, token: str | None = None,
                 reconnect: bool = True, on_tunnel: Callable[[Tunnel], None] | None = None,
                 on_request: Callable[[Tunnel, dict], None] | None = None,
                 on_tunnel_closed: Callable[[Tunnel, str], None] | None = None,
                 on_tunnel_down: Callable[[Tunnel, str], None] | None = None,
                 config: ClientConfig | None = None, **fields: Any) -> None:
        if config is None:
            if server.lower().startswith(("ws://", "wss://", "tcp://")):
                host, port, ws_url = parse_server(server)
            else:
                host, port = parse_hostport(server, "127.0.0.1", "server", DEFAULT_CONTROL_PORT)
                ws_url = None
            config = ClientConfig(server_host=host, server_port=port, token=token, reconnect=reconnect,
                                  ws_url=ws_url, **fields)
        self.config = config
        self._client = TunnelClient(config, on_tunnel, on_request, on_tunnel_closed, on_tunnel_down)
        self._agent: Any = None  # the agent API and inspector (fasttun.admin.agent.AgentApi), when on

    async def __aenter__(self) -> "Client":
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self) -> None:
        """Dial and authenticate; raises ``ConnectError``/``AuthenticationError``."""
        await self._client.connect()

    async def start_inspector(self, host: str = "127.0.0.1", port: int = 4040) -> tuple[str, int]:
        """Serve the agent API and request inspector on *host*:*port*
        (docs/api.md, "The agent API"); returns the address as bound.
        Call it before HTTP tunnels open: their exchanges are recorded from then on.

        Raises:
            ConfigError: *host* is not a loopback address (the API has no token).
            OSError: the port cannot be listened on.
        """
        from .admin.agent import AgentApi  # only clients with an inspector load it

        if not is_loopback(host):
            raise ConfigError(f"--inspect serves without a token, so only on a loopback address, not {host}")
        agent = AgentApi(self._client)
        try:
            await agent.start(host, port)
        except BaseException:
            self._client.http_stream = None
            raise
        self._agent = agent
        return agent.address

    @property
    def inspector_address(self) -> tuple[str, int] | None:
        """Where the inspector listens (None: off)."""
        return self._agent.address if self._agent is not None else None

    async def expose(self, local_port: int, *, local_host: str = "localhost", remote_port: int = 0,
                     **options: Any) -> Tunnel:
        """Open a public port leading to ``local_host:local_port``, or with
        ``http=True`` an HTTP name (``tunnel.url``); see ``TunnelClient.expose``
        for the options (``subdomain``, ``basic_auth``, ...)."""
        return await self._client.expose(local_port, local_host=local_host, remote_port=remote_port, **options)

    async def expose_routes(self, routes: list[Route]) -> list[Tunnel]:
        """Expose each ``Route`` in turn."""
        return [await self._client.expose_route(r) for r in routes]

    @property
    def tunnels(self) -> list[Tunnel]:
        """Open tunnels."""
        return list(self._client.tunnels)

    async def wait_failed(self) -> BaseException:
        """Wait until the client gives up (``--no-reconnect``, token refused)."""
        assert self._client.failed is not None
        return await self._client.failed

    async def close(self) -> None:
        """Unregister every tunnel and disconnect."""
        if self._agent is not None:
            await self._agent.close()
        await self._client.close()

    def summary(self) -> str:
        """One line: uptime, streams, bytes each way."""
        return self._client.summary()


class ExposedTunnel:
    """What ``fasttun.expose()`` returns: one tunnel and the client that holds
    it.  Its attributes are the ``Tunnel``'s (``url``, ``public_address``,
    ``remote_port``, ``urls``, ``name``); ``close()`` (or leaving ``async
    with``) closes the tunnel and disconnects."""

    def __init__(self, client: Client, tunnel: Tunnel) -> None:
        self.client = client
        self.tunnel = tunnel

    def __getattr__(self, name: str) -> Any:
        return getattr(self.tunnel, name)

    def __repr__(self) -> str:
        return f"<ExposedTunnel {self.tunnel.url} -> {self.tunnel.local_address}>"

    async def __aenter__(self) -> "ExposedTunnel":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.client.close()


async def expose(local_port: int, *, server: str, token: str | None = None, local_host: str = "localhost",
                 **options: Any) -> ExposedTunnel:
    """Expose ``local_host:local_port`` in one call, as vtunnel's library does::

        async with await fasttun.expose(3000, server="wss://tunnel.example.com/.fasttun", token="T") as t:
            print(t.url)

    *server* is ``HOST:PORT``, ``tcp://``, ``ws://`` or ``wss://``.  Options
    that are ``Route`` fields (``remote_port``, ``http``, ``subdomain``,
    ``basic_auth``, ``max_conns``...) shape the tunnel; the others are
    ``ClientConfig`` fields (``fingerprint``, ``ca``, ``tls``, ``proxy``...).

    Raises:
        ConnectError, AuthenticationError: the server cannot be reached or
            refuses the token.
        TunnelError: the server refuses the tunnel.
    """
    import dataclasses

    route_fields = {f.name for f in dataclasses.fields(Route)} - {"local_host", "local_port"}
    route = {k: v for k, v in options.items() if k in route_fields}
    client_options = {k: v for k, v in options.items() if k not in route_fields}
    client = Client(server, token=token, **client_options)
    await client.connect()
    try:
        tunnel = await client.expose(local_port, local_host=local_host, **route)
    except BaseException:
        await client.close()
        raise
    return ExposedTunnel(client, tunnel)
