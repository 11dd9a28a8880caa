"""Lexical propositions in spec files: parsing, checks, formatting, and evaluation against
plain `re` as the oracle."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import speclang
from speclang.cli import main
from speclang.model import TextPattern

ROOT = Path(__file__).resolve().parents[2]

SPEC = r'''
observe reply: text
prop dosage = reply matches /\b\d+\s?mg\b/i
prop disclaimer = reply contains {"consult a doctor", "not medical advice"} @sentence
prop swear = reply contains "damn" @word
spec s { G(dosage -> O disclaimer) & G !swear }
'''


def test_text_props_lower_to_patterns() -> None:
    m = speclang.loads(SPEC)
    assert m.observables["reply"].kind == "text"
    assert set(m.atoms) == {"dosage", "disclaimer", "swear"}
    dosage, disc, swear = m.derived["dosage"], m.derived["disclaimer"], m.derived["swear"]
    assert isinstance(dosage, TextPattern) and dosage.flags == "i"
    assert dosage.granularity == "span" and disc.granularity == "sentence"
    assert dosage.evaluate("Take 200MG now") and not dosage.evaluate("Take 200 kg now")
    assert disc.evaluate("Please CONSULT  a\ndoctor first.")
    assert not disc.evaluate("consult a doctorate")  # keywords end on word boundaries
    assert swear.evaluate("well damn it") and not swear.evaluate("damnation")


def test_text_props_format_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "t.spec"
    p.write_text(SPEC.lstrip())
    assert main(["fmt", str(p)]) == 0
    out = capsys.readouterr().out
    assert 'prop swear = reply contains {"damn"} @word' in out
    again = tmp_path / "u.spec"
    again.write_text(out)
    assert speclang.load(str(again)).derived == speclang.load(str(p)).derived


@pytest.mark.parametrize(("line", "code", "where"), [
    ("prop a = reply matches /(x/", "E024", "3:24"),
    ("prop a = reply matches /x/z", "E024", "3:24"),
    ("prop a = reply matches /a{99999999999}/", "E024", "3:24"),
    ('prop a = reply contains {"x"} @phrase', "E024", "3:31"),
    ('prop a = reply contains {"  "}', "E024", "3:25"),
    ("prop a = hp matches /x/", "E017", "3:21"),
    ("prop a = reply > 3", "E017", "3:1"),
    ("prop a = reply matches x", "E001", "3:24"),
])
def test_bad_text_props_are_reported_with_position(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str, code: str,
        where: str) -> None:
    p = tmp_path / "bad.spec"
    p.write_text(f"observe reply: text, hp: float\n\n{line}\nspec s {{ G !a }}\n")
    assert main(["check", str(p)]) == 1
    out = capsys.readouterr().err
    assert f"bad.spec:{where}: error[{code}]" in out


def test_chatbot_example_declares_its_props_lexically() -> None:
    m = speclang.load(str(ROOT / "examples" / "chatbot.spec"))
    for name in ("dosage", "disclaimer", "referral", "profanity"):
        assert isinstance(m.derived[name], TextPattern)


words = st.lists(st.sampled_from(["take", "200", "mg", "200mg", "a", "Doctor", "consult",
                                  "not", "medical", "advice", "."]), max_size=8)


@settings(max_examples=60, deadline=None)
@given(words)
def test_keyword_sets_agree_with_a_tokenised_oracle(ws: list[str]) -> None:
    text = " ".join(ws)
    pat = speclang.loads(SPEC).derived["disclaimer"]
    # Oracle: compare lowercase word sequences (words here never touch punctuation).
    low = [w.lower() for w in ws]
    phrases = [["consult", "a", "doctor"], ["not", "medical", "advice"]]
    expect = any(low[i:i + len(p)] == p for p in phrases for i in range(len(low)))
    assert pat.evaluate(text) == expect
    dosage = speclang.loads(SPEC).derived["dosage"]
    assert dosage.evaluate(text) == bool(re.search(r"\b\d+\s?mg\b", text, re.I))
