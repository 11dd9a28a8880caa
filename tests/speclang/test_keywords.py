"""One keyword set: the words the grammar spells out (``grammars/*.lark``, as lark reads
them) are exactly ``speclang.compiler.keywords``' reserved and contextual keywords, which
the front end, the formatter and the compiler's printer all use."""

from __future__ import annotations

import re

import pytest

import speclang
from speclang import formatter, parser
from speclang import syntax as S
from speclang.compiler import ir
from speclang.compiler.keywords import CONTEXTUAL_KEYWORDS, DECLARATION_KEYWORDS, KEYWORDS
from speclang.grammar import build_parser

IDENT = re.compile(r"[a-z_][a-z0-9_]*")


def _grammar_words() -> set[str]:
    lark = build_parser()
    return {t.pattern.value for t in lark.terminals
            if t.pattern.type == "str" and IDENT.fullmatch(t.pattern.value)}


def test_the_grammar_spells_exactly_the_keywords() -> None:
    assert _grammar_words() == KEYWORDS | CONTEXTUAL_KEYWORDS
    assert not KEYWORDS & CONTEXTUAL_KEYWORDS
    assert set(DECLARATION_KEYWORDS) <= KEYWORDS


def test_every_layer_uses_the_one_set() -> None:
    assert S.KEYWORDS is KEYWORDS
    for word in KEYWORDS:  # a keyword as a proposition name is printed in quotes
        assert formatter.name_text(word) == f'"{word}"'
        assert ir.to_text(ir.Atom(word)) == f'"{word}"'
    for word in CONTEXTUAL_KEYWORDS:
        assert formatter.name_text(word) == word
        assert ir.to_text(ir.Atom(word)) == word
    assert parser.DECLARATION_KEYWORDS is DECLARATION_KEYWORDS


@pytest.mark.parametrize("word", sorted(KEYWORDS))
def test_a_reserved_word_is_no_name(word: str) -> None:
    with pytest.raises(speclang.SpecErrors):
        speclang.loads(f"props {word}\nspec s {{ G {word} }}")
    quoted = speclang.loads(f'props "{word}"\nspec s {{ G "{word}" }}')
    assert quoted.props == [word]


@pytest.mark.parametrize("word", sorted(CONTEXTUAL_KEYWORDS))
def test_a_contextual_keyword_is_a_name_elsewhere(word: str) -> None:
    m = speclang.loads(f"props {word}\nspec s {{ G {word} }}")
    assert m.props == [word]
