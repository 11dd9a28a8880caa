"""Loading the lark grammars (package data in a wheel, ``grammars/`` in a checkout)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from lark import Lark

_REPO_GRAMMARS = Path(__file__).resolve().parent.parent / "grammars"


def grammar_text(name: str) -> str:
    """The text of ``grammars/<name>``: installed copy first, then the repository's."""
    packaged = resources.files("speclang").joinpath("grammars", name)
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    return (_REPO_GRAMMARS / name).read_text(encoding="utf-8")


def build_parser(**options: Any) -> Lark:
    """An LALR parser for ``spec.lark`` with start symbols ``start`` and ``formula_start``.

    The wheel ships the grammars as ``speclang/grammars/``; an editable install reads the
    repository's ``grammars/`` folder.
    """
    options = dict(parser="lalr", start=["start", "formula_start"], **options)
    packaged = resources.files("speclang").joinpath("grammars", "spec.lark")
    if packaged.is_file():
        return Lark.open_from_package("speclang", "spec.lark", ("grammars",), **options)
    return Lark.open(str(_REPO_GRAMMARS / "spec.lark"), **options)
