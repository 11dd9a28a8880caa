"""``speclang check FILE...``: parse and check spec files, print every diagnostic.

Diagnostics go to standard output (they are what the command produces), followed by one
summary line per file. Exit 1 when any file has an error; warnings alone exit 0.
"""

from __future__ import annotations

import sys
from typing import Any


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "check",
        help="check .spec files and report errors and warnings",
        description="Parse and check .spec files (and the files they import); report every "
        "error and warning as `path:line:col: error[E###]: message`.",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help=".spec files to check")
    p.add_argument("--format", choices=("human", "json"), default="human",
                   help="human-readable diagnostics (default) or a JSON list")
    p.add_argument("--weak-next", action="store_true",
                   help="read a bare X as weak next (Spot/Lydia); a file's pragma overrides")
    p.set_defaults(func=run)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def run(args: Any) -> int:
    from speclang import check_file
    from speclang.diagnostics import render_all, to_json

    everything = []
    failed = False
    blocks: list[str] = []  # one per file: its diagnostics, then its summary line
    for path in args.files:
        diags, sources = check_file(path, weak_next=args.weak_next)
        everything.extend(diags)
        errors = sum(d.is_error for d in diags)
        warnings = len(diags) - errors
        failed |= errors > 0
        if args.format == "human":
            chunks = [render_all(diags, sources)] if diags else []
            if errors:
                summary = f"{path}: {_plural(errors, 'error')}"
                if warnings:
                    summary += f", {_plural(warnings, 'warning')}"
            else:
                summary = f"{path}: ok" + (f" ({_plural(warnings, 'warning')})" if warnings
                                           else "")
            chunks.append(summary)
            blocks.append("\n\n".join(chunks))
    if args.format == "json":
        sys.stdout.write(to_json(everything) + "\n")
    else:
        # Clean files print one line each; a blank line sets off files with diagnostics.
        out = ""
        for i, block in enumerate(blocks):
            if i:
                out += "\n\n" if "\n" in block or "\n" in blocks[i - 1] else "\n"
            out += block
        # diagnostics go to stderr, as every other command writes them; --format json is
        # the command's data and stays on stdout
        sys.stderr.write(out + "\n")
    return 1 if failed else 0
