"""``speclang compile``: specs or a formula to minimal monitors, with a one-line summary each
and optionally the JSON artifact (``-o``).

Output choice for ``-o`` when a file holds several specs and no ``--spec`` is given: ``-o``
names a directory that receives ``SPEC.json`` per spec. With exactly one automaton, ``-o``
names the file to write, unless it is an existing directory or ends with ``/``: then
``SPEC.json`` is written into it.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from speclang.cli import SpecError, UsageError
from speclang.diagnostics import SpecErrors

if TYPE_CHECKING:
    from speclang.compiler.automaton import Automaton


class PartlyCompiled(SpecErrors):
    """Some specs of the file compiled (``compiled``), but the file has errors that rule out
    others or lie in definitions (E025): they are the diagnostics."""

    def __init__(self, diagnostics: list[Any], sources: dict[str, str],
                 compiled: list[tuple[str, Automaton, float]], selected: list[str]) -> None:
        super().__init__(diagnostics, sources)
        self.compiled = compiled
        self.selected = selected  # every spec asked for, compiled or not


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "compile",
        help="compile specs to minimal monitors (DFAs); print a summary, write JSON artifacts",
        description="Compile every spec of FILE (or one with --spec), or a formula given "
        "with -f, to a minimal DFA monitor. Prints one summary line per automaton; -o writes "
        "the speclang-dfa JSON artifact (a directory of SPEC.json files when several specs "
        "are compiled).",
    )
    p.add_argument("file", nargs="?", metavar="FILE", help="a .spec file")
    p.add_argument("-f", "--formula", metavar="FORMULA", help="compile this formula instead")
    p.add_argument("--spec", metavar="NAME", help="compile only this spec of FILE")
    p.add_argument("-o", "--output", metavar="OUT", help="write the JSON artifact(s) here")
    p.add_argument(
        "--guards",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="list every edge with its readable guard in the artifact (default: only for "
        "automata with at most 20,000 edges; the decision diagram, which "
        "steps the monitor, is always written)",
    )
    p.add_argument(
        "--letter-classes",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="write the letter classes and their dense transition table in the artifact "
        "(default: only when the table has at most 65,536 entries; a loader builds them "
        "from the decision diagram when they are left out)",
    )
    add_budget_arguments(p)
    p.set_defaults(func=run)


def add_budget_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--max-states",
        type=_positive_int,
        default=100_000,
        metavar="N",
        help="give up when the automaton exceeds N states (default 100000)",
    )
    p.add_argument(
        "--timeout",
        type=_positive_float,
        default=60.0,
        metavar="SECONDS",
        help="give up after this many seconds per spec (default 60)",
    )
    p.add_argument(
        "--max-memory",
        type=_positive_int,
        default=2048,
        metavar="MIB",
        help="give up when compiling a spec grows the process by more than MIB mebibytes "
        "of resident memory (default 2048)",
    )
    p.add_argument(
        "--weak-next",
        action="store_true",
        help="read X as weak next (LTLf2DFA/Lydia convention differs: X is strong by default)",
    )


def budgets_of(args: argparse.Namespace) -> dict[str, Any]:
    """The compile budgets ``add_budget_arguments`` parsed, as ``compile_formula`` keywords."""
    return {"max_states": args.max_states, "timeout": args.timeout,
            "max_memory": args.max_memory << 20}


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be positive")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError("must be positive")
    return value


# Counting the letter classes means building them, which the compiler leaves to their first
# use (compiler.automaton): they can be exponentially many for a few states, and counting
# them cost 5x the compilation of F(p1 & F(p2 & .. F p16)). The summary counts them when
# that is cheap -- at most this many (state, letter) pairs -- or already done.
COUNT_CLASSES_UP_TO = 1 << 16


def summary(name: str, aut: Automaton, ms: float | None = None) -> str:
    """``name: 3 states, 2 letter classes, verdicts: 1 satisfied, ... (12.3 ms)``; the classes
    are "not counted" where that would cost more than the compilation (COUNT_CLASSES_UP_TO)."""
    import numpy as np

    from speclang.compiler.automaton import Verdict

    counts = np.bincount(aut.verdicts.astype(np.int64), minlength=len(Verdict))
    verdicts = ", ".join(f"{int(counts[v])} {v.label}" for v in Verdict)
    if aut.letter_classes_built or aut.n_states << len(aut.props) <= COUNT_CLASSES_UP_TO:
        classes = aut.n_classes
        cls = ("letter classes not tabulated" if classes is None
               else _plural(classes, "letter class"))
    else:
        cls = "letter classes not counted"
    timing = f" ({ms:.1f} ms)" if ms is not None else ""
    return f"{name}: {_plural(aut.n_states, 'state')}, {cls}, verdicts: {verdicts}{timing}"


def _plural(n: int, word: str) -> str:
    if n == 1:
        return f"1 {word}"
    return f"{n} {word}es" if word.endswith("ss") else f"{n} {word}s"


def compile_sources(args: argparse.Namespace) -> list[tuple[str, Automaton, float]]:
    """``(name, automaton, milliseconds)`` for what the arguments select; errors in the
    input surface as :class:`SpecError` / ``SpecErrors``, bad arguments as ``UsageError``."""
    from speclang import compiler
    from speclang.compiler.budget import CompileError

    budgets = budgets_of(args)
    # The compiler imports its construction modules lazily; load them now so the reported
    # time is the compilation, not Python importing code.
    with contextlib.suppress(ImportError):
        importlib.import_module("speclang.compiler.build")
    if args.formula is not None:
        if args.file is not None:
            raise UsageError("give either FILE or -f FORMULA, not both")
        if args.spec is not None:
            raise UsageError("--spec selects a spec of FILE; it does not apply to -f")
        import speclang

        # Parsed first so that the reported time is the compilation alone.
        formula = speclang.parse_formula(args.formula, weak_next=args.weak_next, tenses=True)
        digest = hashlib.sha256(args.formula.encode("utf-8")).hexdigest()
        start = time.perf_counter()
        try:
            aut = compiler.compile_formula(formula, source_hash=digest, **budgets)
        except CompileError as exc:
            raise SpecError(str(exc)) from None
        return [(args.formula, aut, (time.perf_counter() - start) * 1e3)]
    if args.file is None:
        raise UsageError("give a spec FILE or -f FORMULA")
    module = load_module(args.file, weak_next=args.weak_next)
    names = select_specs(module, args.file, args.spec)
    if len(names) == 1:
        require_compilable(module, names[0])
    out = []
    for name in names:
        if name in module.rejected:
            continue
        start = time.perf_counter()
        try:
            aut = compiler.compile_spec(module, name, **budgets)
        except CompileError as exc:
            raise SpecError(f"{args.file}: {exc}") from None
        ms = (time.perf_counter() - start) * 1e3
        # A trace may mention every declared proposition, not only those the spec uses;
        # the artifact keeps the list so `monitor --artifact` accepts the same traces.
        aut.meta["declared_props"] = list(module.atoms)
        out.append((name, aut, ms))
    if args.spec is None and module.errors:
        raise PartlyCompiled(module.errors, module.sources, out, names)
    return out


def load_module(path: str, *, weak_next: bool = False) -> Any:
    import speclang
    from speclang.diagnostics import render_all

    if not Path(path).is_file():
        raise SpecError(f"{path}: no such file")
    # A spec with an error of its own (E025) must not stop the others: it is left out, and
    # the commands report it (require_compilable, PartlyCompiled).
    module = speclang.load(path, weak_next=weak_next, keep_going=True)
    if module.warnings:
        print(render_all(module.warnings, module.sources), file=sys.stderr)
    return module


def require_compilable(module: Any, name: str) -> None:
    """Raise the located errors of spec ``name`` if the file's check left it out."""
    if name in module.rejected:
        raise SpecErrors(module.rejected[name], module.sources)


def select_specs(module: Any, path: str, spec: str | None) -> list[str]:
    """The names ``--spec`` selects (all, by default), also specs left out for errors."""
    from speclang.diagnostics import did_you_mean

    names = list(module.spec_names)
    if spec is None:
        if not names:
            raise SpecError(f"{path}: no spec to compile (the file declares none)")
        return names
    if spec not in names:
        hint = did_you_mean(spec, names)
        known = ", ".join(names) or "none"
        raise SpecError(
            f"{path}: no spec named {spec!r}" + (f" ({hint})" if hint else "") + f"; specs: {known}"
        )
    return [spec]


def _outputs(out: str, names: list[str]) -> list[Path]:
    target = Path(out)
    wants_dir = out.endswith(("/", os.sep)) or target.is_dir()
    if len(names) == 1 and not wants_dir:
        return [target]
    if target.suffix == ".json" and not target.is_dir():
        raise UsageError(
            f"{len(names)} specs are compiled, so -o must name a directory (got {out}); "
            "use --spec NAME to write one file"
        )
    return [target / f"{_safe(name)}.json" for name in names]


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "formula"


def run(args: argparse.Namespace) -> int:
    failed: PartlyCompiled | None = None
    try:
        compiled = compile_sources(args)
    except PartlyCompiled as exc:
        compiled, failed = exc.compiled, exc
    paths = _outputs(args.output, [n for n, _, _ in compiled]) if args.output else None
    if paths is not None:
        from speclang.compiler import artifact

        for (_, aut, _), path in zip(compiled, paths, strict=True):
            try:
                artifact.save(aut, path, guards=args.guards, letter_classes=args.letter_classes)
            except OSError as exc:
                raise SpecError(f"{path}: cannot write: {exc.strerror or exc}") from None
    for i, (name, aut, ms) in enumerate(compiled):
        line = summary(name, aut, ms)
        if paths is not None:
            line += f" -> {paths[i]}"
        print(line)
    if failed is not None:
        print(str(failed), file=sys.stderr)
        done = {name for name, _, _ in compiled}
        skipped = [name for name in failed.selected if name not in done]
        if skipped:
            print(f"{args.file}: not compiled: {', '.join(skipped)}", file=sys.stderr)
        return 1
    return 0
