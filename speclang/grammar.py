"""Loading the lark grammars: package data ``speclang/grammars/`` (in a checkout, a symlink to
the repository's ``grammars/`` folder)."""

from __future__ import annotations

import hashlib
import os
import sys
from typing import Any


def _import_lark_without_regex() -> None:
    """lark imports the third-party ``regex`` module whenever it is installed (speclang
    installs it for observation patterns), only for its ``regex=True`` option, which
    speclang's grammar does not use; that import is a fifth of what loading lark costs
    every ``speclang check``. So ``regex`` is hidden while lark loads; pattern matching
    imports it when a spec needs it (speclang.model)."""
    if "lark" in sys.modules or "regex" in sys.modules:
        return
    sys.modules["regex"] = None  # type: ignore[assignment]  # `import regex` fails
    try:
        import lark  # noqa: F401
    finally:
        del sys.modules["regex"]


_import_lark_without_regex()

import lark  # noqa: E402
from lark import Lark  # noqa: E402

# spec.lark and the file it imports: what the parse tables are built from.
_GRAMMAR_FILES = ("spec.lark", "formula.lark")


def grammar_text(name: str) -> str:
    """The text of ``grammars/<name>``."""
    from importlib import resources  # the parser reads the grammar through lark

    return resources.files("speclang").joinpath("grammars", name).read_text(encoding="utf-8")


def cache_dir() -> str:
    """speclang's cache folder: ``$SPECLANG_CACHE``, else ``$XDG_CACHE_HOME/speclang``, else
    ``~/.cache/speclang``."""
    return os.environ.get("SPECLANG_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "speclang")


def _cache_file() -> str | bool:
    """Where lark keeps the analysed parse tables between runs (building them is two thirds
    of what ``speclang check`` costs on a small file). lark checks the file against the
    grammar's hash, its imported files, its options, its own and Python's version before use,
    rebuilds over a stale or damaged file, and carries on without a cache when the file cannot
    be written; ``False`` (no cache) when the folder cannot be made."""
    folder = os.path.join(cache_dir(), "grammar")
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError:
        return False
    version = f"lark{lark.__version__}-py{sys.version_info[0]}{sys.version_info[1]}"
    # Named for the grammar too: two speclang versions (two checkouts, two virtual
    # environments) sharing one cache folder would otherwise overwrite each other's file,
    # and every run of either rebuilt the tables (seconds on a busy machine).
    digest = hashlib.sha256()
    for name in _GRAMMAR_FILES:
        digest.update(grammar_text(name).encode("utf-8"))
    return os.path.join(folder, f"spec-{version}-{digest.hexdigest()[:16]}.cache")


def build_parser(*, cache: bool = False, **options: Any) -> Lark:
    """An LALR parser for ``spec.lark`` with start symbols ``start`` and ``formula_start``;
    with ``cache``, its tables come from (and go to) the user's cache folder. A parser loaded
    from the cache has no ``.grammar``."""
    options = dict(parser="lalr", start=["start", "formula_start"], **options)
    if cache:
        options["cache"] = _cache_file()
    return Lark.open_from_package("speclang", "spec.lark", ("grammars",), **options)
