"""Fuzz the command line in-process: byte/token mutations of ``examples/*.spec`` and random
formulas go through ``speclang.cli.main`` (``check``, and ``compile`` with small budgets on
what checks), counting exit codes. A traceback, an exception escaping ``main`` or exit 3
("internal error") is a failure; its input is saved under ``--out``.

    python benchmarks/fuzz_cli.py --n 2000 --seed 0              # the CI-sized profile
    python benchmarks/fuzz_cli.py --n 100000 --seed 1 --out fuzz-failures

The grammar-based generator (hypothesis ``from_lark``) runs in tests/speclang/test_fuzz.py;
this driver is the long run: plain ``random`` keeps it at a few milliseconds an input.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from speclang.cli import main  # noqa: E402

EXAMPLES = sorted((ROOT / "examples").glob("*.spec"))
PIECES = ["(", ")", "{", "}", "[", "]", ",", "!", "&", "|", "->", "<->", "U", "R", "W", "X[",
          "WX", "F[2,", "G[0,9]", "Y", "O", "H", "S", '"', "#", "//", "#pragma next = weak",
          "\n", " ", "props", "spec", "def", "import", "observe", "prop", "progression", "=",
          "<", "==", "0", "1000", "9" * 40, "\xff", "\x00", "é", "a", "Z", "G", "\\", ":",
          "..", "matches /(a+)+$/", "contains {\"x\"}", "@word", "true", "false"]
UNARY = ["!", "X ", "WX ", "F ", "G ", "Y ", "O ", "H ", "X[3] ", "F[0,4] ", "G[1,3] "]
BINARY = [" & ", " | ", " -> ", " <-> ", " U ", " R ", " W ", " S ", " xor "]


def mutate(rng: random.Random) -> bytes:
    data = bytearray(rng.choice(EXAMPLES).read_bytes())
    for _ in range(rng.randint(1, 6)):
        pos = rng.randint(0, len(data))
        kind = rng.randint(0, 3)
        if kind == 0 and data:
            del data[pos : pos + rng.randint(1, 8)]
        elif kind == 1:
            data[pos:pos] = rng.choice(PIECES).encode("utf-8", "surrogatepass")
        elif kind == 2 and data:
            data[min(pos, len(data) - 1)] = rng.randint(0, 255)
        else:
            end = min(len(data), pos + rng.randint(1, 40))
            data[pos:pos] = data[pos:end]
    return bytes(data)


def formula(rng: random.Random, depth: int) -> str:
    if depth <= 0 or rng.random() < 0.25:
        return rng.choice(["a", "b", "c", "true", "false"])
    if rng.random() < 0.4:
        return rng.choice(UNARY) + formula(rng, depth - 1)
    return "(" + formula(rng, depth - 1) + rng.choice(BINARY) + formula(rng, depth - 1) + ")"


def random_spec(rng: random.Random) -> bytes:
    body = " & ".join(formula(rng, rng.randint(1, 6)) for _ in range(rng.randint(1, 3)))
    return f"props a, b, c\nspec s {{ {body} }}\n".encode()


def run_one(path: Path, rng: random.Random, counts: Counter[str]) -> str | None:
    """Exit codes into ``counts``; the failure's description, or None."""
    calls = [["check", str(path)]]
    for argv in calls:
        out, err = io.StringIO(), io.StringIO()
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                rc = main(argv)
        except BaseException as exc:  # noqa: BLE001 - what the fuzzer is looking for
            return f"{argv[0]}: {type(exc).__name__}: {exc}"
        counts[f"{argv[0]} exit {rc}"] += 1
        text = out.getvalue() + err.getvalue()
        if rc == 3 or "Traceback" in text:
            return f"{argv[0]}: exit {rc}: {text[-500:]}"
        if argv[0] == "check" and rc == 0 and rng.random() < 0.3:
            calls.append(["compile", str(path), "--max-states", "2000", "--timeout", "2"])
    return None


def main_(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=2000, help="inputs to run")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None, help="save failing inputs here")
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)
    counts: Counter[str] = Counter()
    failures: list[dict[str, str]] = []
    slowest = 0.0
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        # Imports resolve next to the examples, so mutated files sit in a copy of examples/.
        work = Path(tmp)
        for ex in EXAMPLES:
            (work / ex.name).write_bytes(ex.read_bytes())
        path = work / "fuzz_case.spec"
        for i in range(args.n):
            data = mutate(rng) if rng.random() < 0.7 else random_spec(rng)
            path.write_bytes(data)
            t0 = time.perf_counter()
            problem = run_one(path, rng, counts)
            slowest = max(slowest, time.perf_counter() - t0)
            if problem:
                failures.append({"case": str(i), "problem": problem})
                if args.out:
                    args.out.mkdir(parents=True, exist_ok=True)
                    (args.out / f"case{i}.spec").write_bytes(data)
    summary = {"inputs": args.n, "seed": args.seed, "failures": len(failures),
               "exit_codes": dict(sorted(counts.items())),
               "seconds": round(time.perf_counter() - start, 1),
               "slowest_input_s": round(slowest, 2), "first_failures": failures[:5]}
    print(json.dumps(summary, indent=1))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main_())
