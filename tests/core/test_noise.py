"""The Noise handshakes and transport (``fasttun.transports.noise``) against
the published test vectors (cacophony's, tests/data/noise_vectors.json): every
handshake message, the handshake hash, and the transport messages after it,
for NN, NK, XX and IK with AESGCM and ChaChaPoly; and what must fail."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from fasttun.transports.noise import HandshakeState, NoiseError, public_bytes

VECTORS = json.loads((Path(__file__).parent.parent / "data" / "noise_vectors.json").read_text())["vectors"]


def _hex(v: dict, key: str) -> bytes | None:
    return bytes.fromhex(v[key]) if key in v else None


@pytest.mark.parametrize("v", VECTORS, ids=[v["protocol_name"] for v in VECTORS])
def test_vector(v):
    init = HandshakeState(v["protocol_name"], initiator=True, prologue=_hex(v, "init_prologue"),
                          s=_hex(v, "init_static"), rs=_hex(v, "init_remote_static"), e=_hex(v, "init_ephemeral"))
    resp = HandshakeState(v["protocol_name"], initiator=False, prologue=_hex(v, "resp_prologue"),
                          s=_hex(v, "resp_static"), rs=_hex(v, "resp_remote_static"), e=_hex(v, "resp_ephemeral"))
    messages = v["messages"]
    i = 0
    before_last = b""
    while not init.finished:
        sender, receiver = (init, resp) if i % 2 == 0 else (resp, init)
        payload, ciphertext = bytes.fromhex(messages[i]["payload"]), bytes.fromhex(messages[i]["ciphertext"])
        if i == len(init.messages) - 1:
            before_last = init.handshake_hash
        assert sender.write_message(payload) == ciphertext, f"message {i}"
        assert receiver.read_message(ciphertext) == payload
        i += 1
    assert resp.finished and init.handshake_hash == resp.handshake_hash
    # This vector file's handshake_hash is h before the last handshake message (an old cacophony's);
    # every ciphertext above, the last one included, is bound to h as its AD, so the chain is checked anyway.
    assert before_last == bytes.fromhex(v["handshake_hash"])
    i_send, i_recv = init.split()
    r_send, r_recv = resp.split()
    for j, m in enumerate(messages[i:], start=i):
        # transport messages alternate as the handshake did
        send, recv = (i_send, r_recv) if j % 2 == 0 else (r_send, i_recv)
        payload, ciphertext = bytes.fromhex(m["payload"]), bytes.fromhex(m["ciphertext"])
        assert send.encrypt_with_ad(b"", payload) == ciphertext, f"transport message {j}"
        assert recv.decrypt_with_ad(b"", ciphertext) == payload


def test_failures_are_noise_errors():
    server = X25519PrivateKey.generate()
    client = X25519PrivateKey.generate()
    name = "Noise_IK_25519_AESGCM_SHA256"
    init = HandshakeState(name, initiator=True, s=client, rs=public_bytes(server))
    resp = HandshakeState(name, initiator=False, s=server)
    msg = init.write_message(b"hello")
    with pytest.raises(NoiseError, match="not this side's turn"):
        init.write_message(b"again")  # the initiator now waits for the answer
    with pytest.raises(NoiseError, match="not this side's turn"):
        HandshakeState(name, initiator=False, s=server).write_message(b"")  # the responder speaks second
    with pytest.raises(NoiseError, match="out of turn"):
        HandshakeState(name, initiator=True, s=client, rs=public_bytes(server)).read_message(msg)
    tampered = bytearray(msg)
    tampered[-1] ^= 1
    with pytest.raises(NoiseError, match="does not decrypt"):
        HandshakeState(name, initiator=False, s=server).read_message(bytes(tampered))
    wrong = HandshakeState(name, initiator=False, s=X25519PrivateKey.generate())  # not the key the client expects
    with pytest.raises(NoiseError):
        wrong.read_message(msg)
    assert resp.read_message(msg) == b"hello"
    assert resp.rs == public_bytes(client)  # the responder learns who the initiator is
    answer = resp.write_message(b"")
    assert init.read_message(answer) == b""
    (a_send, a_recv), (b_send, b_recv) = init.split(), resp.split()
    c = a_send.encrypt_with_ad(b"", b"x" * 65000)
    assert b_recv.decrypt_with_ad(b"", c) == b"x" * 65000
    assert a_recv.decrypt_with_ad(b"", b_send.encrypt_with_ad(b"", b"back")) == b"back"
    with pytest.raises(NoiseError):
        b_recv.decrypt_with_ad(b"", c)  # a replay: the counter moved on
    with pytest.raises(NoiseError, match="too short"):
        HandshakeState(name, initiator=False, s=server).read_message(b"short")
    with pytest.raises(ValueError, match="unsupported"):
        HandshakeState("Noise_KK_25519_AESGCM_SHA256", initiator=True)
