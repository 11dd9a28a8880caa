"""``speclang fmt FILE... [--check | --write]``: the canonical layout of spec files.

Without options the formatted text goes to standard output; ``--write`` rewrites the files;
``--check`` changes nothing and exits 1 if some file is not in canonical form.
"""

from __future__ import annotations

import sys
from typing import Any

from speclang.cli import UsageError


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "fmt",
        help="print .spec files in canonical form (or --check / --write)",
        description="Pretty-print .spec files canonically: operator spellings, spacing, "
        "minimal parentheses; comments are kept.",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help=".spec files to format")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true",
                      help="exit 1 and name the files that are not formatted")
    mode.add_argument("-w", "--write", action="store_true", help="rewrite the files in place")
    p.add_argument("--weak-next", action="store_true",
                   help="read a bare X as weak next (Spot/Lydia); a file's pragma overrides")
    p.set_defaults(func=run)


def _rewrite(path: str, text: str) -> str | None:
    """Rewrite ``path`` atomically, keeping its permissions; the reason on failure."""
    import os
    import stat

    from speclang.compiler.artifact import write_atomic

    try:
        st = os.stat(path)
        # Root passes os.access on anything: a file nobody may write is read-only for fmt too.
        if not os.access(path, os.W_OK) or not st.st_mode & 0o222:
            return "the file is read-only"
        write_atomic(path, text, mode=stat.S_IMODE(st.st_mode))
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def run(args: Any) -> int:
    from speclang.diagnostics import render_all
    from speclang.formatter import format_file
    from speclang.parser import parse_bytes

    if len(args.files) > 1 and not (args.check or args.write):
        raise UsageError("several files need --check or --write")
    status = 0
    for path in args.files:
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            print(f"error[E005]: cannot read {path}: {exc.strerror or exc}")
            status = 1
            continue
        res = parse_bytes(data, path, weak_next=args.weak_next)
        errors = [d for d in res.diagnostics if d.is_error]
        if res.file is None or errors:
            print(render_all(res.diagnostics, {path: res.source}))
            status = 1
            continue
        formatted = format_file(res.file, res.source)
        if args.check:
            if formatted != res.source:
                print(f"{path}: not formatted (run `speclang fmt --write {path}`)")
                status = 1
        elif args.write:
            if formatted != res.source:
                problem = _rewrite(path, formatted)
                if problem:
                    print(f"error[E005]: cannot write {path}: {problem}; the file is unchanged",
                          file=sys.stderr)
                    status = 1
        else:
            sys.stdout.write(formatted)
    return status
