"""``speclang explain``: step a monitor through a trace and say why it was violated.

Prints, per step, the letter, the automaton state, the verdict and the remaining obligation;
on the first step whose verdict is ``violated`` it names the top-level conjunct that can no
longer be met, underlined in the source like a ``speclang check`` diagnostic, with the
reason (which proposition held, which ``once``/``since`` obligation was missing).
``--format json`` prints one JSON document instead. Exit 0 whether or not the trace violates
the spec (the verdict is in the output); 1 for errors in the spec or the trace.
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
        "explain",
        help="explain, step by step, why a trace violates a spec",
        description="Run the monitor of one spec of FILE (--spec, optional when the file "
        "has one spec) or of a formula (-f) over TRACE and explain the verdicts: the letter, "
        "state, verdict and remaining obligation at each step, and the violated conjunct "
        "with its source span and the reason.",
    )
    p.add_argument("file", nargs="?", metavar="FILE", help="a .spec file")
    p.add_argument("--spec", metavar="NAME", help="the spec of FILE to explain")
    p.add_argument("-f", "--formula", metavar="FORMULA", help="explain this formula instead")
    p.add_argument(
        "--trace",
        required=True,
        metavar="TRACE.jsonl",
        help='one JSON line per step: ["key", "door"] or {"lava": false, "temp": 35.5} '
        "(observables carry values, as for `speclang monitor`); - reads stdin",
    )
    p.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    add_alphabet_argument(p)
    add_budget_arguments(p)
    p.set_defaults(func=run)


def _target(args: argparse.Namespace) -> tuple[Any, Any, Any, set[str] | None]:
    """(spec or formula, module (or the formula's source), compiled automaton, allowed trace
    names: ``None`` allows any, for a -f formula without --props)."""
    import speclang
    from speclang import compiler
    from speclang.compiler.budget import CompileError
    from speclang.traces import parse_alphabet

    alphabet = parse_alphabet(args.props)
    if alphabet is not None and args.formula is None:
        raise UsageError("--props declares the alphabet of a -f formula")
    budgets = budgets_of(args)
    try:
        if args.formula is not None:
            if args.file is not None or args.spec is not None:
                raise UsageError("give either FILE [--spec NAME] or -f FORMULA")
            formula = speclang.parse_formula(args.formula, weak_next=args.weak_next, tenses=True)
            aut = compiler.compile_formula(formula, **budgets)
            target, sources = _formula_with_spans(args.formula, formula, args.weak_next)
            return target, sources, aut, None if alphabet is None else set(aut.props) | alphabet
        if args.file is None:
            raise UsageError("give a spec FILE or -f FORMULA")
        module = load_module(args.file, weak_next=args.weak_next)
        names = select_specs(module, args.file, args.spec)
        if len(names) > 1:
            raise UsageError(
                f"{args.file} has {len(names)} specs ({', '.join(names)}); choose one with --spec"
            )
        require_compilable(module, names[0])
        aut = compiler.compile_spec(module, names[0], **budgets)
        return module.specs[names[0]], module, aut, set(aut.props) | set(module.atoms)
    except CompileError as exc:
        raise SpecError(str(exc)) from None


def _formula_with_spans(text: str, formula: Any, weak_next: bool) -> tuple[Any, Any]:
    """A spec-like target for a ``-f`` formula whose top-level conjuncts carry spans into
    the formula text, so the cause is underlined there as it would be in a file."""
    from types import SimpleNamespace

    from speclang.diagnostics import slice_span
    from speclang.lower import lower_free
    from speclang.model import Conjunct
    from speclang.parser import parse_formula_text
    from speclang.syntax import NAry

    path = "<formula>"
    tree, _ = parse_formula_text(text, path, weak_next=weak_next)
    items = tree.items if isinstance(tree, NAry) and tree.op == "AND" else (tree,)
    conjuncts = [
        Conjunct(lower_free(item, read_like=tree), item.span, slice_span(text, item.span))
        for item in items
        if item is not None
    ]
    target = SimpleNamespace(name=None, formula=formula, conjuncts=conjuncts)
    return target, SimpleNamespace(sources={path: text})


def run(args: argparse.Namespace) -> int:
    from speclang.explain import explain_trace
    from speclang.model import PatternTimeout
    from speclang.traces import IgnoredNames, TraceError, letter_of, observations

    target, module, aut, allowed = _target(args)
    # The same reading and labelling as `speclang monitor` (observable values, derived and
    # text propositions), so that explain accepts every trace monitor accepts.
    observables = getattr(module, "observables", None) or {}
    derived = getattr(module, "derived", None) or {}
    if any(getattr(d, "op", None) == "classifies" for d in derived.values()):
        from speclang.labeler_file import LabelerFileError
        from speclang.llm.learned import bind_learned

        try:
            derived = bind_learned(derived)
        except LabelerFileError as exc:
            raise SpecError(str(exc)) from None
    ignored = IgnoredNames(aut.props, args.trace) if allowed is None else None
    trace: list[frozenset[str]] = []
    t = 0
    try:
        for t, (true, values) in enumerate(observations(args.trace, allowed, observables), 1):
            if ignored is not None:
                ignored.check(t, true)
                true = true & ignored.used
            trace.append(letter_of(true, values, derived))
    except TraceError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except PatternTimeout as exc:
        print(f"{args.trace}:{t}: error: {exc}; stopping rather than guessing the verdict",
              file=sys.stderr)
        return 1
    explanation = explain_trace(target, trace, module=module, automaton=aut)
    if args.format == "json":
        print(json.dumps(explanation.to_json(), indent=2))
    else:
        print(explanation.render())
    return 0
