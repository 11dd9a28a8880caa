"""Rendering of diagnostics and edit-distance suggestions."""

from __future__ import annotations

from speclang.diagnostics import Span, did_you_mean, error, render, warning


def test_render_single_line_span_with_hint() -> None:
    d = error("E010", 'undeclared proposition "wod"', Span("f.spec", 2, 5, 2, 8),
              'did you mean "wood"?')
    assert render(d, "props wood\nG(!wod)\n") == (
        'f.spec:2:5: error[E010]: undeclared proposition "wod"\n'
        "  |\n"
        "2 | G(!wod)\n"
        "  |     ^^^\n"
        '  = hint: did you mean "wood"?'
    )


def test_render_multi_line_span_underlines_to_end_of_first_line() -> None:
    d = warning("W002", "definition never used", Span("f.spec", 1, 5, 3, 2))
    assert render(d, "def x = a &\n  b &\n  c\n").splitlines()[-1] == "  |     ^^^^^^^"


def test_render_long_line_shows_a_window_around_the_span() -> None:
    line = "a & " * 100 + "zz"
    col = len(line) - 1
    d = error("E010", "x", Span("f", 1, col, 1, col + 2))
    shown, carets = render(d, line).splitlines()[2:4]
    assert len(shown) <= 4 + 120
    assert shown.endswith("zz") and carets.endswith("^^")
    assert carets.index("^") == shown.index("zz")


def test_render_without_span_or_source() -> None:
    assert render(error("E005", "cannot read x", None), None) == "error[E005]: cannot read x"


def test_did_you_mean_prefers_close_names() -> None:
    assert did_you_mean("wod", ["wood", "iron", "lava"]) == 'did you mean "wood"?'
    assert did_you_mean("craeper", ["creeper", "lava"]) == 'did you mean "creeper"?'
    assert did_you_mean("lavaa", ["lava", "java"]) == 'did you mean "lava"?'
    assert did_you_mean("smith_tabel", ["smith_table"]) == 'did you mean "smith_table"?'
    assert did_you_mean("x", ["wood", "iron"]) is None
    assert did_you_mean("diamond", []) is None
