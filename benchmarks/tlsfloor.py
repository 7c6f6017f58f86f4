"""A measuring stick: the least a tunnel built on stdlib ``ssl`` can do.

One TLS connection per user connection: no multiplexing, no framing, no
flow control beyond the sockets', no authentication.  Each connection pair
is relayed by one thread running a ``select`` loop over non-blocking
sockets, with 256 KiB reads.  TLS is stdlib ``ssl`` with fasttun's own
contexts (TLS 1.3, the same cipher suite), in one of its two I/O modes:

* ``--io bio``: ``SSLObject`` over two ``MemoryBIO`` (what asyncio's and
  uvloop's TLS transports use);
* ``--io socket``: ``SSLSocket`` (OpenSSL reads and writes the socket).

Whatever fasttun costs above this relay is what its own design costs; what
this relay costs is what stdlib ``ssl`` costs.  It takes fasttun's command
lines, so that ../shared/bench/tunnelbench.py can run it in place of
fasttun (see benchmarks/README.md)::

    -s 'fasttun:bin=python3 benchmarks/tlsfloor.py --io bio'

Loopback only, and the client does not verify the server: do not use it as
a tunnel.
"""

from __future__ import annotations

import argparse
import collections
import ipaddress
import selectors
import socket
import ssl
import sys
import tempfile
import threading
from pathlib import Path

if __package__ in (None, ""):  # run as a script: import fasttun from this checkout
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fasttun.transports.tls import client_context, load_or_create_certificate, server_context  # noqa: E402

BUF = 262144
GO = b"g"  # the server's first byte on a tunnel connection: a user is there


def address(text: str) -> tuple[str, int]:
    host, port = text.rsplit(":", 1)
    host = host.strip("[]")
    if not ipaddress.ip_address(socket.gethostbyname(host) if host == "localhost" else host).is_loopback:
        raise SystemExit(f"tlsfloor: {host} is not a loopback address")
    return host, int(port)


class Relay:
    """One user connection and its tunnel connection, relayed both ways."""

    def __init__(self, plain: socket.socket, tls: socket.socket, obj=None, inc=None, out=None) -> None:
        self.plain, self.tls = plain, tls
        self.obj, self.inc, self.out = obj, inc, out  # set in bio mode
        self.to_tls: collections.deque = collections.deque()  # ciphertext (bio) or plaintext (socket)
        self.to_plain: collections.deque = collections.deque()
        self.view = memoryview(bytearray(BUF))  # reads from the user
        self.rview = memoryview(bytearray(BUF))  # ciphertext read (bio)
        self.dview = memoryview(bytearray(BUF))  # decrypted

    def run(self) -> None:
        plain, tls = self.plain, self.tls
        for s in (plain, tls):
            s.setblocking(False)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sel = selectors.DefaultSelector()
        plain_eof = tls_eof = plain_shut = tls_shut = False
        try:
            tls_eof = self.decrypt()  # what arrived with the handshake or the go byte
            while True:
                self.flush(tls, self.to_tls)
                self.flush(plain, self.to_plain)
                if plain_eof and not self.to_tls and not tls_shut:
                    tls_shut = True
                    # (socket's own shutdown: SSLSocket's would drop its TLS state)
                    socket.socket.shutdown(tls, socket.SHUT_WR)
                if tls_eof and not self.to_plain and not plain_shut:
                    plain_shut = True
                    plain.shutdown(socket.SHUT_WR)
                if plain_shut and tls_shut:
                    return
                # Read a side only while the other side has nothing pending.
                self.interest(sel, plain, not plain_eof and not self.to_tls, bool(self.to_plain))
                self.interest(sel, tls, not tls_eof and not self.to_plain, bool(self.to_tls))
                for key, events in sel.select():
                    if not events & selectors.EVENT_READ:
                        continue  # writable: the flushes above the select do that
                    if key.fileobj is plain and not plain_eof:
                        n = plain.recv_into(self.view)
                        if n:
                            self.encrypt(self.view[:n])
                        else:
                            plain_eof = True
                    elif key.fileobj is tls and not tls_eof:
                        tls_eof = self.receive()
        except OSError as exc:  # the user or the service went away
            print(f"tlsfloor: relay ended: {exc!r}", file=sys.stderr, flush=True)
        finally:
            sel.close()
            plain.close()
            tls.close()

    @staticmethod
    def interest(sel: selectors.BaseSelector, sock: socket.socket, read: bool, write: bool) -> None:
        events = (selectors.EVENT_READ if read else 0) | (selectors.EVENT_WRITE if write else 0)
        key = sel.get_map().get(sock)
        if key is None:
            if events:
                sel.register(sock, events)
        elif not events:
            sel.unregister(sock)
        elif key.events != events:
            sel.modify(sock, events)

    # -- the two I/O modes -------------------------------------------------------
    def encrypt(self, data: memoryview) -> None:
        if self.obj is not None:
            self.obj.write(data)
            self.put(self.tls, self.out.read(), self.to_tls)
        else:
            self.put(self.tls, data, self.to_tls)

    def receive(self) -> bool:
        """Read the tunnel connection; True at its end."""
        if self.obj is not None:
            n = self.tls.recv_into(self.rview)
            if not n:
                return True
            self.inc.write(self.rview[:n])
        return self.decrypt()

    def decrypt(self) -> bool:
        reader = self.obj if self.obj is not None else self.tls
        while True:
            if self.obj is not None and not (self.inc.pending or self.obj.pending()):
                return False
            try:
                k = reader.recv_into(self.dview) if reader is self.tls else reader.read(BUF, self.dview)
            except (ssl.SSLWantReadError, BlockingIOError):
                return False
            except ssl.SSLZeroReturnError:
                return True
            if not k:
                return True
            self.put(self.plain, self.dview[:k], self.to_plain)

    @staticmethod
    def put(sock: socket.socket, data: memoryview | bytes, pending: collections.deque) -> None:
        """Send *data* now if nothing waits before it; keep what is refused.

        (An SSLSocket that could not write must be given the same bytes
        again; ``send`` on it writes all or raises.)
        """
        if not pending:
            try:
                n = sock.send(data)
            except (BlockingIOError, ssl.SSLWantWriteError):
                n = 0
            if n == len(data):
                return
            data = data[n:]
        pending.append(bytes(data))

    @staticmethod
    def flush(sock: socket.socket, pending: collections.deque) -> None:
        while pending:
            data = pending[0]
            try:
                n = sock.send(data)
            except (BlockingIOError, ssl.SSLWantWriteError):
                return
            if n == len(data):
                pending.popleft()
            else:
                pending[0] = data[n:]


def for_io(ctx: ssl.SSLContext, io: str) -> ssl.SSLContext:
    if io == "socket":
        # The relays half-close with a bare FIN, as in bio mode: OpenSSL must
        # take it as the end of the peer's data, not as an error that ends the
        # connection both ways.
        ctx.options |= ssl.OP_IGNORE_UNEXPECTED_EOF
    return ctx


def tls_session(sock: socket.socket, ctx: ssl.SSLContext, server: bool, io: str):
    """Handshake on a blocking socket; return (tls socket, obj, inc, out)."""
    if io == "socket":
        tls = ctx.wrap_socket(sock, server_side=server, server_hostname=None if server else "tlsfloor")
        return tls, None, None, None
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_side=server, server_hostname=None if server else "tlsfloor")
    while True:
        try:
            obj.do_handshake()
            break
        except ssl.SSLWantReadError:
            if out.pending:
                sock.sendall(out.read())
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed during the handshake") from None
            inc.write(chunk)
    if out.pending:
        sock.sendall(out.read())
    return sock, obj, inc, out


def send_blocking(tls, obj, out, data: bytes) -> None:
    if obj is None:
        tls.sendall(data)
    else:
        obj.write(data)
        tls.sendall(out.read())


def read_go(tls, obj, inc) -> bool:
    """Client: wait for the server's go byte; False if the connection ends."""
    while True:
        try:
            data = tls.recv(1) if obj is None else obj.read(1)
            return data == GO
        except ssl.SSLWantReadError:
            chunk = tls.recv(65536)
            if not chunk:
                return False
            inc.write(chunk)
        except (OSError, ssl.SSLError):
            return False


def serve(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="tlsfloor-") as state:
        cert, key, _ = load_or_create_certificate(Path(state))
        ctx = for_io(server_context(cert, key), args.io)
    host = args.public_host
    public_port = int(args.ports.split("-")[0])
    idle: list = []
    cond = threading.Condition()
    ctrl = socket.create_server(address(args.listen))
    public = socket.create_server(address(f"{host}:{public_port}"), backlog=1024)

    def accept_tunnels() -> None:
        while True:
            sock, _ = ctrl.accept()
            try:
                session = tls_session(sock, ctx, True, args.io)
            except (OSError, ssl.SSLError):
                sock.close()
                continue
            with cond:
                idle.append(session)
                cond.notify()

    def pair(user: socket.socket) -> None:
        with cond:
            if not cond.wait_for(lambda: idle, timeout=10):
                user.close()
                return
            tls, obj, inc, out = idle.pop()
        send_blocking(tls, obj, out, GO)
        Relay(user, tls, obj, inc, out).run()

    threading.Thread(target=accept_tunnels, daemon=True).start()
    print(f"tlsfloor ({args.io}) listening on port {ctrl.getsockname()[1]}, public port {public.getsockname()[1]}",
          flush=True)
    while True:
        user, _ = public.accept()
        threading.Thread(target=pair, args=(user,), daemon=True).start()


def expose(args: argparse.Namespace) -> None:
    ctx = for_io(client_context(ca=None, verify=False), args.io)  # a measuring stick: no verification
    server = address(args.server)
    service = (server[0], args.port)
    spare = threading.Semaphore(4)  # idle tunnel connections kept open

    def one() -> None:
        try:
            sock = socket.create_connection(server)
            tls, obj, inc, out = tls_session(sock, ctx, False, args.io)
        except (OSError, ssl.SSLError):
            spare.release()
            return
        ok = read_go(tls, obj, inc)
        spare.release()
        if not ok:
            tls.close()
            return
        try:
            local = socket.create_connection(service)
        except OSError:
            tls.close()
            return
        Relay(local, tls, obj, inc, out).run()

    print(f"tcp://{server[0]} (tlsfloor, {args.io})", flush=True)
    while True:
        spare.acquire()
        threading.Thread(target=one, daemon=True).start()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--io", choices=("bio", "socket"), default="bio", help="stdlib ssl's I/O mode (default bio)")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve", help="the public side")
    s.add_argument("--listen", required=True, metavar="HOST:PORT", help="port 0: any")
    s.add_argument("--public-host", required=True)
    s.add_argument("--ports", required=True, metavar="PORT-PORT", help="the first port is used (0: any)")
    s.add_argument("--token", help="ignored (fasttun's command line)")
    c = sub.add_parser("expose", help="the service side")
    c.add_argument("port", type=int)
    c.add_argument("--server", required=True, metavar="HOST:PORT")
    c.add_argument("--remote-port", help="ignored (fasttun's command line)")
    c.add_argument("--token", help="ignored (fasttun's command line)")
    args = p.parse_args(argv)
    try:
        serve(args) if args.cmd == "serve" else expose(args)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
