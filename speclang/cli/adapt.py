"""``speclang adapt RUN_DIR SPEC_FILE --spec NAME [--episodes N] --out DIR``: adapt a trained
experiment's agents to a spec they have not seen, against a zero-shot control."""

from __future__ import annotations

import argparse
from pathlib import Path

from speclang.cli import SpecError, UsageError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "adapt",
        help="adapt the agents of a `speclang train` run to a new spec",
        description="Take every method's trained agents (all seeds) from RUN_DIR, adapt each "
        "to spec NAME of SPEC_FILE by the method's own transfer rule, train a zero-shot "
        "learner on the same spec with the same budget as the control, print the table of "
        "paired tests and write DIR/adapt.json.",
    )
    p.add_argument("run_dir", help="a directory written by `speclang train` (tabular gridworld)")
    p.add_argument("spec_file", help="the .spec file holding the new spec")
    p.add_argument("--spec", required=True, help="name of the new spec in SPEC_FILE")
    p.add_argument("--episodes", type=int, default=None,
                   help="adaptation episodes per run (default: the training episodes divided "
                   "by the number of specs of the progression)")
    p.add_argument("--out", required=True, help="directory to write adapt.json into")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from speclang.agents.adapt import adapt, render_table, write_adapt
    from speclang.agents.errors import AgentError

    if args.episodes is not None and args.episodes < 1:
        raise UsageError("--episodes must be >= 1")
    try:
        result = adapt(Path(args.run_dir), Path(args.spec_file), args.spec, args.episodes,
                       progress=not args.no_progress)
        path = write_adapt(Path(args.out), result)
    except AgentError as exc:
        raise SpecError(str(exc)) from None
    print(render_table(result))
    print(path)
    return 0
