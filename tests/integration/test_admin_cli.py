"""The control plane from the command line: ``serve --admin``, curl against
the API and /metrics, ``expose`` limits and how the client says a tunnel
closed, and the mistakes that must exit with one clear line."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time

from tests.adminsupport import call, sample, samples

from ..support import free_port, free_range
from .test_cli import TOKEN, Proc, echo_service, echo_through, run, server_args

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


def test_config_files_tunnels_limits_and_admin(tmp_path):
    svc_port, svc = echo_service()
    ctrl, ports, admin, http_port = free_port(), free_range(), free_port(), free_port()
    serve = tmp_path / "serve.toml"
    serve.write_text(f'admin = "127.0.0.1:{admin}"\nadmin_token = "{ADMIN}"\nhttp_port = {http_port}\n'
                     f'domain = "tunnel.test"\ntoken = "{TOKEN}"\n')
    expose = tmp_path / "expose.toml"
    expose.write_text(f'server = "127.0.0.1:{ctrl}"\ntoken = "{TOKEN}"\n'
                      f'[[tunnels]]\nlocal = "{svc_port}"\nmax_conns = 3\nexpire = "2h"\n'
                      f'[[tunnels]]\nlocal = "{svc_port}"\ntype = "http"\nsubdomain = "cfg"\nmax_serves = 9\n')
    with Proc(server_args(ctrl, ports, "--config", str(serve)), {}) as server:
        server.wait_line(rf"admin API and dashboard on http://127\.0\.0\.1:{admin}/")
        with Proc(["expose", "--config", str(expose)], {}) as client:
            client.wait_line(rf"^tcp://127\.0\.0\.1:\d+ -> localhost:{svc_port}$")
            client.wait_line(rf"^http://cfg\.tunnel\.test:{http_port} -> localhost:{svc_port}$")
            r = asyncio.run(call(("127.0.0.1", admin), "GET", "/api/v1/tunnels", token=ADMIN))
            limits = {t["kind"]: t["limits"] for t in r.json()["tunnels"]}
            assert limits["tcp"]["max_conns"] == 3 and 7100 < limits["tcp"]["expires"] - time.time() <= 7200
            assert limits["http"] == {"max_conns": None, "max_serves": 9, "expires": None}
        server.stop()
    bad = tmp_path / "bad.toml"
    for text, msg in [('[[tunnels]]\nlocal = "1"\ntype = "udp"\n', "type = 'udp'"),
                      ('[[tunnels]]\nlocal = "1"\nexpire = "later"\n', "want a duration"),
                      ('[[tunnels]]\nlocal = "1"\n[[routes]]\nlocal = "2"\n', "use [[tunnels]]")]:
        bad.write_text(f'server = "127.0.0.1:1"\n{text}')
        r = run(["expose", "--config", str(bad)])
        assert r.returncode == 2 and msg in r.stderr and "Traceback" not in r.stderr, r.stderr
    svc.close()


def test_expose_inspect_records_and_adds_tunnels():
    from .test_http_cli import hello_service

    port, srv = hello_service()
    echo_port, echo = echo_service()
    ctrl, ports, http_port, inspect = free_port(), free_range(), free_port(), free_port()
    with Proc(server_args(ctrl, ports, "--token", TOKEN, "--http-port", str(http_port), "--domain", "tunnel.test"),
              {}) as server:
        server.wait_line("listening")
        base = ["expose", str(port), "--http", "--subdomain", "cli", "--server", f"127.0.0.1:{ctrl}",
                "--token", TOKEN]
        with Proc(base + ["--inspect", f"127.0.0.1:{inspect}"], {}) as client:
            client.wait_line(rf"^inspector on http://127\.0\.0\.1:{inspect}/$")
            client.wait_line(rf"^http://cli\.tunnel\.test:{http_port} -> localhost:{port}$")
            r = curl("--resolve", f"cli.tunnel.test:{http_port}:127.0.0.1", f"http://cli.tunnel.test:{http_port}/hi")
            assert r.stdout.startswith("hello /hi")
            recs = json.loads(curl(f"http://127.0.0.1:{inspect}/api/requests").stdout)["requests"]
            assert [(x["path"], x["status"]) for x in recs] == [("/hi", 200)]
            assert ["User-Agent", f"curl/{curl('--version').stdout.split()[1]}"] in recs[0]["request"]["headers"]
            r = curl("-X", "POST", "-H", "Content-Type: application/json", "-d", f'{{"local": "{echo_port}"}}',
                     f"http://127.0.0.1:{inspect}/api/tunnels")
            added = json.loads(r.stdout)
            client.wait_line(rf"^tcp://127\.0\.0\.1:{added['remote_port']} -> localhost:{echo_port}$")
            assert echo_through(added["remote_port"], b"hello" * 1000) == b"hello" * 1000
            # The port is taken now: asked for explicitly, that is an error.
            r = run(base + ["--inspect", f"127.0.0.1:{inspect}", "--subdomain", "other"])
            assert r.returncode == 1 and f"cannot listen on 127.0.0.1:{inspect} (--inspect)" in r.stderr
            assert "Traceback" not in r.stderr
            assert client.stop() == 0  # says goodbye: its name is free at once
        with Proc(base + ["--inspect", "off"], {}) as client:
            client.wait_line(rf"^http://cli\.tunnel\.test:{http_port} -> ")
            assert not any("inspector" in line for line in client.out + client.err)
            client.stop()
        r = run(base + ["--inspect", "0.0.0.0:4040"])
        assert r.returncode == 2 and "loopback" in r.stderr and "Traceback" not in r.stderr
        server.stop()
    srv.close()
    echo.close()


def test_serve_hook_url_refuses_and_allows():
    import http.server
    import threading

    events = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            event = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            events.append(event)
            answer = {"allow": not (event["event"] == "tunnel" and event["port"] == 0), "reason": "pick a port"}
            body = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    hook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    svc_port, svc = echo_service()
    ctrl, ports = free_port(), free_range()
    url = f"http://127.0.0.1:{hook.server_address[1]}/hook"
    try:
        with Proc(server_args(ctrl, ports, "--token", TOKEN, "--hook-url", url, "--hook-timeout", "2"), {}) as server:
            server.wait_line("listening")
            base = ["expose", str(svc_port), "--server", f"127.0.0.1:{ctrl}", "--token", TOKEN, "--inspect", "off"]
            r = run(base)
            assert r.returncode == 1 and "refused by the server: pick a port" in r.stderr, r.stderr
            with Proc(base + ["--remote-port", str(ports[0])], {}) as client:
                client.wait_line(rf"^tcp://127\.0\.0\.1:{ports[0]} -> ")
                assert echo_through(ports[0], b"through the hook") == b"through the hook"
                client.stop()
            deadline = time.monotonic() + 5
            while not (events and events[-1]["event"] == "close") and time.monotonic() < deadline:
                time.sleep(0.02)
            server.stop()
        assert [e["event"] for e in events] == ["login", "tunnel", "login", "tunnel", "connect", "close"]
        assert events[-1]["reason"] == "the client left" and events[4]["visitor"].startswith("127.0.0.1:")
    finally:
        hook.shutdown()
        svc.close()
    for args, msg in ((["serve", "--hook-url", "ftp://x/"], "--hook-url 'ftp://x/'"),
                      (["serve", "--hook-url", "http://x/", "--hook-timeout", "0"], "--hook-timeout 0")):
        r = run(args)
        assert r.returncode == 2 and msg in r.stderr and "Traceback" not in r.stderr, r.stderr
