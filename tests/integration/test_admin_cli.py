"""The control plane from the command line: ``serve --admin``, curl against
the API and /metrics, ``expose`` limits and how the client says a tunnel
closed, and the mistakes that must exit with one clear line."""

from __future__ import annotations

import asyncio
import json
import subprocess

from tests.adminsupport import call, sample, samples

from .test_cli import TOKEN, Proc, echo_service, echo_through, run, server_args
from ..support import free_port, free_range

ADMIN = "cli-admin-token"


def curl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["curl", "-sS", "--max-time", "10", *args], capture_output=True, text=True, timeout=20)


def test_admin_api_and_tunnel_limits_from_the_command_line():
    svc_port, svc = echo_service()
    ctrl, ports, admin = free_port(), free_range(), free_port()
    args = server_args(ctrl, ports, "--token", TOKEN, "--admin", f"127.0.0.1:{admin}")
    with Proc(args, {"FASTTUN_ADMIN_TOKEN": ADMIN}) as server:
        server.wait_line(rf"^admin API and dashboard on http://127\.0\.0\.1:{admin}/ \(token: --admin-token\)")
        with Proc(["expose", str(svc_port), "--server", f"127.0.0.1:{ctrl}", "--token", TOKEN,
                   "--max-serves", "2", "--expire", "1h"], {}) as client:
            public = int(client.wait_line(rf"^tcp://127\.0\.0\.1:(\d+) -> localhost:{svc_port}$").group(1))
            r = curl("-H", f"Authorization: Bearer {ADMIN}", f"http://127.0.0.1:{admin}/api/v1/tunnels")
            tunnels = json.loads(r.stdout)["tunnels"]
            assert len(tunnels) == 1 and tunnels[0]["port"] == public
            assert tunnels[0]["limits"]["max_serves"] == 2 and tunnels[0]["limits"]["expires"] > 0
            assert echo_through(public, b"a" * 100_000) == b"a" * 100_000
            r = curl("-u", f"anyone:{ADMIN}", f"http://127.0.0.1:{admin}/metrics")
            m = samples(r.stdout)
            assert sample(m, "fasttun_tunnel_bytes_total", direction="in") == 100_000
            assert sample(m, "fasttun_tunnel_bytes_total", direction="out") == 100_000
            assert echo_through(public, b"b") == b"b"
            client.wait_line(rf"^.*tcp://127\.0\.0\.1:{public} -> localhost:{svc_port} closed by the server: "
                             r"it served 2 connections \(max_serves\)$", stream="err")
            assert curl("-s", "-o", "/dev/null", "-w", "%{http_code}",
                        f"http://127.0.0.1:{admin}/api/v1/tunnels").stdout == "401"
            r = asyncio.run(call(("127.0.0.1", admin), "GET", "/api/v1/tunnels", token=ADMIN))
            assert r.json() == {"tunnels": []}
            assert client.p.poll() is None  # the client stays up (it could still hold other tunnels)
        server.stop()
    svc.close()


def test_control_plane_mistakes_exit_with_one_line():
    for args, msg in [
        (["serve", "--admin", "127.0.0.1:0"], "--admin needs --admin-token"),
        (["serve", "--admin", "0.0.0.0:0", "--admin-open"], "only on a loopback address"),
        (["serve", "--admin-open"], "need --admin HOST:PORT"),
        (["serve", "--admin", "127.0.0.1:x", "--admin-open"], "is not a number"),
        (["expose", "3000", "--server", "127.0.0.1:1", "--expire", "soon"], "--expire 'soon': want a duration"),
        (["expose", "3000", "--server", "127.0.0.1:1", "--max-conns", "-1"], "--max-conns"),
    ]:
        r = run(args)
        assert r.returncode == 2, (args, r)
        assert msg in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)
    taken = free_port()
    ctrl = free_port()
    with Proc(server_args(ctrl, free_range(), "--token", TOKEN, "--admin", f"127.0.0.1:{taken}",
                          "--admin-open"), {}) as first:
        first.wait_line("admin API and dashboard")
        r = run(server_args(free_port(), free_range(), "--token", TOKEN, "--admin", f"127.0.0.1:{taken}",
                            "--admin-open"))
        assert r.returncode == 1 and f"cannot listen on 127.0.0.1:{taken} (--admin)" in r.stderr
        assert "Traceback" not in r.stderr
        first.stop()
