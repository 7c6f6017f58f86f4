"""The command line, as real ``fasttun`` processes on 127.0.0.1.

Run for the compiled core and its twin (FASTTUN_NO_EXTENSIONS=1), on uvloop
and on stdlib asyncio (FASTTUN_LOOP=asyncio).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from ..support import free_port, free_range, pattern, thread_service

TOKEN = "cli-token"
ENVS = [
    pytest.param({}, id="c-uvloop"),
    pytest.param({"FASTTUN_LOOP": "asyncio"}, id="c-asyncio"),
    pytest.param({"FASTTUN_NO_EXTENSIONS": "1"}, id="py-uvloop"),
    pytest.param({"FASTTUN_NO_EXTENSIONS": "1", "FASTTUN_LOOP": "asyncio"}, id="py-asyncio"),
]


class Proc:
    """A fasttun process whose stdout and stderr lines are collected."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **env}
        full_env.pop("FASTTUN_TOKEN", None)
        full_env.pop("FASTTUN_SERVER", None)
        self.p = subprocess.Popen([sys.executable, "-m", "fasttun", *args], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env=full_env)
        self.out: list[str] = []
        self.err: list[str] = []
        for stream, sink in ((self.p.stdout, self.out), (self.p.stderr, self.err)):
            threading.Thread(target=self._drain, args=(stream, sink), daemon=True).start()

    @staticmethod
    def _drain(stream, sink) -> None:
        for line in stream:
            sink.append(line.rstrip("\n"))

    def wait_line(self, pattern: str, timeout: float = 10, stream: str = "out") -> re.Match:
        lines = self.out if stream == "out" else self.err
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(lines):
                m = re.search(pattern, line)
                if m:
                    return m
            if self.p.poll() is not None and time.monotonic() > deadline - timeout + 0.5:
                time.sleep(0.1)
            time.sleep(0.02)
        raise AssertionError(f"no line matching {pattern!r}; out={self.out!r} err={self.err!r}")

    def stop(self, sig: int = signal.SIGINT, timeout: float = 10) -> int:
        if self.p.poll() is None:
            self.p.send_signal(sig)
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            raise AssertionError(f"process did not exit on {sig}; err={self.err!r}")

    def __enter__(self) -> "Proc":
        return self

    def __exit__(self, *exc: object) -> None:
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


def run(args: list[str], env: dict[str, str] | None = None, timeout: float = 20) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    full_env.pop("FASTTUN_TOKEN", None)
    full_env.pop("FASTTUN_SERVER", None)
    return subprocess.run([sys.executable, "-m", "fasttun", *args], capture_output=True, text=True,
                          timeout=timeout, env=full_env)


def echo_service() -> tuple[int, socket.socket]:
    return thread_service(_echo)


def _echo(conn: socket.socket) -> None:
    with conn:
        while data := conn.recv(65536):
            conn.sendall(data)


def echo_through(port: int, data: bytes, timeout: float = 10) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        got = bytearray()
        t = threading.Thread(target=lambda: s.sendall(data) or s.shutdown(socket.SHUT_WR))
        t.start()
        while chunk := s.recv(1 << 20):
            got.extend(chunk)
        t.join()
        return bytes(got)


def server_args(ctrl: int, ports: tuple[int, int], *extra: str) -> list[str]:
    return ["serve", "--listen", f"127.0.0.1:{ctrl}", "--public-host", "127.0.0.1",
            "--ports", f"{ports[0]}-{ports[1]}", *extra]


@pytest.fixture(params=ENVS)
def env(request):
    return request.param


def test_serve_expose_echo_and_summary(env):
    svc_port, svc = echo_service()
    ctrl, ports = free_port(), free_range()
    with Proc(server_args(ctrl, ports, "--token", TOKEN), env) as server:
        server.wait_line(r"listening")
        with Proc(["expose", str(svc_port), "--server", f"127.0.0.1:{ctrl}", "--token", TOKEN], env) as client:
            m = client.wait_line(rf"^tcp://127\.0\.0\.1:(\d+) -> localhost:{svc_port}$")
            public = int(m.group(1))
            assert ports[0] <= public <= ports[1]
            data = pattern(3 << 20)
            assert echo_through(public, data) == data
            assert client.stop() == 0
            client.wait_line(r"stopped; uptime \d+ s, 1 streams", stream="err")
        # the client unregistered: the port is free at once
        server.wait_line(rf"public port {public} closed", stream="err")
        assert server.stop(signal.SIGTERM) == 0
        server.wait_line(r"SIGTERM: stopped; uptime", stream="err")
    svc.close()


def test_generated_token_and_ready_command(env):
    ctrl = free_port()
    with Proc(["serve", "--listen", f"127.0.0.1:{ctrl}"], env) as server:
        token = server.wait_line(r"^token \(generated\): (\S+)$").group(1)
        fp = server.wait_line(r"^certificate SHA-256 \(self-signed.*\): ([0-9a-f]{64})$").group(1)
        cmd = server.wait_line(r"fasttun expose 3000 --server \S+:(\d+) --token (\S+) --fingerprint (\S+)$")
        assert cmd.group(1) == str(ctrl) and cmd.group(2) == token and cmd.group(3) == fp
        server.stop()


def test_routes_several_mappings(env):
    a_port, a = echo_service()
    b_port, b = echo_service()
    ctrl, ports = free_port(), free_range()
    with Proc(server_args(ctrl, ports, "--token", TOKEN), env) as server:
        server.wait_line("listening")
        wanted = ports[0] + 3
        with Proc(["expose", "--server", f"127.0.0.1:{ctrl}", "--token", TOKEN,
                   "-r", f"localhost:{a_port}-{wanted}", "-r", f"127.0.0.1:{b_port}-0"], env) as client:
            client.wait_line(rf"^tcp://127\.0\.0\.1:{wanted} -> localhost:{a_port}$")
            other = int(client.wait_line(rf"^tcp://127\.0\.0\.1:(\d+) -> 127\.0\.0\.1:{b_port}$").group(1))
            assert echo_through(wanted, b"to a") == b"to a"
            assert echo_through(other, b"to b") == b"to b"
    a.close()
    b.close()


def test_user_mistakes_clear_errors(env):
    ctrl, ports = free_port(), free_range()
    # bad flag values: exit 2, one line, no traceback
    for args, msg in [
        (["serve", "--ports", "9-1"], "--ports 9-1"),
        (["serve", "--listen", "127.0.0.1:http"], "is not a number"),
        (["expose", "3000"], "--server HOST:PORT is required"),
        (["expose", "nope", "--server", "127.0.0.1:1"], "has no port"),
        (["expose", "--server", "x:1", "-r", "3000"], "want LOCAL-REMOTE"),
        (["expose", "--server", "127.0.0.1:1"], "nothing to expose"),
        (["serve", "--bogus"], "unrecognized arguments"),
        (["serve", "--max-pending", "0"], "--max-pending must be at least 1"),
        (["expose", "3000", "--server", "127.0.0.1:1", "--connect-timeout", "0"], "--connect-timeout 0.0: want"),
    ]:
        r = run(args, env)
        assert r.returncode == 2, (args, r)
        assert msg in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)
    # unreachable server
    r = run(["expose", "3000", "--server", f"127.0.0.1:{free_port()}", "--token", "t"], env)
    assert r.returncode == 1 and "cannot reach the tunnel server" in r.stderr and "Traceback" not in r.stderr
    with Proc(server_args(ctrl, ports, "--token", TOKEN), env) as server:
        server.wait_line("listening")
        srv = f"127.0.0.1:{ctrl}"
        r = run(["expose", "3000", "--server", srv, "--token", "wrong"], env)
        assert r.returncode == 1 and "refused the token" in r.stderr and "Traceback" not in r.stderr
        server.wait_line(r"authentication failed from 127\.0\.0\.1", stream="err")
        r = run(["expose", "3000", "--server", srv, "--token", TOKEN, "--remote-port", str(ports[1] + 1)], env)
        assert r.returncode == 1 and "outside the range" in r.stderr and "Traceback" not in r.stderr
        # port held by another client
        with Proc(["expose", "3000", "--server", srv, "--token", TOKEN, "--remote-port", str(ports[0])], env) as a:
            a.wait_line(rf":{ports[0]} -> ")
            r = run(["expose", "3001", "--server", srv, "--token", TOKEN, "--remote-port", str(ports[0])], env)
            assert r.returncode == 1 and "in use by another client" in r.stderr
        # cannot listen: the control port is taken by the running server
        r = run(server_args(ctrl, ports, "--token", TOKEN), env)
        assert r.returncode == 1 and "cannot listen" in r.stderr and "Traceback" not in r.stderr


def test_heartbeat_loss_frees_ports(env):
    """A client frozen with SIGSTOP loses its ports within the heartbeat timeout."""
    ctrl, ports = free_port(), free_range()
    args = server_args(ctrl, ports, "--token", TOKEN, "--heartbeat-interval", "0.3", "--heartbeat-timeout", "1.2")
    with Proc(args, env) as server:
        server.wait_line("listening")
        srv = f"127.0.0.1:{ctrl}"
        with Proc(["expose", "3000", "--server", srv, "--token", TOKEN, "--remote-port", str(ports[0])], env) as a:
            a.wait_line(rf":{ports[0]} -> ")
            a.p.send_signal(signal.SIGSTOP)
            try:
                t0 = time.monotonic()
                server.wait_line(rf"public port {ports[0]} closed", timeout=10, stream="err")
                assert time.monotonic() - t0 < 5
                server.wait_line("no heartbeat from", stream="err")
                # the port can be taken by another client now
                with Proc(["expose", "3001", "--server", srv, "--token", TOKEN, "--remote-port", str(ports[0])],
                          env) as b:
                    b.wait_line(rf":{ports[0]} -> ")
            finally:
                a.p.send_signal(signal.SIGCONT)


def test_server_restart_reconnects(env):
    svc_port, svc = echo_service()
    ctrl, ports = free_port(), free_range()
    srv_args = server_args(ctrl, ports, "--token", TOKEN)
    with Proc(srv_args, env) as server:
        server.wait_line("listening")
        with Proc(["expose", str(svc_port), "--server", f"127.0.0.1:{ctrl}", "--token", TOKEN], env) as client:
            public = int(client.wait_line(r"^tcp://127\.0\.0\.1:(\d+) ->").group(1))
            assert echo_through(public, b"before") == b"before"
            server.p.kill()  # no goodbye
            server.p.wait()
            client.wait_line("lost the tunnel server", stream="err")
            with Proc(srv_args, env) as server2:
                server2.wait_line("listening")
                client.wait_line("reconnected", timeout=20, stream="err")
                # the same public port comes back
                deadline = time.monotonic() + 10
                while sum(1 for line in client.out if f":{public} ->" in line) < 2:
                    assert time.monotonic() < deadline, client.out
                    time.sleep(0.05)
                assert echo_through(public, b"after") == b"after"
    svc.close()


def test_no_reconnect_exits(env):
    ctrl, ports = free_port(), free_range()
    with Proc(server_args(ctrl, ports, "--token", TOKEN), env) as server:
        server.wait_line("listening")
        with Proc(["expose", "3000", "--server", f"127.0.0.1:{ctrl}", "--token", TOKEN, "--no-reconnect"],
                  env) as client:
            client.wait_line(r"^tcp://")
            server.stop(signal.SIGTERM)
            assert client.p.wait(10) == 1
            client.wait_line("lost the tunnel server", stream="err")
            assert not any("Traceback" in line for line in client.err)


def test_version_and_help():
    r = run(["--version"])
    assert r.returncode == 0 and r.stdout.startswith("fasttun ")
    import fasttun

    core = "compiled core" if fasttun.IMPLEMENTATION == "c" else "pure-Python core"
    assert re.fullmatch(rf"fasttun {re.escape(fasttun.__version__)}: {core}.*, (uvloop [\d.]+|asyncio event loop.*), "
                        r"Python 3\.\d+\.\d+\n", r.stdout), r.stdout
    r = run(["serve", "--version"], {"FASTTUN_NO_EXTENSIONS": "1", "FASTTUN_LOOP": "asyncio"})
    assert r.stdout.startswith(f"fasttun {fasttun.__version__}: pure-Python core (FASTTUN_NO_EXTENSIONS), "
                               "asyncio event loop (FASTTUN_LOOP), Python 3.")
    for sub in ("serve", "expose"):
        r = run([sub, "--help"])
        assert r.returncode == 0
        for flag in ("--verbose", "--quiet", "--version", "--buffer-size"):
            assert flag in r.stdout
    r = subprocess.run(["fasttun", "--version"], capture_output=True, text=True)
    assert r.returncode == 0


def test_config_file_clients_and_ranges(env, tmp_path):
    ctrl = free_port()
    a_low, a_high = free_range(10)
    b_low, b_high = free_range(10)
    conf = tmp_path / "server.toml"
    conf.write_text(f'''
listen = "127.0.0.1:1"          # overridden by the flag below
public_host = "127.0.0.1"
[[clients]]
name = "alice"
token = "alice-secret"
ports = "{a_low}-{a_high}"
[[clients]]
name = "bob"
token = "bob-secret"
ports = [{b_low}, {b_high}]
''')
    svc_port, svc = echo_service()
    with Proc(["serve", "--config", str(conf), "--listen", f"127.0.0.1:{ctrl}"], env) as server:
        server.wait_line(r"2 clients from .*alice \(\d+-\d+\), bob")
        srv = f"127.0.0.1:{ctrl}"
        with Proc(["expose", str(svc_port), "--server", srv, "--token", "alice-secret"], env) as alice:
            port = int(alice.wait_line(r"^tcp://127\.0\.0\.1:(\d+) ->").group(1))
            assert a_low <= port <= a_high
            assert echo_through(port, b"alice") == b"alice"
            server.wait_line("account alice", stream="err")
            # alice may not open a port in bob's range
            r = run(["expose", "3000", "--server", srv, "--token", "alice-secret", "--remote-port", str(b_low)], env)
            assert r.returncode == 1 and f"allows this client ({a_low}-{a_high})" in r.stderr
        with Proc(["expose", str(svc_port), "--server", srv, "--token", "bob-secret"], env) as bob:
            port = int(bob.wait_line(r"^tcp://127\.0\.0\.1:(\d+) ->").group(1))
            assert b_low <= port <= b_high
    svc.close()


def test_config_file_mistakes(env, tmp_path):
    cases = {
        "bogus = 1\n": "unknown option 'bogus'",
        "max_clients = \"many\"\n": "max_clients = 'many': want a int",
        "max_pending = 0\n": "--max-pending must be at least 1",
        "[[clients]]\nname = \"x\"\nports = \"1-2\"\n": "clients[0]: give a token or a key",
        "listen = \n": "not valid TOML",
    }
    for text, msg in cases.items():
        conf = tmp_path / "bad.toml"
        conf.write_text(text)
        r = run(["serve", "--config", str(conf)], env)
        assert r.returncode == 2 and msg in r.stderr and "Traceback" not in r.stderr, (text, r.stderr)
    r = run(["serve", "--config", str(tmp_path / "missing.toml")], env)
    assert r.returncode == 2 and "No such file" in r.stderr
