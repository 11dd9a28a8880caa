"""Fuzzing the front end: strings generated from the grammar itself and mutated example
files must produce a result or diagnostics, never any other exception."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.lark import LarkStrategy
from lark.grammar import NonTerminal

import speclang
from speclang.analysis import Program
from speclang.formatter import format_file
from speclang.grammar import build_parser
from speclang.parser import parse_bytes, parse_text

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.spec"))
_GRAMMAR = build_parser()


# Fast generators for the regex terminals (hypothesis' from_regex + filter on the grammar's
# own patterns dominated the run time). They cover keywords-as-names, escapes, odd numbers.
_TERMINALS: dict[str, st.SearchStrategy[str]] = {
    "IDENT": st.one_of(st.sampled_from(["a", "lava", "next", "nextstep", "_x1", "x", "end"]),
                       st.from_regex(r"[a-z_][a-z0-9_]{0,5}", fullmatch=True)),
    "STRING": st.sampled_from(['"a"', '"door open"', '"q\\"x"', '""', '"\\\\"', '"é"']),
    "INT": st.sampled_from(["0", "1", "3", "10", "1000", "1001", "99999999999999999999"]),
    "NUMBER": st.sampled_from(["0", "-1", "2.5", ".5", "1e3", "-0.0", "30"]),
    "COMMENT": st.sampled_from(["# c", "// c", "#pragma next = weak", "#pragma x", "#"]),
    "WS": st.sampled_from([" ", "\n", "\t", "\r\n", "  \n "]),
}


def _from_grammar(start: str) -> LarkStrategy:
    """``from_lark`` over our grammar, with each rule's alternatives weighted 24:1 toward
    those with the fewest nonterminals. Uniform choice makes the expected size of a formula
    infinite (each of the seven precedence levels may branch), so nearly every draw overran
    and generation stalled; the weighting keeps the same language."""
    terminals, _rules, _ignore = _GRAMMAR.grammar.compile([start], ())
    names = {t.name for t in terminals}
    explicit = {k: v for k, v in _TERMINALS.items() if k in names}
    strategy = LarkStrategy(_GRAMMAR, start, explicit, st.characters(codec="utf-8"))
    for name, choice in list(strategy.nonterminal_strategies.items()):
        expansions = list(choice.elements)  # type: ignore[attr-defined]
        fewest = min(sum(isinstance(x, NonTerminal) for x in e) for e in expansions)
        simple = [e for e in expansions if sum(isinstance(x, NonTerminal) for x in e) == fewest]
        strategy.nonterminal_strategies[name] = st.integers(0, 99).flatmap(
            lambda i, simple=simple, every=expansions: st.sampled_from(
                simple if i < 96 else every))
    return strategy
_FUZZ = settings(max_examples=200, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
# Drawing from the grammar costs ~50 ms an example; 100 keeps the suite's share small.
_GRAMMAR_FUZZ = settings(_FUZZ, max_examples=100)


def _check_text(text: str, path: str) -> list[speclang.Diagnostic]:
    program = Program()
    program.load_text(text, path)
    program.check()
    if not program.errors:
        speclang.loads(text, path)  # lowering must succeed whenever checking does
    return program.diagnostics


@_GRAMMAR_FUZZ
@given(_from_grammar("start"))
def test_grammar_generated_files(text: str) -> None:
    diags = _check_text(text, "<fuzz>")
    assert all(d.code[0] in "EW" for d in diags)
    res = parse_text(text, "<fuzz>")
    if res.file is not None and not res.diagnostics:
        # Anything that parses also survives the formatter unchanged in meaning.
        formatted = format_file(res.file, text)
        again = parse_text(formatted, "<fuzz>")
        assert again.file == res.file, formatted


@_GRAMMAR_FUZZ
@given(_from_grammar("formula_start"))
def test_grammar_generated_formulas(text: str) -> None:
    try:
        speclang.parse_formula(text)
    except speclang.SpecErrors as exc:
        assert exc.diagnostics and all(d.code.startswith("E") for d in exc.diagnostics)


_PIECES = ["(", ")", "{", "}", "[", "]", ",", "!", "&", "|", "->", "U", "X[", "F[2,",
           '"', "#", "//", "\n", " ", "props", "spec", "def", "import", "=", "<", "==", "0",
           "\xff", "\x00", "é", "a", "Z", "G", "\\", ":", ".."]


@st.composite
def _mutated_example(draw: st.DrawFn) -> tuple[bytes, str]:
    path = draw(st.sampled_from(EXAMPLES))
    data = bytearray(path.read_bytes())
    for _ in range(draw(st.integers(1, 6))):
        pos = draw(st.integers(0, len(data)))
        kind = draw(st.integers(0, 3))
        if kind == 0 and data:  # delete a run
            del data[pos : pos + draw(st.integers(1, 8))]
        elif kind == 1:  # insert a token-like piece
            data[pos:pos] = draw(st.sampled_from(_PIECES)).encode("utf-8", "surrogatepass")
        elif kind == 2 and data:  # flip a byte
            data[min(pos, len(data) - 1)] = draw(st.integers(0, 255))
        else:  # duplicate a slice (repeated declarations, unbalanced brackets)
            end = min(len(data), pos + draw(st.integers(1, 40)))
            data[pos:pos] = data[pos:end]
    return bytes(data), str(path.relative_to(ROOT))


@_FUZZ
@given(_mutated_example())
def test_mutated_examples(case: tuple[bytes, str]) -> None:
    data, rel = case
    res = parse_bytes(data, rel)
    assert all(d.code[0] in "EW" for d in res.diagnostics)
    if res.file is None:
        assert any(d.is_error for d in res.diagnostics)
        return
    _check_text(res.source, str(ROOT / rel))
