"""Pure-past formulas *as written* against MONA's PPLTL (LTLf2DFA), exact languages.

The formulas are drawn as text, with `true`, `false` and `first` among the leaves, so the
parser's smart constructors simplify parts of them away (`H true & a` is `a` in the IR):
the step a formula is read at must still be decided on what was written (the last step for
pure past, docs/semantics.md). Each formula is compared with MONA on its state count, its
empty-trace acceptance and its whole language (a search of the product of both automata,
so every trace of every length).

``SPECLANG_PAST_DIFF_FORMULAS`` sets how many formulas are drawn (100 in CI; the long run
in docs/testing.md used 5,000), ``SPECLANG_PAST_DIFF_SEED`` the seed. Every LTLf2DFA call
goes through benchmarks/ltlf2dfa_ref.py, which holds its file lock.
"""

from __future__ import annotations

import os
import random

import pytest
from languages import difference, of_automaton, of_mona
from mona_ref import load_ref

import speclang
from speclang.compiler import compile_formula

pytestmark = pytest.mark.mona

PROPS = ("a", "b", "c")
COUNT = int(os.environ.get("SPECLANG_PAST_DIFF_FORMULAS", "100"))
SEED = int(os.environ.get("SPECLANG_PAST_DIFF_SEED", "17"))


# (speclang spelling, LTLf2DFA PPLTL spelling); `first` is spelt `WY(false)` there because
# LTLf2DFA 2.0's `start` recurses without end when negated into NNF.
_LEAVES = [("true", "true"), ("false", "false"), ("first", "WY(false)")]
_UNARY = [("!", "!"), ("Y", "Y"), ("Z", "WY"), ("O", "O"), ("H", "H")]
_BINARY = [("&", "&"), ("|", "|"), ("->", "->"), ("<->", "<->"), ("S", "S"), ("T", "P")]


def past_text(rng: random.Random, depth: int) -> tuple[str, str]:
    """A random pure-past formula as written, fully bracketed, in both syntaxes."""
    if depth == 0 or rng.random() < 0.25:
        if rng.random() < 0.35:
            return rng.choice(_LEAVES)
        p = rng.choice(PROPS)
        return p, p
    if rng.random() < 0.45:
        ours, theirs = rng.choice(_UNARY)
        a, b = past_text(rng, depth - 1)
        return f"{ours}({a})", f"{theirs}({b})"
    ours, theirs = rng.choice(_BINARY)
    la, lb = past_text(rng, depth - 1)
    ra, rb = past_text(rng, depth - 1)
    return f"({la}) {ours} ({ra})", f"({lb}) {theirs} ({rb})"


def constant_past_text(rng: random.Random, depth: int) -> tuple[str, str]:
    """A past formula over `true` and `false` only, which the IR often simplifies away."""
    if depth == 0:
        return rng.choice(_LEAVES[:2])
    if rng.random() < 0.6:
        ours, theirs = rng.choice(_UNARY)
        a, b = constant_past_text(rng, depth - 1)
        return f"{ours}({a})", f"{theirs}({b})"
    ours, theirs = rng.choice(_BINARY)
    la, lb = constant_past_text(rng, depth - 1)
    ra, rb = constant_past_text(rng, depth - 1)
    return f"({la}) {ours} ({ra})", f"({lb}) {theirs} ({rb})"


def edge_text(rng: random.Random) -> tuple[str, str]:
    """Half the draws: a formula joined with a constant past part, as `H(true) & a` is, so
    that the past operators may all vanish in the IR (about 1 in 100 plain draws does)."""
    if rng.random() < 0.5:
        return past_text(rng, rng.randint(1, 4))
    ours, theirs = past_text(rng, rng.randint(0, 2))
    cours, ctheirs = constant_past_text(rng, rng.randint(1, 2))
    op = rng.choice(_BINARY[:4])
    if rng.random() < 0.5:
        return f"({ours}) {op[0]} ({cours})", f"({theirs}) {op[1]} ({ctheirs})"
    return f"({cours}) {op[0]} ({ours})", f"({ctheirs}) {op[1]} ({theirs})"


def _temporal(text: str) -> bool:
    return any(op in text for op in ("Y(", "Z(", "O(", "H(", ") S (", ") T (", "first"))


def compare(ours: str, theirs: str) -> str | None:
    """Why ``ours`` (speclang) and ``theirs`` (PPLTL) differ, or None."""
    mona = load_ref().mona_dfa(theirs, past=True)
    aut = compile_formula(speclang.parse_formula(ours))
    if aut.n_states != mona.n_states:
        return f"{aut.n_states} states, MONA {mona.n_states}"
    trace = difference(of_automaton(aut), of_mona(mona), PROPS)
    if trace is not None:
        return f"languages differ on {[sorted(x) for x in trace]}"
    return None


# The simplifier removes the past part of these before the reading step was decided; MONA:
# 2 states each, `a` (or `b`) at the last step.
SIMPLIFIED = [
    ("H(true) & a", "(H(true)) & (a)"),
    ("Z(true) -> a", "(WY(true)) -> (a)"),
    ("a & !Y(false)", "(a) & (!(Y(false)))"),
    ("a | O(false)", "(a) | (O(false))"),
    ("(Y a | !Y a) & b", "((Y(a)) | (!(Y(a)))) & (b)"),
    ("!a & H true", "(!(a)) & (H(true))"),
    ("H true", "H(true)"),
]


@pytest.mark.parametrize(("ours", "theirs"), SIMPLIFIED)
def test_simplified_pure_past_is_read_at_the_last_step(ours: str, theirs: str) -> None:
    assert compare(ours, theirs) is None


def test_random_pure_past_formulas_as_written_match_mona() -> None:
    rng = random.Random(SEED)
    checked, bad = 0, []
    while checked < COUNT:
        ours, theirs = edge_text(rng)
        if not _temporal(ours):
            continue  # no past operator written: not a PPLTL formula, read at the first step
        checked += 1
        why = compare(ours, theirs)
        if why is not None:
            bad.append(f"{ours}: {why}")
    print(f"{checked} pure-past formulas compared with MONA (seed {SEED}): {len(bad)} differ")
    assert not bad, "\n".join(bad[:20])


# W004's hint: a pure-past P conjoined with future parts is read at the first step; written
# as `F(last & (P))` it is read at the last step, as P alone is. Same language as MONA's P on
# every non-empty trace (the empty trace aside: P alone may accept it, `F(...)` never does).
HINTED = [("H a", "H(a)"), ("O a", "O(a)"), ("a S b", "(a) S (b)"),
          ("Y a | H b", "(Y(a)) | (H(b))"), ("!O(a & Y b)", "!(O((a) & (Y(b))))")]


@pytest.mark.parametrize(("ours", "theirs"), HINTED)
def test_the_w004_rewrite_reads_the_past_part_at_the_last_step(ours: str, theirs: str) -> None:
    from languages import View

    mona = load_ref().mona_dfa(theirs, past=True)
    aut = speclang.compile_formula(f"F(last & ({ours}))")
    assert not aut.accepting[aut.initial]
    them = of_mona(mona)
    # The empty trace is the one difference allowed: MONA's start state made rejecting.
    nonempty = View(("start",), lambda q, letter: them.step(
        them.initial if q == ("start",) else q, letter),
        lambda q: q != ("start",) and them.accepting(q))
    assert difference(of_automaton(aut), nonempty, PROPS) is None
