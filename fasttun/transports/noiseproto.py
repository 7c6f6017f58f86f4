"""The tunnel connection encrypted by Noise instead of TLS (``serve --noise``,
``expose --noise SERVER_KEY``): an asyncio layer like asyncio's SSLProtocol.

Handshake ``Noise_NK_25519_AESGCM_SHA256``: the client knows the server's
static public key in advance (printed by ``fasttun serve --noise``, as the
TLS certificate's fingerprint is), so only that server can complete the
handshake; the client then proves the token as over TLS, bound to the
handshake hash (docs/spec.md §1.1).  After it, every Noise message is one
AES-GCM pass: written with ``encrypt_into``, read with ``decrypt_into`` straight
into the session's receive buffer, with a 2-byte length before each (Noise
§13).  Why: benchmarks/README.md, "The encrypted data path's ceiling".
"""

from __future__ import annotations

import asyncio
import base64
import os
import struct
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from ..exceptions import ConfigError
from .keys import key_bytes
from .noise import MAX_MESSAGE, TAGLEN, HandshakeState, NoiseError, public_bytes

__all__ = ["NoiseProtocol", "PROTOCOL", "load_or_create_key", "parse_server_key"]

PROTOCOL = "Noise_NK_25519_AESGCM_SHA256"
PROLOGUE = b"fasttun noise v1"
MAX_PAYLOAD = MAX_MESSAGE - TAGLEN
_LEN = struct.Struct(">H")


def load_or_create_key(state_dir: Path) -> tuple[X25519PrivateKey, str]:
    """The server's static Noise key, kept in *state_dir*/noise.key (mode
    0600), and its public key as base64 (what clients pass to ``--noise``)."""
    path = state_dir / "noise.key"
    if path.exists():
        raw = path.read_bytes()
        if len(raw) != 32:
            raise ConfigError(f"{path}: not a Noise key (32 bytes); remove it to make a new one")
        key = X25519PrivateKey.from_private_bytes(raw)
    else:
        state_dir.mkdir(parents=True, exist_ok=True)
        key = X25519PrivateKey.generate()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            from cryptography.hazmat.primitives import serialization

            f.write(key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                      serialization.NoEncryption()))
    return key, base64.b64encode(public_bytes(key)).decode()


def parse_server_key(text: str) -> bytes:
    raw = key_bytes(text)
    if raw is None:
        raise ConfigError(f"--noise {text[:60]!r}: want the server's Noise key as fasttun serve --noise prints it "
                          "(44 characters of base64)")
    return raw


class _NoiseTransport(asyncio.Transport):
    """What the session sees: writes are encrypted, the rest is the socket's."""

    def __init__(self, layer: "NoiseProtocol") -> None:
        super().__init__()
        self._layer = layer

    def write(self, data: Any) -> None:
        self._layer.send(data)

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self._layer.send(data)

    def can_write_eof(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return self._layer.transport.get_write_buffer_size()  # type: ignore[union-attr]

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._layer.transport.set_write_buffer_limits(high, low)  # type: ignore[union-attr]

    def pause_reading(self) -> None:
        self._layer.transport.pause_reading()  # type: ignore[union-attr]

    def resume_reading(self) -> None:
        self._layer.transport.resume_reading()  # type: ignore[union-attr]

    def is_reading(self) -> bool:
        return self._layer.transport.is_reading()  # type: ignore[union-attr]

    def is_closing(self) -> bool:
        t = self._layer.transport
        return t is None or t.is_closing()

    def close(self) -> None:
        if self._layer.transport is not None:
            self._layer.transport.close()

    def abort(self) -> None:
        if self._layer.transport is not None:
            self._layer.transport.abort()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "channel_binding":  # what the token's MAC is bound to, as tls-unique is over TLS
            return self._layer.handshake_hash
        if name == "noise_remote_static":
            return self._layer.server_key
        t = self._layer.transport
        return t.get_extra_info(name, default) if t is not None else default

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._layer.app = protocol

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._layer.app  # type: ignore[no-any-return]


class NoiseProtocol(asyncio.BufferedProtocol):
    """Noise between the socket and *app* (a session protocol).

    Args:
        initiator: the client's side (it knows *server_key*); else the server's (*static*).
        on_failure: called with a reason when the handshake fails (the connection is then closed).
    """

    def __init__(self, app: Any, *, initiator: bool, static: X25519PrivateKey | None = None,
                 server_key: bytes | None = None, handshake_timeout: float = 10.0) -> None:
        self.app = app
        self.initiator = initiator
        self.server_key = server_key
        self.hs: HandshakeState | None = HandshakeState(PROTOCOL, initiator=initiator, prologue=PROLOGUE,
                                                        s=static, rs=server_key)
        self.handshake_hash = b""
        self.transport: asyncio.Transport | None = None
        self.app_transport = _NoiseTransport(self)
        self._send: Any = None
        self._recv: Any = None
        self._in = bytearray(4 * (MAX_MESSAGE + 2))
        self._start = 0
        self._end = 0
        self._timeout = handshake_timeout
        self._timer: asyncio.TimerHandle | None = None
        self.failure = ""

    # -- the socket ------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._timer = asyncio.get_running_loop().call_later(self._timeout, self._fail, "handshake timed out")
        if self.initiator:
            assert self.hs is not None
            self._write_frame(self.hs.write_message(b""))

    def get_buffer(self, sizehint: int) -> memoryview:
        if self._end == len(self._in):  # full: move the partial message to the front
            n = self._end - self._start
            self._in[:n] = self._in[self._start:self._end]
            self._start, self._end = 0, n
        return memoryview(self._in)[self._end:]

    def buffer_updated(self, nbytes: int) -> None:
        self._end += nbytes
        buf = self._in
        start, end = self._start, self._end
        while end - start >= 2:
            (n,) = _LEN.unpack_from(buf, start)
            if end - start < 2 + n:
                break
            msg_start = start + 2
            start = msg_start + n
            if self.hs is not None:
                self._handshake(bytes(buf[msg_start:start]))
                if self.transport is None or self.transport.is_closing():
                    return
                continue
            if n < TAGLEN:
                self._fail("a Noise message shorter than its tag")
                return
            if not self._deliver(memoryview(buf)[msg_start:start]):
                return
        if start == end:
            start = end = 0
        self._start, self._end = start, end

    def _deliver(self, message: memoryview) -> bool:
        """Decrypt one transport message into the session's buffer."""
        size = len(message) - TAGLEN
        recv = self._recv
        nonce = recv._nonce()  # noqa: SLF001 - one counter, kept by the CipherState
        app = self.app
        try:
            target = app.get_buffer(size)
            if len(target) >= size:
                recv._aead.decrypt_into(nonce, message, b"", target[:size])  # noqa: SLF001
                recv.n += 1
                del target
                app.buffer_updated(size)
                return True
            del target
            data = recv.decrypt_with_ad(b"", bytes(message))
        except NoiseError as exc:
            self._fail(str(exc))
            return False
        except Exception:  # cryptography's InvalidTag from decrypt_into
            self._fail("a message does not decrypt (wrong key, or altered)")
            return False
        view = memoryview(data)
        while view:
            buf = app.get_buffer(len(view))
            k = min(len(buf), len(view))
            buf[:k] = view[:k]
            del buf
            app.buffer_updated(k)
            view = view[k:]
        return True

    def _handshake(self, message: bytes) -> None:
        hs = self.hs
        assert hs is not None
        try:
            hs.read_message(message)
            if not hs.finished:
                self._write_frame(hs.write_message(b""))
        except NoiseError as exc:
            self._fail(f"Noise handshake failed: {exc}")
            return
        if hs.finished:
            self._send, self._recv = hs.split()
            self.handshake_hash = hs.handshake_hash
            self.hs = None
            if self._timer is not None:
                self._timer.cancel()
            self.app.connection_made(self.app_transport)

    def _fail(self, reason: str) -> None:
        self.failure = reason
        if self.transport is not None and not self.transport.is_closing():
            self.transport.abort()

    def _write_frame(self, message: bytes) -> None:
        assert self.transport is not None
        self.transport.write(_LEN.pack(len(message)) + message)

    def send(self, data: Any) -> None:
        """Encrypt *data* (one AES-GCM pass per 64 KiB) and write it."""
        transport = self.transport
        if transport is None or transport.is_closing() or self._send is None:
            return
        send = self._send
        aead = send._aead  # noqa: SLF001
        view = memoryview(data)
        out = []
        for i in range(0, len(view), MAX_PAYLOAD):
            chunk = view[i:i + MAX_PAYLOAD]
            frame = bytearray(2 + len(chunk) + TAGLEN)
            _LEN.pack_into(frame, 0, len(chunk) + TAGLEN)
            aead.encrypt_into(send._nonce(), chunk, b"", memoryview(frame)[2:])  # noqa: SLF001
            send.n += 1
            out.append(frame)
        if len(out) == 1:
            transport.write(out[0])
        else:
            transport.writelines(out)

    def pause_writing(self) -> None:
        if self.hs is None:
            self.app.pause_writing()

    def resume_writing(self) -> None:
        if self.hs is None:
            self.app.resume_writing()

    def eof_received(self) -> bool | None:
        if self.hs is None:
            return self.app.eof_received()  # type: ignore[no-any-return]
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self.hs is None:
            self.app.connection_lost(exc)
        else:
            self.hs = None
            on_lost = getattr(self.app, "noise_failed", None)
            if on_lost is not None:
                on_lost(self.failure or "the connection closed during the Noise handshake")
