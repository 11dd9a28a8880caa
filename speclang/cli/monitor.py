"""``speclang monitor``: run a compiled monitor over a trace file and print the verdict after
every step, one JSON object per line: ``{"step": t, "state": q, "verdict": ..., "accepting":
...}`` with ``t`` counted from 1.

The monitor comes from a spec file (``FILE --spec NAME``; ``--spec`` may be left out when the
file has one spec), a formula (``-f``) or a saved artifact (``--artifact``). The trace format
is described in :mod:`speclang.traces`; ``--trace -`` reads standard input and answers line
by line, so a live system can pipe its steps in.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from speclang.cli import SpecError, UsageError
from speclang.cli.compile import (
    add_budget_arguments,
    budgets_of,
    load_module,
    require_compilable,
    select_specs,
)
from speclang.traces import add_alphabet_argument


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "monitor",
        help="run a monitor over a JSONL trace, printing the verdict after each step",
        description="Step the monitor of a spec (FILE --spec NAME), a formula (-f) or a saved "
        "artifact (--artifact) through TRACE, one JSON line per step. A trace line is a JSON "
        'array of the true propositions (["key"]) or an object ({"key": true}); blank lines '
        "are skipped.",
    )
    p.add_argument("file", nargs="?", metavar="FILE", help="a .spec file")
    p.add_argument("--spec", metavar="NAME", help="the spec of FILE to monitor")
    p.add_argument("-f", "--formula", metavar="FORMULA", help="monitor this formula")
    p.add_argument(
        "--artifact", metavar="ART.json", help="a monitor saved by `speclang compile -o`"
    )
    p.add_argument(
        "--trace", required=True, metavar="TRACE.jsonl", help="the trace; - reads standard input"
    )
    add_alphabet_argument(p)
    add_budget_arguments(p)
    p.set_defaults(func=run)


def _monitor(args: argparse.Namespace) -> tuple[Any, set[str] | None, Any]:
    """The automaton to run, the proposition names a trace may mention (``None``: any, for a
    free formula without ``--props``), and the module (``None`` for a formula or an
    artifact)."""
    import speclang
    from speclang import compiler
    from speclang.compiler.budget import CompileError
    from speclang.traces import parse_alphabet

    given = [x for x in (args.file, args.formula, args.artifact) if x is not None]
    if len(given) != 1:
        raise UsageError("give exactly one of FILE, -f FORMULA or --artifact ART.json")
    if args.spec is not None and args.file is None:
        raise UsageError("--spec selects a spec of FILE")
    alphabet = parse_alphabet(args.props)
    if alphabet is not None and args.formula is None:
        raise UsageError("--props declares the alphabet of a -f formula")
    try:
        if args.artifact is not None:
            from speclang.compiler.artifact import ArtifactError, load

            try:
                aut = load(args.artifact)
            except ArtifactError as exc:
                raise SpecError(str(exc)) from None
            return aut, set(aut.props) | set(aut.meta.get("declared_props", ())), None
        budgets = budgets_of(args)
        if args.formula is not None:
            formula = speclang.parse_formula(args.formula, weak_next=args.weak_next, tenses=True)
            aut = compiler.compile_formula(formula, **budgets)
            return aut, (None if alphabet is None else set(aut.props) | alphabet), None
        module = load_module(args.file, weak_next=args.weak_next)
        names = select_specs(module, args.file, args.spec)
        if len(names) > 1:
            raise UsageError(f"{args.file} has {len(names)} specs; choose one with --spec NAME")
        require_compilable(module, names[0])
        aut = compiler.compile_spec(module, names[0], **budgets)
        # Declared propositions the spec does not mention may still appear in a trace.
        return aut, set(aut.props) | set(module.atoms), module
    except CompileError as exc:
        raise SpecError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    from speclang.model import PatternTimeout
    from speclang.traces import IgnoredNames, TraceError, letter_of, observations

    aut, allowed, module = _monitor(args)
    observables = module.observables if module is not None else {}
    derived = module.derived if module is not None else {}
    if any(getattr(d, "op", None) == "classifies" for d in derived.values()):
        from speclang.labeler_file import LabelerFileError
        from speclang.llm.learned import bind_learned

        try:
            derived = bind_learned(derived)
        except LabelerFileError as exc:
            raise SpecError(str(exc)) from None
    index = aut.prop_index
    ignored = IgnoredNames(aut.props, args.trace) if allowed is None else None
    try:
        q = aut.initial
        for t, (true, values) in enumerate(observations(args.trace, allowed, observables), 1):
            if ignored is not None:
                ignored.check(t, true)
            letter = letter_of(true, values, derived)
            q = aut.step(q, [p for p in letter if p in index])
            record = {
                "step": t,
                "state": q,
                "verdict": aut.verdict(q).label,
                "accepting": bool(aut.accepting[q]),
            }
            print(json.dumps(record), flush=args.trace == "-")
    except TraceError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except PatternTimeout as exc:
        print(f"{args.trace}:{t}: error: {exc}; stopping rather than guessing the verdict",
              file=sys.stderr)
        return 1
    return 0
