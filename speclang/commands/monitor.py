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
from collections.abc import Iterator
from typing import Any

from speclang.cli import SpecError, UsageError
from speclang.commands.compile import add_budget_arguments, load_module, select_specs


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
    add_budget_arguments(p)
    p.set_defaults(func=run)


def _monitor(args: argparse.Namespace) -> tuple[Any, set[str]]:
    """The automaton to run and the proposition names a trace may mention."""
    import compiler
    from compiler.budget import CompileError

    given = [x for x in (args.file, args.formula, args.artifact) if x is not None]
    if len(given) != 1:
        raise UsageError("give exactly one of FILE, -f FORMULA or --artifact ART.json")
    if args.spec is not None and args.file is None:
        raise UsageError("--spec selects a spec of FILE")
    try:
        if args.artifact is not None:
            from compiler.artifact import ArtifactError, load

            try:
                aut = load(args.artifact)
            except ArtifactError as exc:
                raise SpecError(str(exc)) from None
            return aut, set(aut.props) | set(aut.meta.get("declared_props", ()))
        budgets = {"max_states": args.max_states, "timeout": args.timeout}
        if args.formula is not None:
            aut = compiler.compile_formula(args.formula, weak_next=args.weak_next, **budgets)
            return aut, set(aut.props)
        module = load_module(args.file, weak_next=args.weak_next)
        names = select_specs(module, args.file, args.spec)
        if len(names) > 1:
            raise UsageError(f"{args.file} has {len(names)} specs; choose one with --spec NAME")
        aut = compiler.compile_spec(module, names[0], **budgets)
        # Declared propositions the spec does not mention may still appear in a trace.
        return aut, set(aut.props) | set(module.atoms)
    except CompileError as exc:
        raise SpecError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    from speclang.diagnostics import SpecErrors
    from speclang.traces import TraceError, iter_trace, read_trace

    try:
        aut, allowed = _monitor(args)
    except SpecErrors as exc:
        print(str(exc), file=sys.stderr)
        return 1
    try:
        steps: Iterator[frozenset[str]]
        if args.trace == "-":
            steps = (step for _, step in iter_trace(sys.stdin, allowed, path="<stdin>"))
        else:
            # A file is read whole first so that a bad line produces no partial output.
            steps = iter(read_trace(args.trace, allowed))
        q = aut.initial
        index = aut.prop_index
        for t, step in enumerate(steps, start=1):
            q = aut.step(q, [p for p in step if p in index])
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
    return 0
