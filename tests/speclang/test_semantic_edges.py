"""Regression tests for the four semantic edges of issue 17, found by an independent checker.

1. The step a formula is read at (last for pure past, first otherwise) is decided on the
   formula as written, also through definitions and template arguments, not after the IR's
   simplifications.
2. `last` under `->`/`<->` keeps LTLf2DFA's empty-trace reading through definitions and
   template arguments: a spec means what its expansion means.
3. A future operator under a past one is a located `check` error (E025), and the other specs
   of the file still compile, draw and report.
4. A pure-past conjunct of a spec with future operators, read at the first step, is warned
   about (W004).

The MONA values (state counts, empty-trace acceptance) were read off LTLf2DFA 2.0 + MONA
1.4; tests/compiler/test_past_reading_mona.py checks them against the live tools.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

import speclang
from speclang import compile_formula
from speclang.cli import main
from speclang.compiler import compile_spec

Trace = list[set[str]]


def _traces(props: tuple[str, ...], up_to: int = 3) -> list[Trace]:
    letters = [set(c) for n in range(len(props) + 1) for c in itertools.combinations(props, n)]
    return [list(t) for n in range(up_to + 1) for t in itertools.product(letters, repeat=n)]


def _at_last(prop: str, negated: bool = False):  # noqa: ANN202
    return lambda t: bool(t) and ((prop in t[-1]) != negated)


# --- 1. the step a formula is read at ----------------------------------------------------

# (formula, MONA's states, MONA's empty-trace acceptance, the language on non-empty traces)
SIMPLIFIED_PAST = [
    ("H(true) & a", 2, False, _at_last("a")),
    ("Z(true) -> a", 2, False, _at_last("a")),
    ("a & !Y(false)", 2, False, _at_last("a")),
    ("a | O(false)", 2, False, _at_last("a")),
    ("(Y a | !Y a) & b", 2, False, _at_last("b")),
    ("!a & H true", 2, True, _at_last("a", negated=True)),
]


@pytest.mark.parametrize(("text", "states", "empty", "language"), SIMPLIFIED_PAST)
def test_pure_past_as_written_is_read_at_the_last_step(text, states, empty, language) -> None:
    aut = compile_formula(speclang.parse_formula(text))
    assert aut.n_states == states
    assert bool(aut.accepting[aut.initial]) is empty
    for trace in _traces(("a", "b"))[1:]:
        assert aut.accepts(trace) == language(trace), trace


def test_mixed_as_written_is_read_at_the_first_step() -> None:
    # `WX true` is simplified away, leaving the pure-past `O a`; as written it is mixed, so
    # `O a` is read at the first step, where it means `a` (LTLf `a`: 3 states).
    aut = compile_formula(speclang.parse_formula("WX(true) & O(a)"))
    assert aut.n_states == 3
    assert not aut.accepting[aut.initial]
    for trace in _traces(("a",))[1:]:
        assert aut.accepts(trace) == ("a" in trace[0]), trace


def _spec(text: str, name: str = "s"):  # noqa: ANN202
    return compile_spec(speclang.loads(text), name)


@pytest.mark.parametrize(("defs", "body", "expanded"), [
    ("def hist(p) = H p", "hist(true) & a", "H(true) & a"),
    ("def both(p, q) = p & q", "both(H true, a)", "H(true) & a"),
    ("def t = H true", "t & a", "H(true) & a"),
    ("def wx(p) = WX p", "wx(true) & O a", "WX(true) & O(a)"),
    ("def k(p) = p & O a", "k(WX true)", "WX(true) & O(a)"),
])
def test_the_reading_step_goes_through_definitions(defs, body, expanded) -> None:
    aut = _spec(f"props a\n{defs}\nspec s {{ {body} }}\n")
    ref = compile_formula(speclang.parse_formula(expanded))
    assert aut.n_states == ref.n_states
    for trace in _traces(("a",), 4):
        assert aut.accepts(trace) == ref.accepts(trace), trace


def test_conjuncts_are_read_at_the_step_of_their_spec() -> None:
    # Explanations compile each conjunct alone: it must mean what it means in the spec.
    module = speclang.loads("props a, b\nspec mixed { H a & F b }\nspec past { H a & b }\n")
    h_a = compile_formula(module.specs["mixed"].conjuncts[0].formula)
    assert h_a.accepts([{"a"}, set()])  # `H a` at the first step: `a` there
    b = compile_formula(module.specs["past"].conjuncts[1].formula)
    assert b.accepts([set(), {"b"}]) and not b.accepts([{"b"}, set()])  # at the last step


# --- 2. `last` under `->` through definitions ----------------------------------------------

EXPANSIONS = [
    ("!a -> lastp", "!a -> last"),
    ("imp(!a, last)", "!a -> last"),
    ("imp(!a, lastp)", "!a -> last"),
    ("eqv(last, a)", "last <-> a"),
    ("imp(b, orl(c))", "b -> (c | last)"),
    ("!imp(a, lastp)", "!(a -> last)"),
    ("G(imp(a, last))", "G(a -> last)"),
    ("orl(a) & b", "(a | last) & b"),
]
DEFS = ("props a, b, c\ndef lastp = last\ndef imp(p, r) = p -> r\ndef eqv(p, r) = p <-> r\n"
        "def orl(p) = p | last\n")


@pytest.mark.parametrize(("body", "expanded"), EXPANSIONS)
def test_last_under_implication_means_its_expansion(body: str, expanded: str) -> None:
    aut = _spec(f"{DEFS}spec s {{ {body} }}\n")
    ref = _spec(f"props a, b, c\nspec s {{ {expanded} }}\n")
    assert aut.n_states == ref.n_states
    assert bool(aut.accepting[aut.initial]) == bool(ref.accepting[ref.initial])
    for trace in _traces(("a", "b", "c"), 2):
        assert aut.accepts(trace) == ref.accepts(trace), trace


def test_the_mona_values_of_last_through_a_definition() -> None:
    # MONA: `!a -> last` has 4 states and rejects the empty trace
    aut = _spec(f"{DEFS}spec s {{ !a -> lastp }}\n")
    assert aut.n_states == 4 and not aut.accepting[aut.initial]


# --- 3. future inside past: a located error, the other specs still compile ---------------

BAD = """props a, b
def ev = F b
def seen(p) = O p
spec good { G(a -> O b) }
spec direct { G(a -> O(F b)) }
spec through_def { G(a -> O ev) }
spec through_arg { G(a -> seen(F b)) }
"""


@pytest.fixture()
def bad_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)
    Path("bad.spec").write_text(BAD, encoding="utf-8")
    return "bad.spec"


def test_check_reports_future_inside_past_located(bad_file, capsys) -> None:
    assert main(["check", bad_file]) == 1
    err = capsys.readouterr().err
    assert 'bad.spec:5:23: error[E025]: future operator "F" inside past operator "O" is not ' \
           "supported" in err
    assert "5 | spec direct { G(a -> O(F b)) }" in err and "^^^^^" in err
    assert 'bad.spec:6:29: error[E025]: definition "ev" (it has future operators) inside ' \
           'past operator "O"' in err
    assert 'bad.spec:7:32: error[E025]: future operator "F" inside past operator "O" of ' \
           'template "seen"' in err
    assert "= hint: a past operator's operand is decided by the steps seen so far" in err
    assert "bad.spec: 3 errors" in err


def test_load_raises_but_keep_going_leaves_only_the_bad_specs_out(bad_file) -> None:
    with pytest.raises(speclang.SpecErrors) as exc:
        speclang.load(bad_file)
    assert {d.code for d in exc.value.errors} == {"E025"}
    module = speclang.load(bad_file, keep_going=True)
    assert list(module.specs) == ["good"]
    assert list(module.rejected) == ["direct", "through_def", "through_arg"]
    assert module.spec_names == ["good", "direct", "through_def", "through_arg"]


def test_compile_compiles_the_other_specs_and_locates_the_bad_ones(bad_file, capsys) -> None:
    assert main(["compile", bad_file, "-o", "out/"]) == 1
    captured = capsys.readouterr()
    assert captured.out.startswith("good: ")
    assert Path("out/good.json").is_file() and not Path("out/direct.json").exists()
    assert "bad.spec:5:23: error[E025]" in captured.err
    assert "bad.spec: not compiled: direct, through_def, through_arg" in captured.err
    assert "internal error" not in captured.err
    assert main(["compile", bad_file, "--spec", "good"]) == 0
    assert main(["compile", bad_file, "--spec", "through_arg"]) == 1
    assert "bad.spec:7:32: error[E025]" in capsys.readouterr().err


def test_viz_and_report_spec_still_work_for_the_good_spec(bad_file, capsys) -> None:
    assert main(["viz", bad_file, "--spec", "good"]) == 0
    assert capsys.readouterr().out.startswith("digraph")
    assert main(["viz", bad_file, "--spec", "direct"]) == 1
    assert "bad.spec:5:23: error[E025]" in capsys.readouterr().err
    assert main(["report-spec", bad_file, "-o", "page.html"]) == 1
    err = capsys.readouterr().err
    assert "wrote page.html (1 specs)" in err and "bad.spec:6:29: error[E025]" in err
    assert "good" in Path("page.html").read_text(encoding="utf-8")


def test_explain_and_monitor_locate_a_bad_spec(bad_file, capsys) -> None:
    for command in ("explain", "monitor"):
        assert main([command, bad_file, "--spec", "direct", "--trace", "a"]) == 1
        assert "bad.spec:5:23: error[E025]" in capsys.readouterr().err


FREE = "G(a -> O(F b))"
FREE_LOCATED = [
    '<formula>:1:9: error[E025]: future operator "F" inside past operator "O" is not supported',
    "1 | G(a -> O(F b))",
    "  |         ^^^^^",
    "= hint: a past operator's operand is decided by the steps seen so far",
]


@pytest.mark.parametrize("argv", [
    ["compile", "-f", FREE], ["compile", "-f", FREE, "-o", "out.json"], ["viz", "-f", FREE],
    ["explain", "-f", FREE, "--trace", "a"], ["monitor", "-f", FREE, "--trace", "a"],
])
def test_a_free_formula_gets_the_located_error_check_gives(argv, tmp_path, monkeypatch,
                                                           capsys) -> None:
    monkeypatch.chdir(tmp_path)
    Path("a").write_text("[]\n", encoding="utf-8")
    assert main(argv) == 1
    captured = capsys.readouterr()
    for line in FREE_LOCATED:
        assert line in captured.err
    assert "unsupported formula" not in captured.err and captured.out == ""
    assert not Path("out.json").exists()


def test_the_column_is_that_of_the_offending_subformula(capsys) -> None:
    assert main(["compile", "-f", "x & H(a -> Y(b U c))"]) == 1
    err = capsys.readouterr().err
    assert '<formula>:1:13: error[E025]: future operator "U" inside past operator "Y"' in err
    assert "  |             ^^^^^^^" in err


def test_python_m_compile_f_is_located_too(tmp_path) -> None:
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root), "NO_COLOR": "1"}
    done = subprocess.run([sys.executable, "-m", "speclang", "compile", "-f", FREE],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert done.returncode == 1 and done.stdout == ""
    for line in FREE_LOCATED:
        assert line in done.stderr
    assert "Traceback" not in done.stderr


def test_the_python_api_still_raises_unsupported_formula() -> None:
    from speclang.compiler import UnsupportedFormula

    with pytest.raises(UnsupportedFormula):
        compile_formula(FREE)
    with pytest.raises(speclang.SpecErrors) as exc:
        speclang.parse_formula(FREE, tenses=True)
    [d] = exc.value.errors
    assert (d.code, d.span.line, d.span.col) == ("E025", 1, 9)
    speclang.parse_formula("G(a -> O b) & F(c & O d)", tenses=True)  # past under future is fine


# --- 4. pure past conjoined with future parts ----------------------------------------------


def _codes(text: str, tmp_path: Path) -> list:
    path = tmp_path / "w.spec"
    path.write_text(text, encoding="utf-8")
    diags, _ = speclang.check_file(str(path))
    return [d for d in diags if d.code == "W004"]


def test_pure_past_conjunct_of_a_mixed_spec_is_warned_about(tmp_path: Path) -> None:
    [w] = _codes("props a\nspec s { H a & F true }\n", tmp_path)
    assert (w.span.line, w.span.col, w.span.end_col) == (2, 10, 13)
    assert w.severity == "warning"
    assert 'pure-past "H a" is read at the first step of the trace, not the last' in w.message
    assert "`F(last & (H a))`" in w.hint and "`G(H a)`" in w.hint


def test_the_warning_goes_through_definitions(tmp_path: Path) -> None:
    [w] = _codes("props lava, goal\ndef safe = H !lava\nspec s { safe & F goal }\n", tmp_path)
    assert (w.span.line, w.span.col) == (3, 10)


@pytest.mark.parametrize("body", ["H a & b", "G a & F b", "G(H a) & F b", "F(last & H a)",
                                  "H a"])
def test_no_warning_where_nothing_moves(body: str, tmp_path: Path) -> None:
    assert _codes(f"props a, b\nspec s {{ {body} }}\n", tmp_path) == []


def test_what_the_warning_says_is_true() -> None:
    # `H a` alone is violated on [a], []; conjoined with `F true` it is read at the first step
    # and satisfied; the hint's `F(last & (H a))` keeps the last-step reading.
    trace = [{"a"}, set()]
    assert not compile_formula("H a").accepts(trace)
    assert compile_formula("H a & F true").accepts(trace)
    assert not compile_formula("F(last & (H a)) & F true").accepts(trace)
