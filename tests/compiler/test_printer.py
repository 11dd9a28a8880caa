"""The one user-syntax printer of formulas (``ir.to_text``), checked against the front end's
parser as the independent oracle: the printed text parses back to the very same formula
(the parser's lowering builds it with the same smart constructors), and every pair of
parentheses it prints is needed by the precedence ladder of grammars/formula.lark."""

from __future__ import annotations

import html

import pytest
from hypothesis import given, settings
from ltlf_gen import future_formulas

import speclang
from speclang.compiler import artifact, ir
from speclang.compiler.explain import explain_trace
from speclang.compiler.viz import to_dot
from speclang.testing import formulas


def _paren_pairs(text: str) -> list[tuple[int, int]]:
    pairs, open_at = [], []
    quoted = False
    for i, ch in enumerate(text):
        if ch == '"' and (i == 0 or text[i - 1] != "\\"):
            quoted = not quoted
        elif not quoted and ch == "(":
            open_at.append(i)
        elif not quoted and ch == ")":
            pairs.append((open_at.pop(), i))
    assert not open_at, text
    return pairs


def _check(f: ir.Formula, compact: bool) -> None:
    text = ir.to_text(f, compact=compact)
    assert speclang.parse_formula(text) is f, text
    for i, j in _paren_pairs(text):
        bare = text[:i] + " " + text[i + 1 : j] + " " + text[j + 1 :]
        try:
            again = speclang.parse_formula(bare)
        except speclang.SpecErrors:
            continue
        assert again is not f, f"redundant parentheses at {i}..{j} in {text!r}"


@settings(max_examples=300, deadline=None)
@given(formulas(["a", "b", "c"], max_depth=3))
def test_printed_text_parses_back_without_redundant_parentheses(f: ir.Formula) -> None:
    _check(f, compact=False)
    _check(f, compact=True)


@settings(max_examples=200, deadline=None)
@given(future_formulas(("a", "b", "c"), max_leaves=8, past=True))
def test_printed_text_parses_back_for_implications_and_past(f: ir.Formula) -> None:
    _check(f, compact=False)
    _check(f, compact=True)


@pytest.mark.parametrize(
    ("written", "printed"),
    [
        ("a -> b -> c", "a -> b -> c"),
        ("(a -> b) -> c", "(a -> b) -> c"),
        ("!(a & b) | c", "a & b -> c"),
        ("a | b -> c", "a | b -> c"),
        ("(a | b) & c", "c & (a | b)"),
        ("!a | !b", "!a | !b"),
        ("a U b U c", "a U b U c"),
        ("(a U b) U c", "(a U b) U c"),
        ("!(a U b)", "!(a U b)"),
        ("X F a", "X F a"),
        ("G (a -> F[0,3] b)", "G (a -> b | X (b | X (b | X b)))"),
        ('"A" & "true"', '"A" & "true"'),
    ],
)
def test_hand_cases(written: str, printed: str) -> None:
    f = speclang.parse_formula(written)
    assert ir.to_text(f) == printed
    _check(f, compact=False)
    _check(f, compact=True)


def test_compact_folds_bounded_operators_as_written() -> None:
    f = speclang.parse_formula("G(a -> F[0,3] b) & X[3] c & G[0,2] !d")
    assert ir.to_text(f, compact=True) == "X[3] c & G (a -> F[0,3] b) & G[0,2] !d"


def test_deep_formulas_print_without_recursion_and_parse_back() -> None:
    # Deeper than the recursive printer goes (the explicit-stack walk prints it), and
    # within the parser's nesting limit of 256.
    a, b, c = ir.Atom("a"), ir.Atom("b"), ir.Atom("c")
    inner = ir.NextN(100, ir.Until(b, ir.And(a, ir.Or(b, c))))
    f = ir.Implies(c, ir.NextN(110, ir.Implies(a, inner)))
    assert f.depth > 200
    text = ir.to_text(f)
    assert text == "c -> " + "X " * 109 + "X (a -> " + "X " * 99 + "X (b U (a & (b | c))))"
    assert speclang.parse_formula(text) is f


def test_every_consumer_shows_the_printed_text() -> None:
    # Titles, obligations, explanations and artifacts all quote the build-time text.
    f = speclang.parse_formula("G (req -> F[0,2] grant) & G !bad")
    aut = speclang.compile_formula(f, name="resp")
    assert aut.formula == aut.residuals[aut.initial] == ir.to_text(f, compact=True)
    assert aut.formula == "G !bad & G (req -> F[0,2] grant)"
    dot = to_dot(aut)
    assert f'tooltip="{aut.formula}"' in dot
    assert f"resp: {html.escape(aut.formula)}" in dot
    assert artifact.to_json(aut)["formula"] == aut.formula
    e = explain_trace(f, [{"req"}])
    assert e.formula == aut.formula
    assert e.steps[0].residual == aut.residuals[e.steps[0].state]
    assert "->" in e.steps[0].residual
