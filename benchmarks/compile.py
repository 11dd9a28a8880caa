"""Compile-time benchmark: speclang's compiler against LTLf2DFA/MONA on scalable families.

    .venv/bin/python benchmarks/compile.py [--families gfand,seqF,...] [--max-n 32]
        [--max-k 64] [--repeat 3] [--mona | --no-mona] [--timeout 60] [--out results.json]

Families (n = number of propositions / conjuncts, k = bound):
    gfand     G p1 & F p2 & ... & F pn
    seqF      F(p1 & F(p2 & ... F pn))
    uright    p1 U (p2 U (... U pn))
    declare   n Declare patterns over distinct propositions, cycling through response
              G(a -> F b), precedence !b W a, not-coexistence !(F a & F b), chain response
              G(a -> X b)
    altresp   Declare alternate response over n/2 pairs (n propositions p01 .. pn, pair i =
              (p{2i-1}, p{2i})): G(a -> X(!a U b)) for each; 2**(n/2) + 1 minimal states
    altrespab the same over pairs (a_i, b_i): name order puts every a before every b, and
              the diagram tests propositions in name order (see benchmarks/README.md)
    past      pure-past safety H(p_i -> O q_i) / H(p_i -> Y q_i) alternating, n conjuncts
    pastchain pure-past chains H(a_i -> O(b_i & O c_i)), n conjuncts (3**n + 1 states)
    mixedchain the same read from the first step, G(a_i -> O(b_i & O c_i)); LTLf2DFA has
              no mixed past and future, so MONA is not run on it
    bounded   G(a -> F[0,k] b)

Every cell runs in its own subprocess with a timeout, so one blow-up cannot hang the run:
ours in-process (import, then time ``compile_formula`` only), ours as a CLI process (wall
time of ``speclang compile -f``, interpreter start included; "CLI -o" also writes the JSON
artifact with its guards and shaping potentials), and LTLf2DFA/MONA through
``benchmarks/ltlf2dfa_ref.py`` (which serialises every call under its lock). Peak memory is
the worker's maximum resident set size (``getrusage``; for MONA the ``mona`` child's). The
``match`` column compares the state counts of both minimal DFAs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# `python -m speclang` from the repository root runs this checkout's package; the venv's
# `speclang` script would run whichever checkout the venv was installed from.
SPECLANG = [sys.executable, "-m", "speclang"]
# A cell slower than this is measured once: repeating a 30 s compilation teaches nothing.
REPEAT_BELOW_S = 2.0


# --- families: (speclang text, LTLf2DFA text) ----------------------------------------------


def gfand(n: int) -> tuple[str, str]:
    text = " & ".join(["G p1", *[f"F p{i}" for i in range(2, n + 1)]])
    return text, " & ".join(["G(p1)", *[f"F(p{i})" for i in range(2, n + 1)]])


def seq_f(n: int) -> tuple[str, str]:
    text = f"F p{n}"
    for i in range(n - 1, 0, -1):
        text = f"F(p{i} & {text})"
    return text, text.replace(f"F p{n}", f"F(p{n})")


def uright(n: int) -> tuple[str, str]:
    text = f"p{n}"
    for i in range(n - 1, 0, -1):
        text = f"p{i} U ({text})" if i < n - 1 else f"p{i} U p{n}"
    return text, text


def declare(n: int) -> tuple[str, str]:
    ours, mona = [], []
    for i in range(1, n + 1):
        a, b = f"a{i}", f"b{i}"
        kind = (i - 1) % 4
        if kind == 0:  # response
            ours.append(f"G({a} -> F {b})")
            mona.append(f"G({a} -> F({b}))")
        elif kind == 1:  # precedence: no b before the first a; LTLf2DFA has no W
            ours.append(f"(!{b} W {a})")
            mona.append(f"({a} R (!{b} | {a}))")
        elif kind == 2:  # not-coexistence
            ours.append(f"!(F {a} & F {b})")
            mona.append(f"!(F({a}) & F({b}))")
        else:  # chain response
            ours.append(f"G({a} -> X {b})")
            mona.append(f"G({a} -> X({b}))")
    return " & ".join(ours), " & ".join(mona)


def _alternate_response(pairs: list[tuple[str, str]]) -> tuple[str, str]:
    # Declare's alternate response (speclang.testing.DECLARE_TEMPLATES): every a is followed
    # by a b before the next a. X is strong in both languages.
    ours = " & ".join(f"G({a} -> X(!{a} U {b}))" for a, b in pairs)
    return ours, " & ".join(f"G({a} -> X(!{a} U {b}))" for a, b in pairs)


def altresp(n: int) -> tuple[str, str]:
    """Alternate response over ``n // 2`` pairs of the ``n`` propositions ``p01 .. pn``
    (zero-padded, so that name order, the diagram's, keeps each pair together)."""
    width = max(2, len(str(n)))
    return _alternate_response([(f"p{2 * i - 1:0{width}d}", f"p{2 * i:0{width}d}")
                                for i in range(1, n // 2 + 1)])


def altresp_ab(n: int) -> tuple[str, str]:
    """The same constraints over pairs ``(a_i, b_i)``: name order tests every ``a`` first."""
    return _alternate_response([(f"a{i}", f"b{i}") for i in range(1, n // 2 + 1)])


def past(n: int) -> tuple[str, str]:
    parts = [f"H(p{i} -> O q{i})" if i % 2 else f"H(p{i} -> Y q{i})" for i in range(1, n + 1)]
    mona = [f"H(p{i} -> O(q{i}))" if i % 2 else f"H(p{i} -> Y(q{i}))" for i in range(1, n + 1)]
    return " & ".join(parts), " & ".join(mona)


def past_chain(n: int) -> tuple[str, str]:
    parts = [f"H(a{i} -> O(b{i} & O c{i}))" for i in range(1, n + 1)]
    return " & ".join(parts), " & ".join(p.replace(f"O c{i}", f"O(c{i})")
                                         for i, p in enumerate(parts, 1))


def mixed_chain(n: int) -> tuple[str, str]:
    return " & ".join(f"G(a{i} -> O(b{i} & O c{i}))" for i in range(1, n + 1)), ""


# Families given to LTLf2DFA's PPLTL parser, and those it cannot read at all.
PAST_FAMILIES = {"past", "pastchain"}
NO_MONA = {"mixedchain"}


def bounded(k: int) -> tuple[str, str]:
    # F[0,k] b expands to b | X(b | X(... b)) with strong X (compiler.ir.BoundedEventually).
    body = "b"
    for _ in range(k):
        body = f"(b | X{body if body.startswith('(') else '(' + body + ')'})"
    return f"G(a -> F[0,{k}] b)", f"G(a -> {body})"


FAMILIES: dict[str, Callable[[int], tuple[str, str]]] = {
    "gfand": gfand,
    "seqF": seq_f,
    "uright": uright,
    "declare": declare,
    "altresp": altresp,
    "altrespab": altresp_ab,
    "past": past,
    "pastchain": past_chain,
    "mixedchain": mixed_chain,
    "bounded": bounded,
}
SIZES: dict[str, list[int]] = {
    "gfand": [2, 4, 8, 12, 16],
    "seqF": [2, 4, 8, 16, 24, 32],
    "uright": [2, 4, 8, 12, 16, 24, 32],
    "declare": [2, 4, 6, 8, 10],
    "altresp": [4, 10, 20, 30],
    "altrespab": [4, 10, 16, 20],
    "past": [2, 4, 6, 8],
    "pastchain": [2, 4, 6, 8],
    "mixedchain": [2, 4, 6, 8],
    "bounded": [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000],
}


# --- workers (run in a subprocess each) ----------------------------------------------------


def _rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024.0  # Linux reports KiB


def worker_ours(text: str, repeat: int, max_states: int) -> dict[str, Any]:
    # this checkout's package, not the one the venv was installed from (an editable install
    # points at another checkout)
    sys.path.insert(0, str(ROOT))
    import speclang

    formula = speclang.parse_formula(text)
    base = _rss_mb()
    times = []
    aut = None
    for _ in range(repeat):
        start = time.perf_counter()
        aut = speclang.compile_formula(formula, max_states=max_states)
        times.append(time.perf_counter() - start)
        if times[-1] > REPEAT_BELOW_S:
            break
    assert aut is not None
    return {
        "states": aut.n_states,
        "classes": aut.n_classes,
        "times_ms": [t * 1e3 for t in times],
        "rss_mb": _rss_mb(),
        "rss_base_mb": base,
    }


def worker_mona(text: str, repeat: int, past: bool) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    from benchmarks import ltlf2dfa_ref

    if past:
        from ltlf2dfa.parser.ppltl import PPLTLParser as Parser
    else:
        from ltlf2dfa.parser.ltlf import LTLfParser as Parser
    run = ltlf2dfa_ref.mona_dfa_ppltl if past else ltlf2dfa_ref.mona_dfa
    # Warm up (imports, lark's grammar loading, the first MONA start) so that, like ours,
    # the timed runs are those of a warm process.
    Parser()(text)
    run("a")
    totals, parses = [], []
    states = None
    for _ in range(repeat):
        # LTLf2DFA builds a fresh lark parser on every call; that Python cost is timed on
        # its own (parsing writes no file, so it needs no lock) and reported apart.
        start = time.perf_counter()
        Parser()(text)
        parses.append(time.perf_counter() - start)
        start = time.perf_counter()
        try:
            states = run(text).n_states
        except ltlf2dfa_ref.MonaError as exc:
            # LTLf2DFA gives MONA 30 s and then reports failure.
            raise SystemExit(f"mona timeout: {exc}") from None
        totals.append(time.perf_counter() - start)
        if totals[-1] > REPEAT_BELOW_S:
            break
    return {
        "states": states,
        "times_ms": [(t - p) * 1e3 for t, p in zip(totals, parses, strict=True)],
        "total_ms": [t * 1e3 for t in totals],
        "rss_mb": _rss_mb(resource.RUSAGE_CHILDREN),
    }


def _run_group(argv: list[str], timeout: float) -> subprocess.CompletedProcess[str] | None:
    """Run in a new session and kill the whole group on timeout: MONA runs as a grandchild
    that ``subprocess.run``'s timeout alone would leave behind."""
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return None
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def _subprocess_json(argv: list[str], timeout: float) -> dict[str, Any]:
    proc = _run_group(argv, timeout)
    if proc is None:
        return {"error": "timeout"}
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
        kind = "budget" if "budget" in last else "timeout" if "timeout" in last else "error"
        return {"error": kind, "detail": last[:300]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def cli_times(text: str, repeat: int, timeout: float, max_states: int,
              artifact: bool = False) -> dict[str, Any]:
    """Wall time of ``speclang compile -f`` (``artifact``: with ``-o``, writing the JSON
    artifact to a temporary directory)."""
    times = []
    argv = [*SPECLANG, "compile", "-f", text, "--max-states", str(max_states)]
    if artifact:
        import tempfile

        argv += ["-o", str(Path(tempfile.mkdtemp(prefix="speclang-bench-")) / "a.json")]
    for _ in range(repeat):
        start = time.perf_counter()
        proc = _run_group(argv, timeout)
        elapsed = time.perf_counter() - start
        if proc is None:
            return {"error": "timeout"}
        if proc.returncode != 0:
            return {"error": "error", "detail": proc.stderr.strip()[-300:]}
        times.append(elapsed)
        if elapsed > REPEAT_BELOW_S:
            break
    return {"times_ms": [t * 1e3 for t in times]}


# --- driver --------------------------------------------------------------------------------


@dataclass
class Row:
    family: str
    n: int
    formula: str
    ours: dict[str, Any] = field(default_factory=dict)
    cli: dict[str, Any] = field(default_factory=dict)
    cli_o: dict[str, Any] = field(default_factory=dict)
    mona: dict[str, Any] = field(default_factory=dict)

    def cells(self) -> list[str]:
        ours_ms = _median(self.ours)
        mona_ms = _median(self.mona)
        ratio = f"{ours_ms / mona_ms:.3g}" if ours_ms is not None and mona_ms else "-"
        s_ours, s_mona = self.ours.get("states"), self.mona.get("states")
        match = "-" if s_ours is None or s_mona is None else "yes" if s_ours == s_mona else "NO"
        mem = f"{self.ours['rss_mb']:.0f}" if "rss_mb" in self.ours else "-"
        mona_mem = f"{self.mona['rss_mb']:.0f}" if "rss_mb" in self.mona else "-"
        return [
            self.family,
            str(self.n),
            _fmt_count(self.ours, "states"),
            _fmt_count(self.mona, "states"),
            match,
            _fmt_ms(self.ours),
            _fmt_ms(self.cli),
            _fmt_ms(self.cli_o),
            _fmt_ms(self.mona),
            _fmt_ms({"times_ms": self.mona["total_ms"]} if "total_ms" in self.mona else self.mona),
            mem,
            mona_mem,
            ratio,
        ]


HEADER = [
    "family",
    "n",
    "states (ours)",
    "states (MONA)",
    "match",
    "ours in-process ms",
    "ours CLI ms",
    "ours CLI -o ms",
    "MONA ms",
    "LTLf2DFA total ms",
    "ours peak RSS MB",
    "MONA peak RSS MB",
    "ours/MONA",
]


def _median(cell: dict[str, Any]) -> float | None:
    times = cell.get("times_ms")
    return statistics.median(times) if times else None


def _fmt_ms(cell: dict[str, Any]) -> str:
    if "error" in cell:
        return str(cell["error"])
    m = _median(cell)
    if m is None:
        return "-"
    return f"{m:.1f}" if m < 100 else f"{m:.0f}"


def _fmt_count(cell: dict[str, Any], key: str) -> str:
    if "error" in cell:
        return str(cell["error"])
    value = cell.get(key)
    return "-" if value is None else str(value)


def markdown(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(r.cells()) + " |" for r in rows]
    return "\n".join(lines)


def cases(families: list[str], max_n: int, max_k: int) -> Iterator[tuple[str, int]]:
    for fam in families:
        limit = max_k if fam == "bounded" else max_n
        for n in SIZES[fam]:
            if n <= limit:
                yield fam, n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--families", default=",".join(FAMILIES), help="comma-separated families")
    ap.add_argument("--max-n", type=int, default=32)
    ap.add_argument("--max-k", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--mona", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--timeout", type=float, default=45.0, help="seconds per cell")
    ap.add_argument("--max-states", type=int, default=1_000_000)
    ap.add_argument("--out", type=Path, help="write all measurements as JSON")
    ap.add_argument("--worker", choices=["ours", "mona"], help=argparse.SUPPRESS)
    ap.add_argument("--formula", help=argparse.SUPPRESS)
    ap.add_argument("--past", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.worker == "ours":
        print(json.dumps(worker_ours(args.formula, args.repeat, args.max_states)))
        return 0
    if args.worker == "mona":
        print(json.dumps(worker_mona(args.formula, args.repeat, args.past)))
        return 0

    families = [f.strip() for f in args.families.split(",") if f.strip()]
    unknown = [f for f in families if f not in FAMILIES]
    if unknown:
        ap.error(f"unknown families {unknown}; choose from {list(FAMILIES)}")
    me = [sys.executable, str(Path(__file__).resolve())]
    rows: list[Row] = []
    # Once a family blows the budget or the timeout at some n, larger n would too: they are
    # reported as "not tried".
    gave_up: dict[tuple[str, str], str] = {}
    started = time.time()
    for fam, n in cases(families, args.max_n, args.max_k):
        ours_text, mona_text = FAMILIES[fam](n)
        row = Row(fam, n, ours_text)
        if (fam, "ours") in gave_up:
            row.ours = row.cli = row.cli_o = {"error": "not tried"}
        else:
            row.ours = _subprocess_json(
                [
                    *me,
                    "--worker",
                    "ours",
                    "--formula",
                    ours_text,
                    "--repeat",
                    str(args.repeat),
                    "--max-states",
                    str(args.max_states),
                ],
                args.timeout,
            )
            if "error" in row.ours:
                gave_up[(fam, "ours")] = row.ours["error"]
                row.cli = row.cli_o = {"error": row.ours["error"]}
            else:
                row.cli = cli_times(ours_text, args.repeat, args.timeout, args.max_states)
                row.cli_o = cli_times(ours_text, args.repeat, args.timeout, args.max_states,
                                      artifact=True)
        if not args.mona or fam in NO_MONA:
            row.mona = {}
        elif (fam, "mona") in gave_up:
            row.mona = {"error": "not tried"}
        else:
            row.mona = _subprocess_json(
                [*me, "--worker", "mona", "--formula", mona_text, "--repeat", str(args.repeat)]
                + (["--past"] if fam in PAST_FAMILIES else []),
                args.timeout,
            )
            if "error" in row.mona:
                gave_up[(fam, "mona")] = row.mona["error"]
        rows.append(row)
        print(" | ".join(row.cells()), file=sys.stderr, flush=True)

    print(markdown(rows))
    if args.out:
        info = {
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}",
            "python": sys.version.split()[0],
            "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "rows": [asdict(r) for r in rows],
        }
        args.out.write_text(json.dumps(info, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
