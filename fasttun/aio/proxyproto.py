"""PROXY protocol headers (HAProxy's spec, versions 1 and 2), sans-I/O.

A TCP tunnel with ``--proxy-protocol v1|v2`` sends one of these to its local
service before the visitor's bytes, so that the service (nginx, HAProxy,
PgBouncer, ...) sees the visitor's address instead of the client's.  The
addresses come from the OPEN frame (docs/spec.md §4.3: the visitor's address,
then the public address it reached).
"""

from __future__ import annotations

import ipaddress
import struct

__all__ = ["proxy_header", "parse_address", "V2_SIGNATURE"]

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_address(text: str) -> tuple[IPAddress, int] | None:
    """``1.2.3.4:80`` or ``[2001:db8::1]:80`` -> (address, port); None if neither."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        return None
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped  # a dual-stack socket's view of an IPv4 peer
    return addr, int(port)


def proxy_header(version: int, info: bytes) -> bytes:
    """The PROXY header (*version* 1 or 2) for a stream whose OPEN carried *info*.

    When the addresses are missing or of different families, version 1 says
    ``UNKNOWN`` and version 2 sends a LOCAL command: the service then uses the
    connection's own addresses, as the spec asks.
    """
    fields = info.decode("utf-8", "replace").split()
    src = parse_address(fields[0]) if fields else None
    dst = parse_address(fields[1]) if len(fields) > 1 else None
    known = src is not None and dst is not None and src[0].version == dst[0].version
    if version == 1:
        if not known:
            return b"PROXY UNKNOWN\r\n"
        assert src is not None and dst is not None
        family = "TCP4" if src[0].version == 4 else "TCP6"
        return f"PROXY {family} {src[0]} {dst[0]} {src[1]} {dst[1]}\r\n".encode()
    if not known:
        return V2_SIGNATURE + b"\x20\x00\x00\x00"  # LOCAL, UNSPEC, no addresses
    assert src is not None and dst is not None
    family = b"\x11" if src[0].version == 4 else b"\x21"  # TCP over IPv4 / IPv6
    body = src[0].packed + dst[0].packed + struct.pack(">HH", src[1], dst[1])
    return V2_SIGNATURE + b"\x21" + family + struct.pack(">H", len(body)) + body
