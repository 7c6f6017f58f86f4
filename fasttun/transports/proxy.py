"""Reaching the tunnel server through an HTTP CONNECT proxy (``expose --proxy``).

The proxy is told ``CONNECT host:port``; once it answers 2xx the socket is a
plain byte pipe to the server, and the carrier (TLS, or a WebSocket) runs in
it as it would on a direct connection.  Which proxy, as curl decides it:
``--proxy``, else ``https_proxy``/``HTTPS_PROXY`` (``http_proxy`` for a
``ws://`` server), else ``all_proxy``/``ALL_PROXY``; ``no_proxy``/``NO_PROXY``
lists hosts (and their subdomains) to reach directly, ``*`` for all.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import os
import socket
from urllib.parse import unquote, urlsplit

from ..exceptions import ConfigError, ConnectError

__all__ = ["ProxyURL", "parse_proxy", "proxy_from_env", "connect_via_proxy", "connect_request"]

MAX_ANSWER = 16384


class ProxyURL:
    """An ``http://[user:pass@]host:port`` proxy."""

    def __init__(self, host: str, port: int, user: str | None, password: str | None, text: str) -> None:
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.text = text  # as given, without the password (for messages)

    def __repr__(self) -> str:
        return f"<ProxyURL {self.text}>"


def parse_proxy(text: str, what: str = "--proxy") -> ProxyURL:
    """Parse a proxy URL; ``ConfigError`` naming *what* when it is not one we can use."""
    if "://" not in text:
        text = "http://" + text  # curl's default scheme
    parts = urlsplit(text)
    if parts.scheme.lower() != "http":
        raise ConfigError(f"{what} {text!r}: only http:// (CONNECT) proxies are supported")
    try:
        port = parts.port or 80
    except ValueError:
        raise ConfigError(f"{what} {text!r}: the port is not a number") from None
    if not parts.hostname:
        raise ConfigError(f"{what} {text!r}: a host is required")
    user = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    host = parts.hostname
    shown = f"http://{user + '@' if user else ''}{'[' + host + ']' if ':' in host else host}:{port}"
    return ProxyURL(host, port, user, password, shown)


def _no_proxy(host: str, value: str) -> bool:
    host = host.lower().rstrip(".")
    for item in value.split(","):
        item = item.strip().lower()
        if not item:
            continue
        if item == "*":
            return True
        item = item.lstrip(".").split(":")[0]
        if host == item or host.endswith("." + item):
            return True
        try:
            if ipaddress.ip_address(host) in ipaddress.ip_network(item, strict=False):
                return True
        except ValueError:
            pass
    return False


def proxy_from_env(host: str, websocket_plain: bool, env: dict | None = None) -> ProxyURL | None:
    """The proxy the environment names for reaching *host* (None: direct).
    *websocket_plain*: the server is a ``ws://`` URL (``http_proxy`` applies)."""
    env = os.environ if env is None else env
    no = env.get("no_proxy") or env.get("NO_PROXY") or ""
    if no and _no_proxy(host, no):
        return None
    names = ["http_proxy"] if websocket_plain else ["https_proxy", "HTTPS_PROXY"]
    for name in names + ["all_proxy", "ALL_PROXY"]:
        value = env.get(name)
        if value:
            return parse_proxy(value, f"${name}")
    return None


def connect_request(host: str, port: int, proxy: ProxyURL) -> bytes:
    """The ``CONNECT`` request (RFC 9110 §9.3.6) for host:port."""
    authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    lines = [f"CONNECT {authority} HTTP/1.1", f"Host: {authority}", "User-Agent: fasttun"]
    if proxy.user is not None:
        token = base64.b64encode(f"{proxy.user}:{proxy.password or ''}".encode()).decode()
        lines.append(f"Proxy-Authorization: Basic {token}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def parse_answer(head: bytes) -> tuple[int, str]:
    """(status, reason) of the proxy's answer head; ``ValueError`` when it is not HTTP."""
    line = head.split(b"\r\n", 1)[0].decode("latin-1")
    version, _, rest = line.partition(" ")
    code, _, reason = rest.partition(" ")
    if not version.startswith("HTTP/1.") or not code.isdigit():
        raise ValueError(f"not an HTTP answer: {line[:80]!r}")
    return int(code), reason.strip()


async def connect_via_proxy(proxy: ProxyURL, host: str, port: int) -> socket.socket:
    """A connected, non-blocking socket to host:port through *proxy*.

    Raises:
        ConnectError: the proxy cannot be reached, refuses (with its status
            and reason; 407 names authentication), or does not speak HTTP.
    """
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(proxy.host, proxy.port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise ConnectError(f"cannot resolve the proxy {proxy.text}: {exc.strerror or exc}") from None
    last: OSError | None = None
    sock = None
    for family, kind, proto, _, addr in infos:
        sock = socket.socket(family, kind, proto)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, addr)
            break
        except OSError as exc:
            sock.close()
            sock = None
            last = exc
    if sock is None:
        why = last.strerror if last is not None and last.strerror else last
        raise ConnectError(f"cannot reach the proxy {proxy.text}: {why}")
    try:
        await loop.sock_sendall(sock, connect_request(host, port, proxy))
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = await loop.sock_recv(sock, 4096)
            if not chunk:
                raise ConnectError(f"the proxy {proxy.text} closed the connection before answering CONNECT")
            head += chunk
            if len(head) > MAX_ANSWER:
                raise ConnectError(f"the proxy {proxy.text} sent an oversized answer to CONNECT")
        head, _, rest = head.partition(b"\r\n\r\n")
        try:
            status, reason = parse_answer(head)
        except ValueError as exc:
            raise ConnectError(f"the proxy {proxy.text} did not answer CONNECT with HTTP: {exc}") from None
        if status in (401, 407):  # (407 is the standard; some proxies answer 401 to wrong credentials)
            raise ConnectError(f"the proxy {proxy.text} wants authentication ({status} {reason}); give "
                               "--proxy http://USER:PASS@HOST:PORT" if proxy.user is None else
                               f"the proxy {proxy.text} refused the user name or password ({status} {reason})")
        if not 200 <= status < 300:
            raise ConnectError(f"the proxy {proxy.text} refused CONNECT {host}:{port}: {status} {reason}")
        if rest:  # the server speaks second in every carrier: nothing may come before our first bytes
            raise ConnectError(f"the proxy {proxy.text} sent bytes after its answer to CONNECT")
    except OSError as exc:
        sock.close()
        raise ConnectError(f"the proxy {proxy.text} failed: {exc.strerror or exc}") from None
    except BaseException:
        sock.close()
        raise
    return sock
