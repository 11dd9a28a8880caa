"""A free formula (`-f`) declares no alphabet: a trace may mention propositions the formula
does not use (corpus traces over `a b c` for the formula `b`). They are ignored with one
warning per name; `--props` declares the alphabet and makes any other name an error."""

import json
from pathlib import Path

import pytest

from speclang.cli import main


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _trace(tmp_path: Path, steps: list[list[str]]) -> str:
    path = tmp_path / "trace.jsonl"
    path.write_text("".join(json.dumps(s) + "\n" for s in steps))
    return str(path)


def test_monitor_ignores_names_the_formula_does_not_use(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    noisy = _trace(tmp_path, [["a"], ["a", "b"], ["c"]])
    code, out, err = _run(capsys, "monitor", "-f", "b", "--trace", noisy)
    assert code == 0
    clean = _trace(tmp_path, [[], ["b"], []])
    _, expected, _ = _run(capsys, "monitor", "-f", "b", "--trace", clean)
    assert out == expected
    assert [json.loads(x)["verdict"] for x in out.splitlines()] == ["violated"] * 3
    assert err.count("warning:") == 2  # one per ignored name: a, c
    assert 'step 1 mentions "a"' in err and 'step 3 mentions "c"' in err


def test_props_declares_the_alphabet_and_rejects_other_names(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    trace = _trace(tmp_path, [["a"], ["lavaa"]])
    code, out, err = _run(capsys, "monitor", "-f", "G !lava", "--props", "a, lava",
                          "--trace", trace)
    assert code == 1 and out == ""
    assert ':2: error: unknown proposition "lavaa"' in err and 'did you mean "lava"' in err


def test_props_needs_a_formula(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    trace = _trace(tmp_path, [[]])
    spec = str(Path(__file__).resolve().parents[2] / "examples" / "minecraft.spec")
    code, _, err = _run(capsys, "monitor", spec, "--spec", "t1",
                        "--props", "a", "--trace", trace)
    assert code == 2 and "--props" in err


def test_explain_ignores_unused_names_too(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    trace = _trace(tmp_path, [["a"], ["b", "a"]])
    code, out, err = _run(capsys, "explain", "-f", "G !b", "--format", "json",
                          "--trace", trace)
    assert code == 0
    data = json.loads(out)
    assert "violated" in json.dumps(data)
    assert 'mentions "a"' in err
