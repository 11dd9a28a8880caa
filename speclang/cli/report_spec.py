"""``speclang report-spec``: one self-contained HTML page for a spec file.

The page holds every spec's description, source, picture (inline SVG), state table with
verdicts and shaping potentials, and the progression order; it needs no network or script.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from speclang.cli import SpecError, UsageError
from speclang.cli.compile import add_budget_arguments, budgets_of, load_module


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "report-spec",
        help="write a self-contained HTML page describing every spec of a file",
        description="Compile every spec of FILE and write one HTML page with their "
        "descriptions, pictures, state tables (verdicts, residual obligations, shaping "
        "potentials) and progressions.",
    )
    p.add_argument("file", metavar="FILE", help="a .spec file")
    p.add_argument("-o", "--output", required=True, metavar="OUT.html", help="the page to write")
    p.add_argument(
        "--hide-sink", action="store_true", help="draw violations as red stubs, not a sink state"
    )
    add_budget_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from speclang import compiler
    from speclang.compiler.budget import CompileError
    from speclang.compiler.report_spec import build_report
    from speclang.diagnostics import SpecErrors

    if not args.output.lower().endswith((".html", ".htm")):
        raise UsageError(f"-o must name an .html file (got {args.output})")
    module = load_module(args.file, weak_next=args.weak_next)
    budgets = budgets_of(args)
    automata = {}
    for name in module.specs:
        try:
            automata[name] = compiler.compile_spec(module, name, **budgets)
        except CompileError as exc:
            raise SpecError(f"{args.file}: {exc}") from None
    page = build_report(module, automata, hide_sink=args.hide_sink)
    try:
        with open(args.output, "w", encoding="utf-8") as fh:
            fh.write(page)
    except OSError as exc:
        raise SpecError(f"cannot write {args.output}: {exc.strerror or exc}") from None
    print(f"wrote {args.output} ({len(automata)} specs)", file=sys.stderr)
    if module.errors:  # the specs they rule out are not on the page
        print(str(SpecErrors(module.errors, module.sources)), file=sys.stderr)
        return 1
    return 0
