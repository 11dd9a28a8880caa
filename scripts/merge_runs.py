"""Join finished `speclang train` run directories that ran different methods of one
experiment (see agents/merge.py): the result is what `speclang report` reads.

    python scripts/merge_runs.py OUT RUN_DIR RUN_DIR... [--name NAME]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from speclang.agents.errors import ExperimentError
from speclang.agents.merge import merge_runs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("runs", type=Path, nargs="+")
    ap.add_argument("--name", default=None, help="experiment name (default: OUT's name)")
    args = ap.parse_args(argv)
    try:
        results = merge_runs(args.out, args.runs, args.name or args.out.name)
    except ExperimentError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{args.out}: {len(results['methods'])} methods, {len(results['runs'])} runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
