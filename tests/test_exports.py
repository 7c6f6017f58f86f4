import importlib

import fasttun


def test_top_level_exports():
    for name in fasttun.__all__:
        assert hasattr(fasttun, name), name


def test_modules_have_all():
    for mod in ("fasttun.api", "fasttun.config", "fasttun.exceptions", "fasttun.cli", "fasttun._core",
                "fasttun._core.mux_py", "fasttun._core.frames_py", "fasttun._core.buffers_py",
                "fasttun.aio.server", "fasttun.aio.client", "fasttun.aio.relay", "fasttun.aio.protocol",
                "fasttun.hooks", "fasttun.http.tap", "fasttun.admin._app", "fasttun.admin._server",
                "fasttun.admin.serverapi", "fasttun.admin.agent", "fasttun.admin.metrics", "fasttun.admin.webhook"):
        m = importlib.import_module(mod)
        for name in m.__all__:
            assert hasattr(m, name), (mod, name)


def test_public_api_reexported():
    from fasttun import api, exceptions, hooks

    for name in api.__all__ + exceptions.__all__:
        assert getattr(fasttun, name) is getattr(api if name in api.__all__ else exceptions, name)
    for name in hooks.__all__:
        assert getattr(fasttun, name) is getattr(hooks, name)


def test_runs_without_uvloop_and_orjson():
    """Where they have no wheel they are not installed: fasttun falls back to
    stdlib asyncio and json (a tunnel's CONTROL messages, the CLI)."""
    import subprocess
    import sys

    code = ("import sys; sys.modules['orjson'] = None; sys.modules['uvloop'] = None\n"
            "from fasttun.aio.protocol import dumps, loads\n"
            "assert loads(dumps({'op': 'bind', 'port': 1})) == {'op': 'bind', 'port': 1}\n"
            "from fasttun.cli import main, version_line\n"
            "assert 'asyncio event loop (uvloop is not installed)' in version_line(), version_line()\n"
            "print('ok')")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.stdout.strip() == "ok", r.stderr
