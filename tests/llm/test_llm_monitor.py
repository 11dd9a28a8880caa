"""Text monitors: unit segmentation, per-row state, post-hoc verdicts, checked against the
reference evaluator on the letters the labeler produced and against hand-made cases."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

import speclang
from speclang.compiler import reference
from speclang.llm import TextMonitor, UnitStream, label_text

SPEC = r'''
observe reply: text
prop dosage = reply matches /\b\d+\s?mg\b/i
prop disclaimer = reply contains {"not a doctor", "consult a doctor"} @sentence
prop swear = reply contains "damn" @word
spec dd { G(dosage -> O disclaimer) }
spec clean { G !swear }
'''
MOD = speclang.loads(SPEC)


def _units(unit: str, pieces: list[str]) -> list[str]:
    s = UnitStream(unit)
    out = []
    for p in pieces:
        out += [s.text[u.start:u.end] for u in s.append(p)]
    out += [s.text[u.start:u.end] for u in s.finish()]
    return out


def test_word_and_sentence_units_do_not_depend_on_how_text_arrives() -> None:
    text = "Take 200 mg. I am not a doctor!  Rest\nwell."
    whole = _units("word", [text])
    assert whole == text.split()
    assert _units("word", list(text)) == whole
    assert _units("word", [text[:7], text[7:19], text[19:]]) == whole
    sentences = _units("sentence", list(text))
    assert sentences == ["Take 200 mg.", "I am not a doctor!", "Rest\nwell."]
    assert _units("sentence", [text]) == sentences


def test_dosage_spanning_two_words_is_seen_when_its_last_word_completes() -> None:
    mon = TextMonitor.from_module(MOD, "dd", unit="word")
    v = label_text(mon, "Take 200 mg of it.")
    assert v.violated and v.first_violation == 2 and v.steps[2].true == ("dosage",)
    assert "dosage" in v.explanation and "'mg'" in v.explanation


def test_disclaimer_first_makes_the_dosage_safe() -> None:
    for unit in ("token", "word", "sentence"):
        mon = TextMonitor.from_module(MOD, "dd", unit=unit)
        def pieces(text: str) -> list[str]:
            return [w + " " for w in text.split()]

        assert not label_text(mon, pieces("I am not a doctor. Take 200 mg daily.")).violated
        assert label_text(mon, pieces("Take 200 mg daily. I am not a doctor.")).violated


def test_batch_rows_keep_separate_states() -> None:
    mon = TextMonitor.from_module(MOD, "clean", unit="word")
    mon.reset(3)
    mon.feed(0, "fine text ")
    mon.feed(1, "oh damn ")
    mon.feed(2, "damnation is a word ")
    assert [mon.violated(r) for r in range(3)] == [False, True, False]
    assert mon.would_violate(0, "damn") and not mon.would_violate(0, "dam")


sentences = st.lists(st.sampled_from([
    "Take 200 mg now.", "I am not a doctor.", "Rest well.", "Oh damn.", "Consult a doctor.",
    "5mg is fine."]), min_size=1, max_size=6)


@settings(max_examples=50, deadline=None)
@given(sentences)
def test_sentence_monitor_agrees_with_reference_semantics(ss: list[str]) -> None:
    text = " ".join(ss)
    for spec in ("dd", "clean"):
        mon = TextMonitor.from_module(MOD, spec, unit="sentence")
        v = label_text(mon, text)
        trace = [set(s.true) for s in v.steps]
        assert len(trace) == len(ss)
        # The monitor's acceptance after each prefix = the reference semantics on it.
        for i in range(1, len(trace) + 1):
            expect = reference.evaluate(MOD.specs[spec].formula, trace[:i])
            assert (v.steps[i - 1].verdict in ("satisfied", "presumably_satisfied")) == expect
