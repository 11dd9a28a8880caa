"""``speclang viz``: draw the monitor of a spec, a formula or a saved artifact as SVG, PNG or
Graphviz DOT.

``-o`` picks the format by its suffix; without ``-o`` the DOT text goes to standard output.
Without Graphviz ``dot`` on PATH a ``.dot`` file is still written (exit 0), while an SVG/PNG
request writes the ``.dot`` next to it, prints the command that renders it and exits 1.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from speclang.cli import SpecError, UsageError
from speclang.cli.compile import add_budget_arguments


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "viz",
        help="draw a spec's monitor (SVG, PNG or DOT)",
        description="Draw the minimal DFA monitor of one spec of FILE (--spec, optional when "
        "the file has one spec) or of a formula (-f): states coloured by verdict, one edge "
        "per state pair labelled with a minimised guard, residual obligations as tooltips.",
    )
    p.add_argument("file", nargs="?", metavar="FILE", help="a .spec file")
    p.add_argument("--spec", metavar="NAME", help="the spec of FILE to draw")
    p.add_argument("-f", "--formula", metavar="FORMULA", help="draw this formula instead")
    p.add_argument(
        "--artifact", metavar="ART.json", help="draw a monitor saved by `speclang compile -o`"
    )
    p.add_argument(
        "-o", "--output", metavar="OUT", help="OUT.svg, OUT.png or OUT.dot (default: DOT on stdout)"
    )
    p.add_argument(
        "--hide-sink",
        action="store_true",
        help="fold the violation sink into red edge stubs (fewer crossing edges)",
    )
    p.add_argument("--title", metavar="TEXT", help="picture title (default: spec name and formula)")
    add_budget_arguments(p)
    p.set_defaults(func=run)


def one_automaton(args: argparse.Namespace) -> Any:
    """The single automaton that FILE/--spec, -f or --artifact selects."""
    from speclang.cli.compile import PartlyCompiled, compile_sources

    if args.artifact is not None:
        if args.file is not None or args.formula is not None or args.spec is not None:
            raise UsageError("--artifact replaces FILE, --spec and -f")
        from speclang.compiler.artifact import ArtifactError, load

        try:
            return load(args.artifact)
        except ArtifactError as exc:
            raise SpecError(str(exc)) from None
    try:
        compiled = compile_sources(args)
    except PartlyCompiled as exc:
        if len(exc.selected) > 1:
            names = ", ".join(exc.selected)
            raise UsageError(f"{args.file} has {len(exc.selected)} specs ({names}); choose one "
                             "with --spec") from None
        if not exc.compiled:
            raise
        compiled = exc.compiled  # the errors lie in definitions the spec does not use
    if len(compiled) > 1:
        names = ", ".join(name for name, _, _ in compiled)
        raise UsageError(f"{args.file} has {len(compiled)} specs ({names}); choose one with --spec")
    name, aut, _ = compiled[0]
    if aut.name is None and args.formula is None:
        aut.name = name
    return aut


def run(args: argparse.Namespace) -> int:
    from speclang.compiler.viz import FORMATS, RenderUnavailable, render, to_dot

    if args.output is not None:
        suffix = args.output.rsplit(".", 1)[-1].lower() if "." in args.output else ""
        if suffix not in FORMATS:
            raise UsageError(f"-o must end in .svg, .png or .dot (got {args.output})")
    aut = one_automaton(args)
    if args.output is None:
        sys.stdout.write(to_dot(aut, hide_sink=args.hide_sink, title=args.title))
        return 0
    try:
        out = render(aut, args.output, hide_sink=args.hide_sink, title=args.title)
    except RenderUnavailable as exc:
        print(f"speclang viz: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        raise SpecError(f"cannot write {args.output}: {exc.strerror or exc}") from None
    print(f"wrote {out} ({aut.n_states} states)", file=sys.stderr)
    return 0
