"""What an encrypted data path costs per byte, before any socket: the
tunnel's TLS as asyncio and uvloop run it (``ssl.MemoryBIO``: the record
layer in OpenSSL, plus the copies in and out of the BIOs) against one AEAD
pass per frame with ``cryptography`` (what a Noise transport does: AES-256-GCM
or ChaCha20-Poly1305, at most 65,535 bytes a message).

``python -m benchmarks.aeadpath``: MB/s of encrypt + decrypt, one core,
256 KiB writes.  A ceiling for each data path, not a tunnel's figure.
"""

from __future__ import annotations

import os
import ssl
import tempfile
import time

from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from fasttun.transports import tls

TOTAL = 1 << 30
WRITE = 262144
NOISE_MAX = 65535 - 16  # a Noise message's payload, less the tag


def tls_memory_bio() -> float:
    state = tempfile.mkdtemp()
    cert, key, _ = tls.load_or_create_certificate(__import__("pathlib").Path(state))
    server_ctx = tls.server_context(cert, key)
    client_ctx = tls.client_context(ca=None, verify=False)
    c_in, c_out, s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    client = client_ctx.wrap_bio(c_in, c_out, server_side=False)
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    for _ in range(10):  # handshake
        for obj in (client, server):
            try:
                obj.do_handshake()
            except ssl.SSLWantReadError:
                pass
        s_in.write(c_out.read())
        c_in.write(s_out.read())
    data = os.urandom(WRITE)
    t0 = time.perf_counter()
    for _ in range(TOTAL // WRITE):
        client.write(data)
        s_in.write(c_out.read())
        got = 0
        while got < WRITE:
            got += len(server.read(WRITE))
    return TOTAL / (time.perf_counter() - t0) / 1e6


def aead(cls: type) -> float:
    key = os.urandom(32)
    enc, dec = cls(key), cls(key)
    data = memoryview(os.urandom(WRITE))
    nonce = 0
    t0 = time.perf_counter()
    for _ in range(TOTAL // WRITE):
        for i in range(0, WRITE, NOISE_MAX):
            n = nonce.to_bytes(12, "little")
            nonce += 1
            ct = enc.encrypt(n, data[i:i + NOISE_MAX], None)
            dec.decrypt(n, ct, None)
    return TOTAL / (time.perf_counter() - t0) / 1e6


if __name__ == "__main__":
    print(f"{ssl.OPENSSL_VERSION}; encrypt + decrypt, one core, MB/s:")
    print(f"  TLS 1.3 through ssl.MemoryBIO, 256 KiB writes:   {tls_memory_bio():6.0f}")
    print(f"  one AES-256-GCM pass per 64 KiB message:        {aead(AESGCM):6.0f}")
    print(f"  one ChaCha20-Poly1305 pass per 64 KiB message:  {aead(ChaCha20Poly1305):6.0f}")
