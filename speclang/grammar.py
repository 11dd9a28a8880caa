"""Loading the lark grammars: package data ``speclang/grammars/`` (in a checkout, a symlink to
the repository's ``grammars/`` folder)."""

from __future__ import annotations

from importlib import resources
from typing import Any

from lark import Lark


def grammar_text(name: str) -> str:
    """The text of ``grammars/<name>``."""
    return resources.files("speclang").joinpath("grammars", name).read_text(encoding="utf-8")


def build_parser(**options: Any) -> Lark:
    """An LALR parser for ``spec.lark`` with start symbols ``start`` and ``formula_start``."""
    options = dict(parser="lalr", start=["start", "formula_start"], **options)
    return Lark.open_from_package("speclang", "spec.lark", ("grammars",), **options)
