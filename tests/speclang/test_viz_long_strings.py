"""A proposition name over Graphviz's 16 KB quoted-string limit: ``viz`` still renders
(labels cut with an ellipsis) instead of exiting 3 with dot's syntax error."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from speclang.cli import main
from speclang.compiler.viz import MAX_DOT_STRING, _q


def test_dot_strings_are_bounded() -> None:
    assert len(_q("x" * 50_000)) <= MAX_DOT_STRING + 2
    assert _q("short") == '"short"'


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz dot not installed")
def test_viz_of_a_huge_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    name = "p" + "x" * 17_000
    spec = tmp_path / "big.spec"
    spec.write_text(f"props a, {name}\nspec s {{ G(a -> F {name}) }}\n")
    out = tmp_path / "big.svg"
    assert main(["viz", str(spec), "--spec", "s", "-o", str(out)]) == 0
    assert "internal error" not in capsys.readouterr().err
    assert out.stat().st_size > 0
