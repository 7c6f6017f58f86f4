#!/usr/bin/env python3
"""tunnelbench wrapper: fasttun with the WebSocket carrier on the harness's control port.

Give it as the ``bin`` of a fasttun setup, with the usual --server-cmd and
--client-cmd: ``serve --listen H:P`` becomes ``serve --listen H:0 --ws-listen H:P``
and ``expose --server H:P`` becomes ``expose --server ws://H:P/.fasttun``, so that
one harness run compares the two carriers (benchmarks/README.md)."""
import os
import shutil
import sys

args = sys.argv[1:]
out = []
i = 0
while i < len(args):
    a = args[i]
    if args[0] == "serve" and a == "--listen":
        host, _, port = args[i + 1].rpartition(":")
        out += ["--listen", f"{host}:0", "--ws-listen", f"{host}:{port}"]
        i += 2
        continue
    if args[0] == "expose" and a == "--server":
        out += ["--server", f"ws://{args[i + 1]}/.fasttun"]
        i += 2
        continue
    out.append(a)
    i += 1
exe = shutil.which("fasttun") or sys.exit("fasttun is not on PATH")
os.execv(exe, [exe] + out)
