"""The Noise protocol framework (https://noiseprotocol.org/noise.html, revision 34), sans I/O.

The handshake patterns NN, NK, XX and IK, with DH 25519, the ciphers AESGCM
and ChaChaPoly and the hash SHA256.  Every primitive is ``cryptography``'s
(X25519, AES-GCM, ChaCha20-Poly1305) or the standard library's (SHA-256, HMAC);
this module only follows the specification's state machines (§5), and is
checked against the published test vectors (tests/core/test_noise.py,
cacophony's).

Why it is here (benchmarks/README.md, "The encrypted data path's ceiling"):
one AES-GCM pass per 64 KiB message costs a quarter of TLS through memory
BIOs.  ``noiseproto.py`` runs the tunnel over it (``serve --noise``).

Use::

    hs = HandshakeState("Noise_IK_25519_AESGCM_SHA256", initiator=True, s=my_private, rs=server_public)
    msg = hs.write_message(b"")          # -> the peer
    ...                                  # hs.read_message(answer)
    send, receive = hs.split()           # once hs.finished: two CipherStates
    ciphertext = send.encrypt_with_ad(b"", plaintext)
"""

from __future__ import annotations

import hashlib
import hmac

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

__all__ = ["HandshakeState", "CipherState", "NoiseError", "PATTERNS", "MAX_MESSAGE", "public_bytes"]

MAX_MESSAGE = 65535  # a Noise message's length (§3), tag included
DHLEN = 32
HASHLEN = 32
TAGLEN = 16
EMPTY_KEY = b""

# §7: pre-messages (initiator's, responder's), then the message patterns.
PATTERNS: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[tuple[str, ...], ...]]] = {
    "NN": ((), (), (("e",), ("e", "ee"))),
    "NK": ((), ("s",), (("e", "es"), ("e", "ee"))),
    "XX": ((), (), (("e",), ("e", "ee", "s", "es"), ("s", "se"))),
    "IK": ((), ("s",), (("e", "es", "s", "ss"), ("e", "ee", "se"))),
}


class NoiseError(Exception):
    """A message that does not decrypt, or is malformed, or out of turn."""


def public_bytes(key: X25519PrivateKey | X25519PublicKey) -> bytes:
    pub = key.public_key() if isinstance(key, X25519PrivateKey) else key
    return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _private(raw: bytes | X25519PrivateKey | None) -> X25519PrivateKey | None:
    if raw is None or isinstance(raw, X25519PrivateKey):
        return raw
    return X25519PrivateKey.from_private_bytes(raw)


def _hash(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _hkdf(chaining_key: bytes, ikm: bytes, outputs: int) -> list[bytes]:
    """§4.3's HKDF, with HMAC-SHA256."""
    temp = hmac.new(chaining_key, ikm, hashlib.sha256).digest()
    out1 = hmac.new(temp, b"\x01", hashlib.sha256).digest()
    out2 = hmac.new(temp, out1 + b"\x02", hashlib.sha256).digest()
    if outputs == 2:
        return [out1, out2]
    return [out1, out2, hmac.new(temp, out2 + b"\x03", hashlib.sha256).digest()]


class CipherState:
    """§5.1: a key and a counter; one AEAD pass per message."""

    def __init__(self, cipher: str, key: bytes = EMPTY_KEY) -> None:
        self.cipher = cipher
        self.n = 0
        self._aead: AESGCM | ChaCha20Poly1305 | None = None
        self.k = EMPTY_KEY
        if key:
            self.initialize_key(key)

    def initialize_key(self, key: bytes) -> None:
        self.k = key
        self.n = 0
        self._aead = AESGCM(key) if self.cipher == "AESGCM" else ChaCha20Poly1305(key)

    def has_key(self) -> bool:
        return self._aead is not None

    def _nonce(self) -> bytes:
        if self.n >= (1 << 64) - 1:
            raise NoiseError("nonce exhausted: rekey or reconnect")
        if self.cipher == "AESGCM":
            return b"\x00\x00\x00\x00" + self.n.to_bytes(8, "big")
        return b"\x00\x00\x00\x00" + self.n.to_bytes(8, "little")

    def encrypt_with_ad(self, ad: bytes, plaintext: bytes | memoryview) -> bytes:
        if self._aead is None:
            return bytes(plaintext)
        out = self._aead.encrypt(self._nonce(), bytes(plaintext) if isinstance(plaintext, memoryview) else plaintext,
                                 ad)
        self.n += 1
        return out

    def decrypt_with_ad(self, ad: bytes, ciphertext: bytes) -> bytes:
        if self._aead is None:
            return ciphertext
        try:
            out = self._aead.decrypt(self._nonce(), ciphertext, ad)
        except Exception:  # cryptography's InvalidTag
            raise NoiseError("a message does not decrypt (wrong key, or altered)") from None
        self.n += 1
        return out


class _SymmetricState:
    """§5.2."""

    def __init__(self, protocol_name: bytes, cipher: str) -> None:
        self.h = protocol_name.ljust(HASHLEN, b"\x00") if len(protocol_name) <= HASHLEN else _hash(protocol_name)
        self.ck = self.h
        self.cs = CipherState(cipher)

    def mix_key(self, ikm: bytes) -> None:
        self.ck, temp_k = _hkdf(self.ck, ikm, 2)
        self.cs.initialize_key(temp_k)

    def mix_hash(self, data: bytes) -> None:
        self.h = _hash(self.h + data)

    def encrypt_and_hash(self, plaintext: bytes) -> bytes:
        ciphertext = self.cs.encrypt_with_ad(self.h, plaintext)
        self.mix_hash(ciphertext)
        return ciphertext

    def decrypt_and_hash(self, ciphertext: bytes) -> bytes:
        plaintext = self.cs.decrypt_with_ad(self.h, ciphertext)
        self.mix_hash(ciphertext)
        return plaintext

    def split(self) -> tuple[CipherState, CipherState]:
        k1, k2 = _hkdf(self.ck, b"", 2)
        return CipherState(self.cs.cipher, k1), CipherState(self.cs.cipher, k2)


class HandshakeState:
    """§5.3: one side of a handshake.

    Args:
        protocol_name: ``Noise_<NN|NK|XX|IK>_25519_<AESGCM|ChaChaPoly>_SHA256``.
        initiator: this side sends the first message.
        prologue: bytes both sides must agree on (bound into the hash).
        s: this side's static private key (raw 32 bytes or a key), when the pattern has one.
        rs: the peer's static public key (raw 32 bytes), when known in advance (NK, IK).
        e: a fixed ephemeral private key (test vectors only; else a fresh one).
    """

    def __init__(self, protocol_name: str, *, initiator: bool, prologue: bytes = b"",
                 s: bytes | X25519PrivateKey | None = None, rs: bytes | None = None,
                 e: bytes | X25519PrivateKey | None = None) -> None:
        parts = protocol_name.split("_")
        if len(parts) != 5 or parts[0] != "Noise" or parts[1] not in PATTERNS or parts[2] != "25519" \
                or parts[3] not in ("AESGCM", "ChaChaPoly") or parts[4] != "SHA256":
            raise ValueError(f"unsupported Noise protocol {protocol_name!r}")
        pre_i, pre_r, self.messages = PATTERNS[parts[1]]
        self.initiator = initiator
        self.ss = _SymmetricState(protocol_name.encode(), parts[3])
        self.s = _private(s)
        self.e = _private(e)
        self.rs = rs
        self.re: bytes | None = None
        self.index = 0  # the next message of the pattern
        self.ss.mix_hash(prologue)
        for owner_is_initiator, tokens in ((True, pre_i), (False, pre_r)):
            for token in tokens:  # only "s" occurs in these patterns' pre-messages
                assert token == "s"
                mine = owner_is_initiator == initiator
                key = public_bytes(self.s) if mine and self.s is not None else self.rs
                if key is None:
                    raise ValueError("this pattern needs the responder's static key in advance (rs, or s)")
                self.ss.mix_hash(key)

    @property
    def finished(self) -> bool:
        return self.index >= len(self.messages)

    @property
    def handshake_hash(self) -> bytes:
        return self.ss.h

    def _my_turn(self) -> bool:
        return (self.index % 2 == 0) == self.initiator

    def _dh(self, private: X25519PrivateKey | None, public: bytes | None) -> bytes:
        if private is None or public is None:
            raise NoiseError("a key the pattern needs is missing")
        return private.exchange(X25519PublicKey.from_public_bytes(public))

    def write_message(self, payload: bytes = b"") -> bytes:
        """The next handshake message (carrying *payload*), when it is this side's turn."""
        if self.finished or not self._my_turn():
            raise NoiseError("not this side's turn to write a handshake message")
        out = bytearray()
        for token in self.messages[self.index]:
            if token == "e":
                if self.e is None:
                    self.e = X25519PrivateKey.generate()
                pub = public_bytes(self.e)
                out += pub
                self.ss.mix_hash(pub)
            elif token == "s":
                if self.s is None:
                    raise NoiseError("this pattern sends a static key, and none was given")
                out += self.ss.encrypt_and_hash(public_bytes(self.s))
            else:
                self.ss.mix_key(self._token_dh(token))
        out += self.ss.encrypt_and_hash(payload)
        self.index += 1
        if len(out) > MAX_MESSAGE:
            raise NoiseError("handshake message too long")
        return bytes(out)

    def read_message(self, message: bytes) -> bytes:
        """Process the peer's next handshake message; return its payload.

        Raises:
            NoiseError: out of turn, too short, or it does not decrypt.
        """
        if self.finished or self._my_turn():
            raise NoiseError("a handshake message out of turn")
        pos = 0
        for token in self.messages[self.index]:
            if token == "e":
                if len(message) < pos + DHLEN:
                    raise NoiseError("handshake message too short")
                self.re = message[pos:pos + DHLEN]
                pos += DHLEN
                self.ss.mix_hash(self.re)
            elif token == "s":
                n = DHLEN + (TAGLEN if self.ss.cs.has_key() else 0)
                if len(message) < pos + n:
                    raise NoiseError("handshake message too short")
                self.rs = self.ss.decrypt_and_hash(message[pos:pos + n])
                pos += n
            else:
                self.ss.mix_key(self._token_dh(token))
        payload = self.ss.decrypt_and_hash(message[pos:])
        self.index += 1
        return payload

    def _token_dh(self, token: str) -> bytes:
        # §7.1: "es" is DH(e, rs) for the initiator and DH(s, re) for the responder; "se" the reverse.
        if token == "ee":
            return self._dh(self.e, self.re)
        if token == "ss":
            return self._dh(self.s, self.rs)
        if (token == "es") == self.initiator:
            return self._dh(self.e, self.rs)
        return self._dh(self.s, self.re)

    def split(self) -> tuple[CipherState, CipherState]:
        """Once finished: (the CipherState to send with, the one to receive with)."""
        if not self.finished:
            raise NoiseError("the handshake is not finished")
        c1, c2 = self.ss.split()
        return (c1, c2) if self.initiator else (c2, c1)
