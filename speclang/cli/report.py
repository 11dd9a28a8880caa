"""``speclang report RUN_DIR``: plots and a statistical summary of a finished experiment."""

from __future__ import annotations

import argparse
from pathlib import Path

from speclang.cli import SpecError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "report",
        help="plot and summarise a finished `speclang train` run",
        description="Write violations.png, return.png, summary.md and summary.html into "
        "RUN_DIR: mean with 95% confidence intervals per method, and significance tests of "
        "the progressive method against each baseline.",
    )
    p.add_argument("run_dir", help="a directory written by `speclang train`")
    p.add_argument(
        "--reference",
        default=None,
        help="method the others are tested against (default: the first progressive one)",
    )
    p.add_argument("--out", default=None, help="write into this directory instead of RUN_DIR")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from speclang.agents.report import ReportError, write_report

    try:
        out = None if args.out is None else Path(args.out)
        paths = write_report(Path(args.run_dir), reference=args.reference, out_dir=out)
    except ReportError as exc:
        raise SpecError(str(exc)) from None
    for path in paths:
        print(path)
    return 0
