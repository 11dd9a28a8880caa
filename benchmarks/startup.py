"""Start-up cost of the command line: ``speclang check`` on a small file, as a process.

    .venv/bin/python benchmarks/startup.py [-n 15] [FILE]

Runs ``python -m speclang check FILE`` (default ``examples/door_key.spec``) ``n`` times as a
fresh subprocess of this interpreter and prints the median and best wall time and the
median CPU time (user + system: less disturbed by other work on a shared machine), next to
``python -c pass`` measured the same way: the floor no Python command can go below. The gap
between the two is what speclang itself costs to start and check a file (issue 17 asks for
``check`` within 0.25 s). The first run of each is a warm-up and not counted, so the file
system cache and lark's grammar cache are warm for every measured run.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(cmd: list[str], n: int, env: dict[str, str]) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds (user + system) of ``n`` runs."""
    subprocess.run(cmd, env=env, cwd=ROOT, check=True, capture_output=True)  # warm-up
    wall, cpu = [], []
    for _ in range(n):
        c0, t0 = _children_cpu(), time.perf_counter()
        subprocess.run(cmd, env=env, cwd=ROOT, check=True, capture_output=True)
        wall.append(time.perf_counter() - t0)
        cpu.append(_children_cpu() - c0)
    return wall, cpu


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=15, help="measured runs of each command")
    ap.add_argument("file", nargs="?", default="examples/door_key.spec")
    args = ap.parse_args()
    env = dict(os.environ)
    # the checkout's own package, as the tests run it
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="speclang-startup-pyc-")
    rows = [
        ("python -c pass", [sys.executable, "-c", "pass"]),
        (f"speclang check {args.file}", [sys.executable, "-m", "speclang", "check", args.file]),
    ]
    print(f"{'command':<44} {'median':>8} {'best':>8} {'CPU med':>8}   (n={args.n}, seconds)")
    for label, cmd in rows:
        wall, cpu = timed(cmd, args.n, env)
        print(f"{label:<44} {statistics.median(wall):>8.3f} {min(wall):>8.3f} "
              f"{statistics.median(cpu):>8.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
