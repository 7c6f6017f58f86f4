"""What docs/deploy.md ships: the systemd units pass ``systemd-analyze
verify`` with nothing to say, and the Dockerfile's build steps (its pip
commands, run here in venvs: this machine has no container engine) give a
fasttun with its compiled core that serves."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"


def test_systemd_units_verify(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    fasttun = shutil.which("fasttun") or sys.executable
    units = []
    for name, as_name in (("fasttun-serve.service", "fasttun-serve.service"),
                          ("fasttun-expose@.service", "fasttun-expose@demo.service")):
        text = (DEPLOY / name).read_text()
        assert "ExecStart=/usr/local/bin/fasttun " in text and "DynamicUser=yes" in text
        assert "NoNewPrivileges=yes" in text and "ProtectSystem=strict" in text and "Restart=on-failure" in text
        assert "EnvironmentFile=/etc/fasttun/" in text and "--token" not in text  # the token is never an argument
        # verify wants the executable to exist: point it at this one
        (tmp_path / as_name).write_text(text.replace("/usr/local/bin/fasttun", fasttun))
        units.append(str(tmp_path / as_name))
    r = subprocess.run([analyze, "verify", *units], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and not r.stdout.strip() and not r.stderr.strip(), r.stdout + r.stderr
    # A broken unit is noticed (the check can fail).
    bad = tmp_path / "fasttun-bad.service"
    bad.write_text(Path(units[0]).read_text().replace("Restart=on-failure", "Restart=sometimes"))
    r = subprocess.run([analyze, "verify", str(bad)], capture_output=True, text=True, timeout=60)
    assert "restart specifier" in r.stdout + r.stderr


def _pip_steps() -> tuple[str, str]:
    text = (DEPLOY / "Dockerfile").read_text()
    wheel = re.search(r"^RUN (pip wheel [^\n]+)$", text, re.M)
    install = re.search(r"^RUN (pip install [^&\n]+?)(?: &&|\\|$)", text, re.M)
    assert wheel and install, "the Dockerfile's pip steps changed: update this test"
    return wheel.group(1), install.group(1).strip()


@pytest.mark.timeout(600)
def test_dockerfile_build_steps_in_a_venv(tmp_path):
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: the steps build the committed tree")
    wheel_cmd, install_cmd = _pip_steps()
    src, wheels = tmp_path / "src", tmp_path / "wheels"
    src.mkdir()
    archive = subprocess.run(["git", "archive", "HEAD"], cwd=ROOT, stdout=subprocess.PIPE, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(src)], input=archive, check=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "FASTTUN_", "PYTHON"))}
    # stage "build": pip wheel in a venv of its own
    subprocess.run([sys.executable, "-m", "venv", str(tmp_path / "build")], check=True)
    args = wheel_cmd.replace("/wheels", str(wheels)).split()
    assert args[:2] == ["pip", "wheel"] and args[-1] == "."
    subprocess.run([str(tmp_path / "build" / "bin" / "pip"), *args[1:]], cwd=src, env=env, check=True,
                   capture_output=True, timeout=500)
    assert any(p.name.startswith("fasttun-") for p in wheels.iterdir())
    # stage "run": only the wheels, no index
    subprocess.run([sys.executable, "-m", "venv", str(tmp_path / "run")], check=True)
    args = install_cmd.replace("/wheels", str(wheels)).split()
    assert args[:2] == ["pip", "install"] and "--no-index" in args
    subprocess.run([str(tmp_path / "run" / "bin" / "pip"), *args[1:]], env=env, check=True, capture_output=True,
                   timeout=300)
    bin_ = tmp_path / "run" / "bin" / "fasttun"
    version = subprocess.run([str(bin_), "--version"], capture_output=True, text=True, check=True, env=env).stdout
    assert ": compiled core, " in version, version
    # the image's command: serve with its state directory
    state = tmp_path / "state"
    proc = subprocess.Popen([str(bin_), "serve", "--state-dir", str(state), "--listen", "127.0.0.1:0",
                             "--ports", "45000-45009"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env)
    try:
        deadline = time.monotonic() + 30
        lines = []
        while time.monotonic() < deadline:
            line = proc.stdout.readline()  # type: ignore[union-attr]
            lines.append(line)
            if "listening for clients" in line:
                break
        assert any("listening for clients" in line for line in lines), lines
        assert (state / "server.crt").exists()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
