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
