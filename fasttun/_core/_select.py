"""Decide whether the compiled modules are to be used."""

import os

NO_EXTENSIONS = bool(os.environ.get("FASTTUN_NO_EXTENSIONS"))
