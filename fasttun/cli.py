"""Command line: ``fasttun serve`` and ``fasttun expose``.

Parses arguments into a config, runs the library API, and turns user
mistakes into one line on stderr and a non-zero exit (never a traceback).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import secrets
import signal
import socket
import sys
import time
from typing import Any, Callable, Coroutine

from ._version import __version__
from .aio.client import Tunnel
from .api import Client, Server
from .config import (
    DEFAULT_BUFFER_KIB,
    DEFAULT_CONTROL_PORT,
    DEFAULT_PORTS,
    ClientAccess,
    ClientConfig,
    Route,
    ServerConfig,
    is_loopback,
    load_client_file,
    load_server_file,
    parse_duration,
    parse_header,
    parse_hostport,
    parse_local,
    parse_ports,
    parse_proxy_protocol,
    parse_route,
    parse_server,
)
from .exceptions import ConfigError, FasttunError
from .transports import tls

__all__ = ["main", "build_parser"]

log = logging.getLogger("fasttun")

EPILOG_SERVE = f"""\
examples:
  fasttun serve                                  token generated and printed
  fasttun serve --listen 0.0.0.0:{DEFAULT_CONTROL_PORT} --ports 20000-20100 --token s3cret
example --config file (TOML; flags override it):
  listen = "0.0.0.0:7000"
  ports = "10000-10999"        # for --token, if one is given too
  [[clients]]
  name = "alice"
  token = "alice-secret"
  ports = "20000-20099"        # alice may open only these
  [[clients]]
  name = "bob"
  token = "bob-secret"
  ports = "20100-20199"
  http_port = 80               # HTTP mode: names under domain, routed by Host
  domain = "tunnel.example.com"
HTTP mode (docs/spec.md §9):
  fasttun serve --http-port 80 --domain tunnel.example.com
  fasttun serve --https-port 443 --https-cert wild.pem --https-key wild.key --domain tunnel.example.com
  clients then run 'fasttun expose 3000 --http --subdomain myapp' and get http://myapp.tunnel.example.com
failed authentications: {ServerConfig.auth_failures} within {ServerConfig.auth_window:g} s from one address \
block that address for {ServerConfig.auth_window:g} s
environment: FASTTUN_TOKEN (the token), FASTTUN_LOOP=asyncio (do not use uvloop)
"""

EPILOG_EXPOSE = f"""\
examples:
  fasttun expose 3000 --server tunnel.example.com:{DEFAULT_CONTROL_PORT} --token T
  fasttun expose --server HOST:PORT -r localhost:8080-8080 -r 127.0.0.1:5432-15432
  fasttun expose 3000 --http --subdomain myapp --server HOST:PORT --token T
  fasttun expose --server HOST:PORT -r 3000-http:myapp -r 8080-http:api.example.org -r 5432-0
routes (-r LOCAL-REMOTE): REMOTE is a public port (0: any), or an HTTP name: 'http' (a random
  subdomain), 'http:NAME' (subdomain NAME) or 'http:HOST.DOMAIN' (a whole host name).
  --basic-auth, --host-header, --request-header and --rate-limit apply to every HTTP tunnel
  of the command line, --proxy-protocol to every TCP one; for options per tunnel, use --config.
example --config file (TOML; flags override it, its tunnels add to those of the command line):
  server = "tunnel.example.com:7000"
  token = "T"
  [[tunnels]]
  local = "3000"
  type = "http"
  subdomain = "myapp"
  basic_auth = "me:secret"
  request_headers = ["X-Env: demo", "X-Debug:"]   # an empty value removes the field
  [[tunnels]]
  local = "localhost:5432"
  remote_port = 15432
  proxy_protocol = "v2"
  max_conns = 20                                  # also max_serves, expire = "2h"
HTTP tunnels print one line per request (time, method, path, status, size, duration); -q silences them.
The inspector (http://127.0.0.1:4040/ unless --inspect says otherwise) keeps them with headers and
  bodies, replays them, and adds or removes tunnels while running (docs/api.md).
environment: FASTTUN_SERVER, FASTTUN_TOKEN, FASTTUN_LOOP=asyncio (do not use uvloop)
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n(see {self.prog} --help)\n")


def _common(p: argparse.ArgumentParser, buffer_default: int | None = DEFAULT_BUFFER_KIB) -> None:
    g = p.add_argument_group("output and tuning")
    g.add_argument("-v", "--verbose", action="store_true", help="log every connection and debug details")
    g.add_argument("-q", "--quiet", action="store_true", help="log errors only")
    g.add_argument("-b", "--buffer-size", type=int, metavar="KIB", default=buffer_default,
                   help=f"size of the tunnel connection's I/O buffers in KiB (default {DEFAULT_BUFFER_KIB})")
    g.add_argument("-V", "--version", action=_Version, help="show the version, the core and the event loop in use")


class _Version(argparse.Action):
    """``--version`` on one line, unwrapped (argparse's own wraps it to the terminal)."""

    def __init__(self, option_strings: list, dest: str = argparse.SUPPRESS, **kw: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kw)

    def __call__(self, parser: argparse.ArgumentParser, *args: Any) -> None:
        print(version_line())
        parser.exit()


def version_line() -> str:
    """``fasttun --version``: the version, the core in use, the event loop and Python."""
    import platform

    from ._core import IMPLEMENTATION

    if IMPLEMENTATION == "c":
        core = "compiled core"
    elif os.environ.get("FASTTUN_NO_EXTENSIONS"):
        core = "pure-Python core (FASTTUN_NO_EXTENSIONS)"
    else:
        core = "pure-Python core (the compiled one was not built: slower; see the install log)"
    if os.environ.get("FASTTUN_LOOP", "uvloop") == "asyncio":
        loop = "asyncio event loop (FASTTUN_LOOP)"
    else:
        try:
            import uvloop

            loop = f"uvloop {uvloop.__version__}"
        except ImportError:
            loop = "asyncio event loop (uvloop is not installed)"
    return f"fasttun {__version__}: {core}, {loop}, Python {platform.python_version()}"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="fasttun", description="A fast reverse TCP tunnel: put a local service on a public "
                     "server's port.  Run 'fasttun serve' on the public machine and 'fasttun expose PORT' "
                     "where the service runs.")
    parser.add_argument("-V", "--version", action=_Version,
                        help="show the version, the core and the event loop in use")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    s = sub.add_parser("serve", help="run the tunnel server (on the public machine)", epilog=EPILOG_SERVE,
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Accept tunnel clients and open public ports for them.")
    s.add_argument("--listen", metavar="HOST:PORT", default=None,
                   help=f"where tunnel clients connect (default 0.0.0.0:{DEFAULT_CONTROL_PORT})")
    s.add_argument("--public-host", metavar="HOST", default=None,
                   help="address the public ports bind to (default: all interfaces)")
    s.add_argument("--ports", metavar="LOW-HIGH", default=None,
                   help="public ports clients may open; a client asks for one or lets the server pick "
                        f"(default {DEFAULT_PORTS[0]}-{DEFAULT_PORTS[1]})")
    s.add_argument("--token", metavar="TOKEN", default=None,
                   help="secret clients must know (env FASTTUN_TOKEN); generated and printed when absent")
    s.add_argument("--no-auth", action="store_true", default=None, help="accept every client, without a token")
    s.add_argument("--no-tls", action="store_true", default=None,
                   help="plain TCP for tunnel connections (loopback, or behind a TLS terminator); "
                        "clients must say --no-tls too")
    s.add_argument("--noise", action="store_true", default=None,
                   help="encrypt tunnel connections with Noise (NK, AES-GCM) instead of TLS; prints the public key "
                        "clients pass to expose --noise (kept in the state directory)")
    s.add_argument("--cert", metavar="FILE", help="PEM certificate (chain) to present instead of the self-signed one")
    s.add_argument("--key", metavar="FILE", help="PEM private key of --cert")
    s.add_argument("--state-dir", metavar="DIR",
                   help="where the self-signed certificate is kept (default $XDG_STATE_HOME/fasttun "
                        "or ~/.local/state/fasttun)")
    lim = s.add_argument_group("limits")
    lim.add_argument("--max-clients", type=int, default=None, metavar="N",
                     help=f"tunnel connections open at once (default {ServerConfig.max_clients})")
    lim.add_argument("--max-streams", type=int, default=None, metavar="N",
                     help="streams (public connections) one client may have open at once "
                          f"(default {ServerConfig.max_streams})")
    lim.add_argument("--max-pending", type=int, default=None, metavar="N",
                     help="public connections per tunnel that may wait for the client to reach its local "
                          f"service; more are refused at once (default {ServerConfig.max_pending})")
    lim.add_argument("--max-frame", type=int, default=None, metavar="BYTES",
                     help=f"largest frame payload accepted from a client (default {ServerConfig.max_frame})")
    lim.add_argument("--handshake-timeout", type=float, default=None, metavar="SECONDS",
                     help="a connection must complete TLS and authenticate within this "
                          f"(default {ServerConfig.handshake_timeout:g})")
    h = s.add_argument_group("HTTP mode (services by name on one port)")
    h.add_argument("--http-port", type=int, default=None, metavar="PORT",
                   help="port (on --public-host) where HTTP requests are routed by Host to the client "
                        "that registered that name (off by default)")
    h.add_argument("--https-port", type=int, default=None, metavar="PORT",
                   help="the same over TLS, terminated here with --https-cert/--https-key; routed by SNI, "
                        "then Host")
    h.add_argument("--https-cert", metavar="FILE", default=None,
                   help="PEM certificate (chain) for --https-port, typically a wildcard for *.DOMAIN")
    h.add_argument("--https-key", metavar="FILE", default=None, help="PEM private key of --https-cert")
    h.add_argument("--domain", metavar="DOMAIN", default=None,
                   help="the zone subdomains live under: 'expose --http --subdomain myapp' is myapp.DOMAIN")
    h.add_argument("--http-timeout", type=float, default=None, metavar="SECONDS",
                   help="a visitor must send a request head, and a local service start its answer, within "
                        f"this (else 408/504; default {ServerConfig.http_timeout:g})")
    h.add_argument("--http-reserve", type=float, default=None, metavar="SECONDS",
                   help="keep a disconnected client's names for it this long; visitors get 502 meanwhile "
                        f"(default {ServerConfig.http_reserve:g})")
    h.add_argument("--access-log", metavar="FILE", default=None,
                   help="append one JSON line per HTTP request to FILE")
    w = s.add_argument_group("WebSocket carrier (clients behind proxies; docs/carriers.md)")
    w.add_argument("--ws-listen", metavar="HOST:PORT", default=None,
                   help="accept tunnel clients over WebSocket on this plain-HTTP listener (for nginx, Caddy "
                        "or a CDN in front); the HTTP/HTTPS ports accept them too")
    w.add_argument("--ws-path", metavar="PATH", default=None,
                   help=f"the path clients upgrade on (default {ServerConfig.ws_path})")
    a = s.add_argument_group("control plane (docs/api.md)")
    a.add_argument("--admin", metavar="HOST:PORT", default=None,
                   help="serve the admin API, /metrics and the dashboard there (off by default; e.g. 127.0.0.1:7500)")
    a.add_argument("--admin-token", metavar="TOKEN", default=None,
                   help="token the admin API asks for: 'Authorization: Bearer TOKEN', or as the password of "
                        "basic auth in a browser (or set FASTTUN_ADMIN_TOKEN)")
    a.add_argument("--admin-open", action="store_true", default=None,
                   help="serve the admin API without a token; only on a loopback --admin address")
    a.add_argument("--hook-url", metavar="URL", default=None,
                   help="POST each login, new tunnel, new connection and closed tunnel there as JSON; an answer "
                        '{"allow": false, "reason": "..."} refuses it; a hook that is down refuses too')
    a.add_argument("--hook-timeout", type=float, default=None, metavar="SECONDS",
                   help=f"time the hook has to answer (default {ServerConfig.hook_timeout:g})")
    s.add_argument("--heartbeat-interval", type=float, default=None, metavar="SECONDS",
                   help=f"seconds between heartbeats, both ways (default {ServerConfig.ping_interval:g})")
    s.add_argument("--heartbeat-timeout", type=float, default=None, metavar="SECONDS",
                   help="drop a silent client and free its ports after this long (default 3 x interval)")
    s.add_argument("--config", metavar="FILE",
                   help="TOML file with any of these options (dashes as underscores) and [[clients]] entries "
                        "(name, token, ports), each client with its own token and port range; flags override "
                        "the file (see docs/configuration.md)")
    _common(s, buffer_default=None)

    k = sub.add_parser("keygen", help="make a key pair that identifies a client (instead of a token)",
                       description="Write a new private key (Ed25519, PEM, mode 0600) and print its public key on "
                                   "its own line: the string a server's [[clients]] key = \"...\" takes. "
                                   "The client then runs fasttun expose --key FILE.")
    k.add_argument("--out", metavar="FILE", default="fasttun.key",
                   help="where to write the private key (default fasttun.key; never overwritten)")
    k.add_argument("--public", metavar="FILE", default=None,
                   help="print the public key of an existing private key instead")
    e = sub.add_parser("expose", help="expose a local service through a server (where the service runs)",
                       epilog=EPILOG_EXPOSE, formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Open public ports on a tunnel server that lead to local services.  "
                                   "Prints one line per tunnel with its public address.")
    e.add_argument("local", nargs="?", metavar="LOCAL", help="the local service: PORT or HOST:PORT")
    e.add_argument("--server", metavar="HOST:PORT|URL", default=None,
                   help=f"the tunnel server: HOST:PORT (port defaults to {DEFAULT_CONTROL_PORT}), or "
                        "ws://HOST[:PORT]/PATH or wss://... to carry the tunnel in a WebSocket (env FASTTUN_SERVER)")
    e.add_argument("--token", metavar="TOKEN", default=None,
                   help="the server's token (env FASTTUN_TOKEN)")
    e.add_argument("--key", metavar="FILE", default=None,
                   help="authenticate with this private key (fasttun keygen) instead of a token; needs "
                        "--fingerprint or --ca")
    e.add_argument("--remote-port", type=int, default=0, metavar="N",
                   help="public port for LOCAL (default: the server assigns one)")
    e.add_argument("-r", "--route", action="append", default=[], metavar="LOCAL-REMOTE",
                   help="also expose LOCAL (PORT or HOST:PORT) on public port REMOTE (0: server-assigned); "
                        "repeatable, e.g. -r localhost:8080-8080")
    e.add_argument("--fingerprint", metavar="SHA256",
                   help="pin the server's certificate to this SHA-256 (as fasttun serve prints it)")
    e.add_argument("--ca", metavar="FILE",
                   help="verify the server's certificate with this CA bundle ('system': the system's store)")
    e.add_argument("--no-tls", action="store_true", default=None,
                   help="plain TCP (only with a server started with --no-tls)")
    e.add_argument("--noise", metavar="SERVER_KEY", default=None,
                   help="Noise instead of TLS, with the server's public key as fasttun serve --noise prints it")
    e.add_argument("--connect-timeout", type=float, default=None, metavar="SECONDS",
                   help="give up reaching the server, or a local service for one public connection, "
                        "after this long (default 10)")
    e.add_argument("--no-reconnect", action="store_true", default=None,
                   help="exit when the server is lost instead of reconnecting with backoff (1 s doubling to 30 s)")
    e.add_argument("--config", metavar="FILE",
                   help="TOML file with any of these options (dashes as underscores) and [[tunnels]] tables "
                        "(see below)")
    h = e.add_argument_group("HTTP tunnels (the server needs --http-port or --https-port)")
    h.add_argument("--http", action="store_true",
                   help="expose LOCAL as a web service by name on the server's HTTP port, not on a port of its own")
    h.add_argument("--subdomain", metavar="NAME", default="",
                   help="the name to ask for (NAME.DOMAIN); default: a random one from the server")
    h.add_argument("--hostname", metavar="FQDN", default="", help="a whole host name to ask for instead")
    h.add_argument("--basic-auth", metavar="USER:PASS", default=None,
                   help="visitors must log in with this (the server answers 401 otherwise)")
    h.add_argument("--host-header", metavar="VALUE", default=None,
                   help="Host header the local service receives instead of the public name")
    h.add_argument("--request-header", metavar='"NAME: VALUE"', action="append", default=[],
                   help="set a header on every request; an empty value removes it; repeatable")
    h.add_argument("--rate-limit", type=float, default=None, metavar="N",
                   help="requests per second per visitor address; more get 429 with Retry-After")
    e.add_argument("--proxy", metavar="URL", default=None,
                   help="reach the server through this HTTP CONNECT proxy: http://[USER:PASS@]HOST:PORT "
                        "(default: $https_proxy, or $http_proxy for ws://, or $all_proxy; $no_proxy is honoured)")
    e.add_argument("--inspect", metavar="HOST:PORT|off", default=None,
                   help="the agent API and request inspector (docs/api.md); loopback only "
                        "(default: 127.0.0.1:4040 when that port is free)")
    lim = e.add_argument_group("limits the server enforces on each tunnel given here")
    lim.add_argument("--max-conns", type=int, default=0, metavar="N",
                     help="visitor connections open at once; more are refused")
    lim.add_argument("--max-serves", type=int, default=0, metavar="N",
                     help="close the tunnel after N connections")
    lim.add_argument("--expire", metavar="DURATION", default=None,
                     help="close the tunnel after DURATION (90s, 15m, 2h, 1d)")
    t = e.add_argument_group("TCP tunnels")
    t.add_argument("--proxy-protocol", metavar="v1|v2", default=None,
                   help="send a PROXY protocol header to the local service first, so that it sees the "
                        "visitor's address (nginx, HAProxy, PgBouncer read it)")
    _common(e, buffer_default=None)
    return parser


def _setup_logging(args: argparse.Namespace) -> None:
    level = logging.DEBUG if args.verbose else logging.ERROR if args.quiet else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("fasttun: %(message)s"))
    log.handlers[:] = [handler]
    log.setLevel(level)
    log.propagate = False


def _run(coro_fn: Callable[[], Coroutine[Any, Any, int]]) -> int:
    use_uvloop = os.environ.get("FASTTUN_LOOP", "uvloop") != "asyncio"
    factory = None
    if use_uvloop:
        try:
            import uvloop

            factory = uvloop.new_event_loop
        except ImportError:  # pragma: no cover
            pass
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coro_fn())


async def _wait_signal() -> str:
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[str] = loop.create_future()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda s=sig: fut.done() or fut.set_result(signal.Signals(s).name))
    return await fut


# Options of `fasttun serve` that a --config file may set too, with their defaults.
SERVE_DEFAULTS: dict[str, object] = {
    "listen": f"0.0.0.0:{DEFAULT_CONTROL_PORT}", "public_host": "", "ports": f"{DEFAULT_PORTS[0]}-{DEFAULT_PORTS[1]}",
    "token": None, "no_auth": False, "no_tls": False, "noise": False, "cert": None, "key": None, "state_dir": None,
    "heartbeat_interval": ServerConfig.ping_interval, "heartbeat_timeout": None,
    "max_clients": ServerConfig.max_clients, "max_streams": ServerConfig.max_streams,
    "max_pending": ServerConfig.max_pending, "max_frame": ServerConfig.max_frame,
    "handshake_timeout": ServerConfig.handshake_timeout, "buffer_size": DEFAULT_BUFFER_KIB,
    "http_port": None, "https_port": None, "https_cert": None, "https_key": None, "domain": "",
    "http_timeout": ServerConfig.http_timeout, "http_reserve": ServerConfig.http_reserve, "access_log": None,
    "admin": None, "admin_token": None, "admin_open": False, "hook_url": None, "ws_listen": None,
    "ws_path": ServerConfig.ws_path,
    "hook_timeout": ServerConfig.hook_timeout,
}
# Types of the options whose default is None (the others have their default's type).
SERVE_TYPES: dict[str, type] = {"http_port": int, "https_port": int, "heartbeat_timeout": float, "admin": str,
                                "admin_token": str, "hook_url": str, "ws_listen": str}


def _serve_options(args: argparse.Namespace) -> tuple[dict, tuple[ClientAccess, ...]]:
    """Defaults < environment < --config file < flags."""
    opts = dict(SERVE_DEFAULTS)
    if os.environ.get("FASTTUN_TOKEN"):
        opts["token"] = os.environ["FASTTUN_TOKEN"]
    if os.environ.get("FASTTUN_ADMIN_TOKEN"):
        opts["admin_token"] = os.environ["FASTTUN_ADMIN_TOKEN"]
    clients: tuple[ClientAccess, ...] = ()
    if args.config:
        values, clients = load_server_file(args.config, SERVE_DEFAULTS, SERVE_TYPES)
        opts.update(values)
    opts.update({k: v for k, v in vars(args).items() if k in SERVE_DEFAULTS and v is not None})
    return opts, clients


def _serve_config(args: argparse.Namespace) -> tuple[ServerConfig, bool]:
    o, clients = _serve_options(args)
    host, port = parse_hostport(str(o["listen"]), "0.0.0.0", "--listen", DEFAULT_CONTROL_PORT)
    token, generated = o["token"], False
    if o["no_auth"]:
        token = None
    elif not token and not clients:
        token, generated = secrets.token_urlsafe(24), True
    interval = float(o["heartbeat_interval"])  # type: ignore[arg-type]
    timeout = float(o["heartbeat_timeout"]) if o["heartbeat_timeout"] is not None else 3 * interval  # type: ignore[arg-type]
    cfg = ServerConfig(listen_host=host, listen_port=port, public_host=str(o["public_host"]),
                       ports=parse_ports(str(o["ports"])), token=token, auth=not o["no_auth"],  # type: ignore[arg-type]
                       noise=bool(o["noise"]),
                       ping_interval=interval, ping_timeout=timeout,
                       buffer_size=int(o["buffer_size"]) * 1024, tls=not o["no_tls"],  # type: ignore[call-overload]
                       cert=o["cert"], key=o["key"], state_dir=o["state_dir"],  # type: ignore[arg-type]
                       max_clients=o["max_clients"], max_streams=o["max_streams"],  # type: ignore[arg-type]
                       max_pending=o["max_pending"],  # type: ignore[arg-type]
                       max_frame=o["max_frame"], handshake_timeout=float(o["handshake_timeout"]),  # type: ignore[arg-type]
                       clients=clients, http_port=o["http_port"], https_port=o["https_port"],  # type: ignore[arg-type]
                       https_cert=o["https_cert"], https_key=o["https_key"],  # type: ignore[arg-type]
                       domain=str(o["domain"] or ""), http_timeout=float(o["http_timeout"]),  # type: ignore[arg-type]
                       http_reserve=float(o["http_reserve"]), access_log=o["access_log"],  # type: ignore[arg-type]
                       hook_url=o["hook_url"], hook_timeout=float(o["hook_timeout"]),  # type: ignore[arg-type]
                       ws_path=str(o["ws_path"]), **_ws_fields(o),
                       **_admin_fields(o))
    return cfg.validate(), generated


def _ws_fields(o: dict) -> dict:
    if not o["ws_listen"]:
        return {}
    host, port = parse_hostport(str(o["ws_listen"]), "", "--ws-listen", None)
    return {"ws_listen_host": host, "ws_listen_port": port}


def _admin_fields(o: dict) -> dict:
    if not o["admin"]:
        return {"admin_token": o["admin_token"], "admin_open": bool(o["admin_open"])}
    host, port = parse_hostport(str(o["admin"]), "127.0.0.1", "--admin", None)
    return {"admin_host": host, "admin_port": port, "admin_token": o["admin_token"],
            "admin_open": bool(o["admin_open"])}


async def _serve(args: argparse.Namespace) -> int:
    cfg, generated = _serve_config(args)
    server = Server(cfg)
    try:
        await server.start()
    except OSError as exc:
        what = exc.filename or f"{cfg.listen_host}:{cfg.listen_port}"
        raise FasttunError(f"cannot listen on {what}: {exc.strerror or exc}") from None
    host, port = server.address
    if cfg.clients:
        print(f"{len(cfg.clients)} clients from {args.config}: "
              + ", ".join(f"{c.name} ({c.ports[0]}-{c.ports[1]})" for c in cfg.clients), flush=True)
    shown = cfg.listen_host if cfg.listen_host not in ("", "0.0.0.0", "::") else socket.gethostname()
    if ":" in shown:
        shown = f"[{shown}]"
    low, high = cfg.ports
    inner = server._server
    mode = "Noise NK, AES-GCM" if cfg.noise else "TLS" if cfg.tls else "plain TCP (--no-tls)"
    print(f"fasttun {__version__} listening for clients on {host}:{port} ({mode}); public ports {low}-{high}",
          flush=True)
    if inner.noise_public:
        print(f"Noise public key (kept in the state directory): {inner.noise_public}", flush=True)
    if inner.fingerprint:
        kind = "self-signed, kept in the state directory" if inner.self_signed else "from --cert"
        print(f"certificate SHA-256 ({kind}): {inner.fingerprint}", flush=True)
    command = f"fasttun expose 3000 --server {shown}:{port}"
    if cfg.auth:
        if generated:
            print(f"token (generated): {cfg.token}", flush=True)
        command += f" --token {cfg.token or 'TOKEN'}"
    else:
        print("WARNING: --no-auth: any client may open ports", flush=True)
    if inner.noise_public:
        command += f" --noise {inner.noise_public}"
    elif not cfg.tls:
        command += " --no-tls"
    elif inner.self_signed:
        command += f" --fingerprint {inner.fingerprint}"
    print(f"expose a local port with:  {command}", flush=True)
    if server.http_port or server.https_port:
        zone = f"*.{cfg.domain}" if cfg.domain else "HOSTNAME"
        where = ", ".join(f"{scheme}://{zone}" + ("" if p == d else f":{p}") for scheme, p, d in
                          (("http", server.http_port, 80), ("https", server.https_port, 443)) if p)
        print(f"HTTP tunnels on {where}; expose a web service with:  {command} --http --subdomain NAME",
              flush=True)
    if server.admin_address is not None:
        ahost, aport = server.admin_address
        ahost = f"[{ahost}]" if ":" in ahost else ahost
        access = "open on loopback, no token" if cfg.admin_open else "token: --admin-token"
        print(f"admin API and dashboard on http://{ahost}:{aport}/ ({access}); metrics at /metrics", flush=True)
    try:
        name = await _wait_signal()
    finally:
        await server.close()
    log.warning("%s: stopped; %s", name, server.summary())
    return 0


# Options of `fasttun expose` that its --config file may set too, with their defaults.
EXPOSE_DEFAULTS: dict[str, object] = {
    "server": None, "token": None, "fingerprint": None, "ca": None, "no_tls": False, "connect_timeout": 10.0,
    "no_reconnect": False, "buffer_size": DEFAULT_BUFFER_KIB, "proxy": None, "key": None, "noise": None,
}
EXPOSE_TYPES: dict[str, type] = {"server": str, "token": str, "fingerprint": str, "ca": str, "proxy": str,
                                 "key": str, "noise": str}


def _expose_options(args: argparse.Namespace) -> tuple[dict, tuple[Route, ...]]:
    """Defaults < environment < --config file < flags."""
    opts = dict(EXPOSE_DEFAULTS)
    for key, env in (("server", "FASTTUN_SERVER"), ("token", "FASTTUN_TOKEN")):
        if os.environ.get(env):
            opts[key] = os.environ[env]
    routes: tuple[Route, ...] = ()
    if args.config:
        values, routes = load_client_file(args.config, EXPOSE_DEFAULTS, EXPOSE_TYPES)
        opts.update(values)
    opts.update({k: v for k, v in vars(args).items() if k in EXPOSE_DEFAULTS and v is not None})
    return opts, routes


def _client_config(args: argparse.Namespace) -> ClientConfig:
    o, file_routes = _expose_options(args)
    if not o["server"]:
        raise ConfigError("--server HOST:PORT is required (or set FASTTUN_SERVER)")
    host, port, ws_url = parse_server(str(o["server"]))
    if not host:
        raise ConfigError(f"--server {o['server']!r}: a host is required")
    http_options = {
        "basic_auth": args.basic_auth, "host_header": args.host_header, "rate_limit": args.rate_limit,
        "request_headers": tuple(parse_header(h) for h in args.request_header),
    }
    proxy_protocol = parse_proxy_protocol(args.proxy_protocol) if args.proxy_protocol else 0
    limits = {"max_conns": args.max_conns, "max_serves": args.max_serves,
              "expire": parse_duration(args.expire) if args.expire else 0.0}
    routes: list[Route] = []
    if args.local:
        lhost, lport = parse_local(args.local)
        if args.http:
            routes.append(Route(lhost, lport, args.remote_port, http=True, subdomain=args.subdomain,
                                hostname=args.hostname, **http_options, **limits))
        else:
            routes.append(Route(lhost, lport, args.remote_port, subdomain=args.subdomain, hostname=args.hostname,
                                proxy_protocol=proxy_protocol, **http_options, **limits))
    elif args.remote_port or args.http or args.subdomain or args.hostname:
        raise ConfigError("--remote-port, --http, --subdomain and --hostname need LOCAL")
    for text in args.route:
        r = parse_route(text)
        if r.http:
            r = dataclasses.replace(r, **http_options, **limits)
        else:
            r = dataclasses.replace(r, proxy_protocol=proxy_protocol, **limits)
        routes.append(r)
    if not routes and not file_routes:
        raise ConfigError("nothing to expose: give LOCAL (e.g. 3000), -r LOCAL-REMOTE or [[tunnels]] in --config")
    if not any(r.http for r in routes) and any(v for v in http_options.values()):
        raise ConfigError("--basic-auth, --host-header, --request-header and --rate-limit are for HTTP tunnels "
                          "(--http, or -r LOCAL-http:NAME)")
    if proxy_protocol and not any(not r.http for r in routes):
        raise ConfigError("--proxy-protocol is for TCP tunnels")
    fingerprint = o["fingerprint"]
    if fingerprint:
        tls.normalize_fingerprint(str(fingerprint))  # a clear error now, not at connect time
    cfg = ClientConfig(server_host=host, server_port=port, token=o["token"], routes=tuple(routes) + file_routes,  # type: ignore[arg-type]
                       reconnect=not o["no_reconnect"], buffer_size=int(o["buffer_size"]) * 1024,  # type: ignore[call-overload]
                       tls=not o["no_tls"], fingerprint=fingerprint, ca=o["ca"],  # type: ignore[arg-type]
                       connect_timeout=float(o["connect_timeout"]), ws_url=ws_url,  # type: ignore[arg-type]
                       proxy=o["proxy"], key=o["key"], noise_key=o["noise"])  # type: ignore[arg-type]
    return cfg.validate()


# RequestLog writes at once when this many pieces (a line, or a run of one
# tunnel's lines from a request_lines message) or characters are waiting.
FLUSH_LINES = 1024
FLUSH_CHARS = 65536


class RequestLog:
    """The console's request lines of HTTP tunnels, as ngrok prints them:
    ``12:04:05  GET /api/items  200  1.2 KiB  3.1 ms``.  Lines are gathered
    as requests complete and written together within a tenth of a second, so
    that a busy tunnel does not cost a write per request; at once when
    ``FLUSH_LINES`` pieces or ``FLUSH_CHARS`` characters (counted for the
    server's runs of lines) wait, so that no write is long."""

    def __init__(self, loop: asyncio.AbstractEventLoop, out: Any = None) -> None:
        self.loop = loop
        self.out = out or sys.stdout
        self._flush: asyncio.TimerHandle | None = None
        self._lines: list[str] = []
        self.several = False  # more than one HTTP tunnel: name each line's tunnel
        from .http.console import request_lines  # (here: a server process need not load it)

        self._request_lines = request_lines
        self._second = -1
        self._stamp = ""
        self._size = 0  # characters gathered by lines_message

    def __call__(self, tunnel: Tunnel, msg: dict) -> None:
        self.requests_message({0: tunnel}, [[0, msg["method"], msg["path"], msg["status"], msg["bytes"],
                                             msg["duration"]]])

    def requests_message(self, tunnels: dict, records: list) -> None:
        """The lines of a whole ``requests`` message (docs/spec.md §9.2) at once:
        *records* are its ``[tunnel id, method, path, status, bytes, duration,
        ...]`` and *tunnels* the client's tunnels by id.  ``TunnelClient``
        calls this rather than the callback when the callback has it: no dict
        per request."""
        self._tick()
        try:
            self._request_lines(self._lines, self._stamp, self.several, tunnels, records)
        finally:  # (the lines before a malformed record are kept)
            self._schedule()

    def lines_message(self, tunnels: dict, runs: list) -> None:
        """The lines of a ``request_lines`` message (docs/spec.md §9.2): the
        server made each request's part of its line (``console.request_line``);
        *runs* are ``[tunnel id, text]``, the lines of one tunnel in a row.
        ``TunnelClient`` asks for lines (a bind's ``log: "lines"``) when the
        callback has this method: the client then has only the time of day
        (and the tunnel's name) to put before each line."""
        self._tick()
        stamp = self._stamp
        lines = self._lines
        try:
            for tunnel_id, text in runs:
                tunnel = tunnels.get(tunnel_id)
                if tunnel is None or type(text) is not str or not text:
                    continue
                prefix = f"{stamp}  {tunnel.name}  " if self.several else f"{stamp}  "
                if text[-1] == "\n":
                    text = text[:-1]
                text = prefix + text.replace("\n", "\n" + prefix) + "\n"
                lines.append(text)
                self._size += len(text)
        finally:
            self._schedule()

    def _schedule(self) -> None:
        """Write the gathered lines within a tenth of a second, or now when
        they are many: a busy tunnel's console writes a little at a time,
        never a long pause of the client's loop."""
        if len(self._lines) >= FLUSH_LINES or self._size >= FLUSH_CHARS:
            self.flush()
        elif self._flush is None and self._lines:
            self._flush = self.loop.call_later(0.1, self.flush)

    def _tick(self) -> None:
        second = int(time.time())
        if second != self._second:  # one strftime a second, not one a request
            self._second = second
            self._stamp = time.strftime("%H:%M:%S", time.localtime(second))

    def flush(self) -> None:
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        self._size = 0
        lines, self._lines = self._lines, []
        self.out.write("".join(lines))
        self.out.flush()


async def _expose(args: argparse.Namespace) -> int:
    cfg = _client_config(args)

    def announce(t: Tunnel) -> None:
        for url in t.urls or [t.url]:
            print(f"{url} -> {t.local_address}", flush=True)

    requests = None if args.quiet else RequestLog(asyncio.get_running_loop())
    if requests is not None:
        requests.several = sum(r.http for r in cfg.routes) > 1
    client = Client(config=cfg, on_tunnel=announce, on_request=requests)
    inspect = None
    if args.inspect != "off":
        inspect = parse_hostport(args.inspect or "127.0.0.1:4040", "127.0.0.1", "--inspect", None)
        if not is_loopback(inspect[0]):
            raise ConfigError(f"--inspect {args.inspect}: the inspector has no token, so it listens on a loopback "
                              "address only (127.0.0.1, ::1)")
    await client.connect()
    try:
        inspector = None
        if inspect is not None:  # before the tunnels open: their first requests are recorded too
            try:
                inspector = await client.start_inspector(*inspect)
            except OSError as exc:
                if args.inspect:
                    raise FasttunError(f"cannot listen on {inspect[0]}:{inspect[1]} (--inspect): "
                                       f"{exc.strerror or exc}") from None
                log.info("inspector off: %s:%d is in use (--inspect HOST:PORT picks another)", *inspect)
        await client.expose_routes(list(cfg.routes))
        if inspector is not None:  # after the tunnels' lines, which scripts read first
            print(f"inspector on http://{_url_host(inspector[0])}:{inspector[1]}/", flush=True)
        stop = asyncio.ensure_future(_wait_signal())
        failed = asyncio.ensure_future(client.wait_failed())
        done, _ = await asyncio.wait([stop, failed], return_when=asyncio.FIRST_COMPLETED)
        if failed in done:
            stop.cancel()
            exc = failed.result()
            log.error("%s", exc)
            log.warning("stopped; %s", client.summary())
            return 1
        failed.cancel()
        name = stop.result()
    finally:
        await client.close()
        if requests is not None:
            requests.flush()
    log.warning("%s: stopped; %s", name, client.summary())
    return 0


def _keygen(args: argparse.Namespace) -> int:
    from .transports.keys import generate_key, load_private_key, public_key_text

    try:
        if args.public:
            print(public_key_text(load_private_key(args.public).public_key()))
            return 0
        public = generate_key(args.out)
    except ConfigError as exc:
        print(f"fasttun keygen: error: {exc}", file=sys.stderr)
        return 2
    print(public)
    print(f"private key written to {args.out} (mode 0600); give the line above to the server's operator "
          f"([[clients]] key = \"...\"), then: fasttun expose --key {args.out} ...", file=sys.stderr)
    return 0


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    if args.command == "keygen":
        return _keygen(args)
    _setup_logging(args)
    try:
        return _run(lambda: _serve(args) if args.command == "serve" else _expose(args))
    except ConfigError as exc:
        print(f"fasttun {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except FasttunError as exc:
        print(f"fasttun {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # pragma: no cover - before the handlers were installed
        return 130
