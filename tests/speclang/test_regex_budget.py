"""A catastrophic regular expression in a text proposition: ``check`` warns (W003) and
``monitor`` stops with a clear error within its time bound instead of hanging."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from speclang.cli import main
from speclang.model import (
    REGEX_TIMEOUT_S,
    PatternTimeout,
    TextPattern,
    linear_regex,
    risky_regex,
)

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.spec"))
SPEC = "observe reply: text\nprop bad = reply matches /(a|aa)+$/\nspec s { G !bad }\n"


@pytest.mark.parametrize("source", [r"(a+)+$", r"(a|aa)+$", r"(\w+\s?)+$", r"^(x+x+)+y"])
def test_nested_repetition_is_risky(source: str) -> None:
    assert risky_regex(source)


@pytest.mark.parametrize("source", [r"abc", r"(ab)+", r"\bfoo\b|bar", r"x*y*", r"\d+(?:[.,]\d+)?"])
def test_plain_patterns_are_not_risky(source: str) -> None:
    assert risky_regex(source) is None


def test_check_warns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "r.spec"
    p.write_text(SPEC)
    assert main(["check", str(p)]) == 0
    out = capsys.readouterr()
    assert "warning[W003]" in out.out + out.err


def test_examples_do_not_warn(capsys: pytest.CaptureFixture[str]) -> None:
    for path in EXAMPLES:
        main(["check", str(path)])
        out = capsys.readouterr()
        assert "W003" not in out.out + out.err, path


def test_evaluate_is_bounded() -> None:
    pat = TextPattern("reply", "matches", r"(a|aa)+$")
    start = time.perf_counter()
    with pytest.raises(PatternTimeout, match="catastrophically"):
        pat.evaluate("a" * 35 + "!")
    assert time.perf_counter() - start < REGEX_TIMEOUT_S * 4
    assert pat.evaluate("xaa") is True


def test_monitor_stops_instead_of_hanging(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "r.spec"
    p.write_text(SPEC)
    trace = tmp_path / "t.jsonl"
    trace.write_text(json.dumps({"reply": "b"}) + "\n" + json.dumps({"reply": "a" * 35 + "!"})
                     + "\n")
    start = time.perf_counter()
    rc = main(["monitor", str(p), "--spec", "s", "--trace", str(trace)])
    assert time.perf_counter() - start < 10
    out = capsys.readouterr()
    assert rc == 1
    assert f"{trace}:2: error: matching /(a|aa)+$/" in out.err
    assert out.out.count("\n") == 1  # the first step's verdict was printed


LINEAR = [r"\b(?:damn|hell|crap|shit)\b", r"(?<!\w)(?:doctor|nurse)(?!\w)", r"ab|c[de]",
          r"(?i:foo)bar"]


@pytest.mark.parametrize("source", LINEAR)
def test_repeat_free_patterns_are_linear(source: str) -> None:
    assert linear_regex(source)


@pytest.mark.parametrize("source", [r"(a+)+$", r"(a|aa)+$", r"x*y*", r"a\s+b", r"(a)\1",
                                    r"a{2}", "(?:" + "(?:ab|cd)" * 9 + ")"])
def test_repetition_backreferences_and_many_paths_are_not_linear(source: str) -> None:
    assert not linear_regex(source)


@pytest.mark.parametrize("source", LINEAR)
def test_linear_patterns_match_as_stdlib_re_does(source: str) -> None:
    # The unbounded path (no timeout) against an independent matcher, on texts built from
    # the patterns' own pieces so that matches happen.
    import random
    import re

    rng = random.Random(0)
    pieces = ["damn", "hell", "doctor", "nurse", "ab", "cd", "ce", "FOObar", "foobar", " ",
              "x", "-", "\n", "é"]
    pat = TextPattern("reply", "matches", source)
    oracle = re.compile(source)
    assert pat._linear
    for _ in range(300):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 8)))
        assert pat.evaluate(text) == (oracle.search(text) is not None), text
        assert pat.search(text) == (oracle.search(text) is not None), text
        offset = rng.randint(0, len(text))
        want = any(m.end() > offset for m in oracle.finditer(text))
        assert pat.ends_after(text, offset) == want, (text, offset)
    word = TextPattern("reply", "matches", source, granularity="word")
    for text in ("damn it", "hell-bent doctor", "xab cd", "nothing"):
        want = any(oracle.fullmatch(m.group()) for m in re.finditer(r"\w+(?:['\u2019-]\w+)*",
                                                                    text))
        assert word.evaluate(text) == want, text


def test_a_linear_pattern_stays_fast_on_a_long_text() -> None:
    pat = TextPattern("reply", "matches", LINEAR[0])
    start = time.perf_counter()
    assert pat.evaluate("hel" * 200_000 + " hell") is True
    assert time.perf_counter() - start < REGEX_TIMEOUT_S * 4
