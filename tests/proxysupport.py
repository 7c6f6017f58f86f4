"""A real HTTP CONNECT proxy for tests: tinyproxy (apt-get install tinyproxy),
started in the foreground on a free port with a generated configuration."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

TINYPROXY = shutil.which("tinyproxy") or ("/usr/bin/tinyproxy" if os.path.exists("/usr/bin/tinyproxy") else None)


class Tinyproxy:
    """tinyproxy on 127.0.0.1:*port*.  *auth*: (user, password) it demands;
    *connect_ports*: the only ports it lets CONNECT reach (None: any)."""

    def __init__(self, port: int, auth: tuple[str, str] | None = None, connect_ports: list[int] | None = None) -> None:
        assert TINYPROXY, "tinyproxy is required (apt-get install tinyproxy); .ci/run installs it"
        self.port = port
        self.tmp = tempfile.mkdtemp(prefix="fasttun-tinyproxy-")
        os.chmod(self.tmp, 0o755)
        lines = [f"Port {port}", "Listen 127.0.0.1", "Timeout 600", "MaxClients 200", "Allow 127.0.0.1",
                 f"PidFile \"{self.tmp}/tinyproxy.pid\"", f"LogFile \"{self.tmp}/tinyproxy.log\"", "LogLevel Info",
                 "DisableViaHeader Yes"]
        if os.geteuid() == 0:
            lines += ["User nobody", "Group nogroup"]
        if auth is not None:
            lines.append(f"BasicAuth {auth[0]} {auth[1]}")
        for p in connect_ports or ():
            lines.append(f"ConnectPort {p}")
        self.conf = os.path.join(self.tmp, "tinyproxy.conf")
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        os.chmod(self.tmp, 0o777)  # it writes its log there as nobody
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        try:
            with open(os.path.join(self.tmp, "tinyproxy.log")) as f:
                return f.read()
        except OSError:
            return ""

    def connects(self) -> int:
        """CONNECT requests it has received."""
        return self.log().count("): CONNECT ")

    def start(self) -> "Tinyproxy":
        self.proc = subprocess.Popen([TINYPROXY, "-d", "-c", self.conf], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                if self.proc.poll() is not None:
                    raise AssertionError(f"tinyproxy exited: {self.proc.stderr.read()!r}")  # type: ignore[union-attr]
                time.sleep(0.05)
        raise AssertionError("tinyproxy did not listen")

    def close(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> "Tinyproxy":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
