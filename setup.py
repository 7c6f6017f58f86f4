"""Build of fasttun's compiled core (see STYLE: asyncpg's setup.py).

FASTTUN_NO_EXTENSIONS=1   install without compiling (pure-Python twins only)
FASTTUN_DEBUG=1           compile with assertions and line tracing

Without a working C compiler (or without Cython), the build warns once and
installs the pure-Python twins, as aiohttp does: fasttun works, slower, and
``fasttun --version`` says which core is in use.
"""

import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext as _build_ext

NO_EXTENSIONS = bool(os.environ.get("FASTTUN_NO_EXTENSIONS"))
DEBUG = bool(os.environ.get("FASTTUN_DEBUG"))

# Extension module -> its source.  visitor_c.py is a link to visitor_py.py,
# _heads_c.py to _heads.py, tap_c.py to tap.py, _console_c.py to _console.py and
# aio/_stream_c.py to aio/_stream.py,
# each compiled with its augmenting .pxd (the twin and the compiled module are
# one source).
SOURCES = {
    "fasttun._core.buffers_c": "fasttun/_core/buffers_c.pyx",
    "fasttun._core.frames_c": "fasttun/_core/frames_c.pyx",
    "fasttun._core.mux_c": "fasttun/_core/mux_c.pyx",
    "fasttun._core.httpbody_c": "fasttun/_core/httpbody_c.pyx",
    "fasttun._core.httphead_c": "fasttun/_core/httphead_c.pyx",
    "fasttun.http._heads_c": "fasttun/http/_heads_c.py",
    "fasttun.http.visitor_c": "fasttun/http/visitor_c.py",
    "fasttun.http.tap_c": "fasttun/http/tap_c.py",
    "fasttun.http._console_c": "fasttun/http/_console_c.py",
    "fasttun.aio._stream_c": "fasttun/aio/_stream_c.py",
}


FALLBACK_WARNING = """
*********************************************************************
WARNING: fasttun's compiled core could not be built ({why}).
Installing the pure-Python twins instead: fasttun works, but slower.
Install a C compiler and the Python headers, then reinstall, for speed.
*********************************************************************
"""


class build_ext(_build_ext):
    user_options = _build_ext.user_options + [
        ("cython-always", None, "run cythonize() even if .c files are present"),
        ("cython-annotate", None, "produce a colorized HTML version of the Cython source"),
        ("cython-directives=", None, "Cython compiler directives"),
    ]

    def initialize_options(self):
        super().initialize_options()
        self.cython_always = False
        self.cython_annotate = False
        self.cython_directives = None

    def finalize_options(self):
        if not self.distribution.ext_modules:
            return super().finalize_options()
        try:
            from Cython.Build import cythonize
        except ImportError as exc:
            self._fall_back(f"Cython is missing: {exc}")
            return super().finalize_options()

        directives = {"language_level": "3", "embedsignature": True}
        if DEBUG:
            directives.update(linetrace=True, boundscheck=True, wraparound=True)
        if self.cython_directives:
            for item in self.cython_directives.split(","):
                k, _, v = item.partition("=")
                directives[k.strip()] = v.strip()
        self.distribution.ext_modules[:] = cythonize(
            self.distribution.ext_modules,
            compiler_directives=directives,
            annotate=self.cython_annotate,
            force=self.cython_always,
        )
        super().finalize_options()

    def run(self):
        try:
            super().run()
        except Exception as exc:  # CompileError, LinkError, a missing or broken compiler
            if os.environ.get("FASTTUN_REQUIRE_EXTENSIONS"):
                raise
            self._fall_back(f"{type(exc).__name__}: {exc}")

    def _fall_back(self, why):
        if os.environ.get("FASTTUN_REQUIRE_EXTENSIONS"):
            raise RuntimeError(f"FASTTUN_REQUIRE_EXTENSIONS is set and the build failed: {why}")
        sys.stderr.write(FALLBACK_WARNING.format(why=why))
        self.distribution.ext_modules[:] = []
        self.extensions = []


def extensions():
    if NO_EXTENSIONS:
        return []
    cflags = ["-O2"] if not DEBUG else ["-O0", "-g", "-DCYTHON_TRACE=1"]
    return [Extension(name, [source], extra_compile_args=cflags) for name, source in SOURCES.items()]


setup(ext_modules=extensions(), cmdclass={"build_ext": build_ext})
