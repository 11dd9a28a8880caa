"""The text labeller's fast paths (span and sentence granularity) match user patterns
only with the time bound of ``TextPattern.evaluate``: a catastrophic pattern gives a clear
error (or a bounded result) within seconds, never a hang (issue 18)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from speclang.cli import main

# Run in a child so that an unbounded match fails the test on the timeout instead of
# hanging the test run.
PROBE = textwrap.dedent("""
    import sys, time
    from speclang.llm.labels import TextLabeler, Unit
    from speclang.model import PatternTimeout, TextPattern
    source, text, granularity = sys.argv[1], sys.argv[2], sys.argv[3]
    lab = TextLabeler(["bad"], {"bad": TextPattern("reply", "matches", source,
                                                   granularity=granularity)})
    start = time.perf_counter()
    try:
        print("result", lab.holds("bad", text, Unit(0, len(text), 0)))
    except PatternTimeout as exc:
        print("timeout", exc)
    print(f"took {time.perf_counter() - start:.2f}")
""")


@pytest.mark.parametrize("granularity", ["span", "sentence"])
@pytest.mark.parametrize("source,text", [(r"(a+)+$", "a" * 40 + "b"),
                                         (r"(a|aa)+$", "a" * 35 + "!")])
def test_catastrophic_pattern_is_bounded(granularity: str, source: str, text: str) -> None:
    done = subprocess.run([sys.executable, "-c", PROBE, source, text, granularity],
                          capture_output=True, text=True, timeout=20)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(("result False", "timeout matching /")), done.stdout
    assert float(done.stdout.rsplit("took ", 1)[1]) < 5


def test_bounded_fast_paths_agree_with_re() -> None:
    from speclang.llm.labels import TextLabeler, Unit
    from speclang.model import TextPattern

    text = "Take 200 mg daily. See a doctor"
    for granularity in ("span", "sentence"):
        lab = TextLabeler(["dose", "doc"], {
            "dose": TextPattern("reply", "matches", r"\d+\s*mg", granularity=granularity),
            "doc": TextPattern("reply", "contains", TextPattern.keyword_regex(("doctor",)),
                               keywords=("doctor",), granularity=granularity)})
        whole = Unit(0, len(text), 19)  # the second sentence
        assert lab.holds("doc", text, whole) and not lab.holds("dose", text, whole)
        mg = Unit(9, 11, 0)  # "mg": the sentence so far now holds the dose
        assert lab.holds("dose", text, mg)
        daily = Unit(12, 17, 0)  # "daily": the dose ended before this unit began
        # A span only counts matches that end inside it; a sentence counts any so far.
        assert lab.holds("dose", text, daily) is (granularity == "sentence")


def test_chat_label_reports_a_catastrophic_pattern(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "r.spec"
    spec.write_text("observe reply: text\nprop bad = reply matches /(a|aa)+$/ @sentence\n"
                    "spec s { G !bad }\n")
    reply = tmp_path / "reply.txt"
    reply.write_text("a" * 35 + "!")
    code = main(["chat", str(spec), "--spec", "s", "--label", str(reply)])
    err = capsys.readouterr().err
    assert code == 1, err
    assert "internal error" not in err and "backtracks catastrophically" in err
