"""Where a round trip through the TCP tunnel goes: syscalls and CPU per round trip.

Usage: ``python -m benchmarks.roundtrip [--count N]`` (strace for the syscall
counts: ``apt-get install strace``; without it, only the CPU figures).

The same setup as the end-to-end benchmarks (``e2e.setup``: the echo
service, ``fasttun serve`` and ``fasttun expose`` on 127.0.0.1, no TLS), and
the same 64-byte echo round trips on one connection as ``e2e.rtt``
(``e2e.echo_round_trips``). It
prints, per round trip:

* the wall time (p50), and each tunnel process's CPU time (user and
  system) over *count* round trips;
* with ``strace -c -f`` attached to both tunnel processes during a second
  series: each process's syscalls per round trip, by name.  Under strace the
  round trips are slower; the counts are what matters.

A relay's floor is one ``epoll_wait``, one ``read`` and one ``write`` per
direction per process: 6 per round trip for each tunnel process.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import tempfile
import time

from .e2e import cpu_times, echo_round_trips, setup


def _strace_counts(path: str) -> dict[str, int]:
    calls: dict[str, int] = {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            # "% time  seconds  usecs/call  calls  [errors]  syscall"
            if len(parts) >= 5 and re.fullmatch(r"[\d.]+", parts[0]) and parts[-1] != "total":
                calls[parts[-1]] = int(parts[3])
    return calls


def run(count: int) -> str:
    lines = []
    with setup() as (_, public, pids):
        echo_round_trips(public, 200)
        before = [cpu_times(pid) for pid in pids]
        times = echo_round_trips(public, count)
        after = [cpu_times(pid) for pid in pids]
        lines.append(f"{count} round trips of 64 bytes: p50 {statistics.median(times) * 1e6:.0f} µs")
        for name, (u0, s0), (u1, s1) in zip(("server", "client"), before, after):
            lines.append(f"  {name}: CPU {(u1 - u0 + s1 - s0) / count * 1e6:.1f} µs per round trip "
                         f"(user {(u1 - u0) / count * 1e6:.1f}, system {(s1 - s0) / count * 1e6:.1f})")
        strace = shutil.which("strace")
        if strace is None:
            lines.append("  (no strace: syscall counts skipped)")
            return "\n".join(lines)
        with tempfile.TemporaryDirectory(prefix="fasttun-roundtrip-") as tmp:
            outs = [os.path.join(tmp, f"{name}.txt") for name in ("server", "client")]
            traces = [subprocess.Popen([strace, "-c", "-f", "-p", str(pid), "-o", out], stderr=subprocess.DEVNULL)
                      for pid, out in zip(pids, outs)]
            time.sleep(1.0)  # (strace attaches)
            traced = echo_round_trips(public, count)
            for t in traces:
                t.send_signal(signal.SIGINT)
                t.wait(timeout=30)
            lines.append(f"under strace: p50 {statistics.median(traced) * 1e6:.0f} µs")
            for name, out in zip(("server", "client"), outs):
                calls = _strace_counts(out)
                # (the 50 warm-up round trips of the series are traced too)
                n = count + 50
                top = sorted(((k, v) for k, v in calls.items() if v / n >= 0.01), key=lambda kv: -kv[1])[:6]
                lines.append(f"  {name}: {sum(calls.values()) / n:.2f} syscalls per round trip: "
                             + ", ".join(f"{k} {v / n:.2f}" for k, v in top))
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.roundtrip", description=__doc__.split("\n\n")[0])
    p.add_argument("--count", type=int, default=5000)
    p.add_argument("--out", help="write the figures to this file too")
    args = p.parse_args()
    text = run(args.count)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(f"python -m benchmarks.roundtrip --count {args.count}\n{text}\n")


if __name__ == "__main__":
    main()
