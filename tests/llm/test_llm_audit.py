"""Auditing the judge (speclang.llm.audit, `speclang audit`). The rounds are worked out by
hand on a 2-d fake encoder: a text "aT" is the unit vector at T degrees, so an exemplar
labeler with a positive at 0 and a negative at 180 scores 2 cos(T)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from speclang.cli import main
from speclang.llm.audit import Agreement, ExemplarEvaluator, agreement, audit
from speclang.llm.learned import ExemplarLabeler, HashingEncoder


class AngleEncoder:
    spec = {"kind": "hashing", "dim": 8}

    def embed(self, texts):  # noqa: ANN001, ANN201
        rad = [math.radians(float(t.lstrip("a"))) for t in texts]
        return np.array([[math.cos(r), math.sin(r)] for r in rad]).reshape(len(texts), 2)


# Gold labels. Round 0 (positive iff |T| < 90): a30 right, a120 wrong (score -1.0 for a
# positive), a155 right, a100 wrong (-0.347), a-50 wrong (1.286 for a negative), a-120 right.
DATA = [("a30", True), ("a120", True), ("a155", False), ("a100", True), ("a-50", False),
        ("a-120", False)]


def _judge() -> ExemplarEvaluator:
    return ExemplarEvaluator(ExemplarLabeler(AngleEncoder(), ["a0", "a180"], [True, False]))


def test_rounds_add_the_most_deviant_instances_until_agreement() -> None:
    rounds, best = audit({"advice": _judge()}, {"advice": DATA}, add=2)
    r0, r1 = rounds
    assert len(rounds) == 2  # round 1 agrees with every annotation: nothing left to add
    assert r0.audited["advice"] == Agreement(6, tp=1, fp=1, fn=2, tn=2)
    # p_o = 1/2, p_e = (2*3 + 4*3)/36 = 1/2
    assert r0.audited["advice"].kappa == pytest.approx(0.0)
    assert [(t, g) for t, g, _ in r0.added["advice"]] == [("a-50", False), ("a120", True)]
    assert [d for _, _, d in r0.added["advice"]] == pytest.approx(
        [2 * math.cos(math.radians(50)), 1.0])
    # positives a0, a120; negatives a180, a-50: a30 .866-.174, a155 .819-.906, a100
    # .940-.174, a-120 -.5-.5: all right
    assert r1.audited["advice"] == Agreement(6, tp=3, fp=0, fn=0, tn=3)
    assert r1.audited["advice"].kappa == 1.0 and r1.added == {"advice": []}
    assert best["advice"].labeler.texts == ["a0", "a180", "a-50", "a120"]


def test_one_addition_per_round_takes_three_rounds() -> None:
    rounds, _ = audit({"advice": _judge()}, {"advice": DATA}, add=1)
    # round 1 (negative a-50 added): a120 and a100 still wrong -> tp 1 fp 0 fn 2 tn 3,
    # p_o = 4/6, p_e = (1*3 + 5*3)/36 = 1/2, kappa = 1/3; then a120 (off by 1.0) goes in
    assert [r.audited["advice"].kappa for r in rounds] == pytest.approx([0.0, 1 / 3, 1.0])
    assert [[t for t, _, _ in r.added.get("advice", [])] for r in rounds] == [
        ["a-50"], ["a120"], []]


def test_stops_when_held_out_agreement_drops_and_keeps_the_best_round() -> None:
    # a140 (negative) is right at first; once a120 is a positive exemplar it is nearer
    # (cos 20) than the negative a180 (cos 40): held-out kappa falls from 1 to 0.
    held = {"advice": [("a140", False), ("a30", True)]}
    judge = _judge()
    rounds, best = audit({"advice": judge}, {"advice": DATA}, heldout=held, add=2)
    assert [r.heldout["advice"].kappa for r in rounds] == pytest.approx([1.0, 0.0])
    assert len(rounds) == 2
    assert best["advice"].labeler.texts == ["a0", "a180"]  # round 0's judge
    assert judge.labeler.texts == ["a0", "a180"]  # the input is not changed


class Stubborn:
    """Gets every positive wrong until it is added, except "s0", wrong whatever is added
    (as an LLM judge can be about a sentence in its own prompt)."""

    def __init__(self) -> None:
        self.learnt: list[str] = []

    def predict(self, texts):  # noqa: ANN001, ANN201
        return [t in self.learnt and t != "s0" for t in texts]

    def deviation(self, texts, labels):  # noqa: ANN001, ANN201
        right = [p == g for p, g in zip(self.predict(texts), labels, strict=True)]
        return np.array([-1.0 if r else (1.0 if t == "s0" else 0.5)
                         for t, r in zip(texts, right, strict=True)])

    def add_examples(self, texts, labels) -> None:  # noqa: ANN001
        self.learnt += list(texts)

    def copy(self) -> Stubborn:
        other = Stubborn()
        other.learnt = list(self.learnt)
        return other


def test_an_instance_is_added_once_even_when_still_wrong() -> None:
    data = [("s0", True), ("s1", True), ("s2", True), ("s3", True), ("s4", False),
            ("s5", False)]
    rounds, best = audit({"p": Stubborn()}, {"p": data}, add=2)
    assert [[t for t, _, _ in r.added.get("p", [])] for r in rounds] == [
        ["s0", "s1"], ["s2", "s3"], []]  # then only s0 is wrong, and it is in already
    assert best["p"].learnt == ["s0", "s1", "s2", "s3"]


def test_missing_data_and_bad_arguments() -> None:
    with pytest.raises(ValueError, match="no annotated data for advice"):
        audit({"advice": _judge()}, {})
    with pytest.raises(ValueError, match="must be >= 1"):
        audit({"advice": _judge()}, {"advice": DATA}, add=0)


@settings(deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=60))
def test_kappa_and_f1_agree_with_statsmodels_and_the_definition(pairs) -> None:  # noqa: ANN001
    cohens_kappa = pytest.importorskip("statsmodels.stats.inter_rater").cohens_kappa
    pred, gold = [p for p, _ in pairs], [g for _, g in pairs]
    a = agreement(pred, gold)
    assert a.tp + a.fp + a.fn + a.tn == len(pairs)
    table = np.array([[a.tp, a.fp], [a.fn, a.tn]])
    # statsmodels divides by zero when chance agreement is certain (one label everywhere)
    pe = ((a.tp + a.fp) * (a.tp + a.fn) + (a.fn + a.tn) * (a.fp + a.tn)) / len(pairs) ** 2
    if pe < 1.0 - 1e-12:
        assert a.kappa == pytest.approx(cohens_kappa(table, return_results=False))
    else:
        assert a.kappa == (1.0 if a.fp + a.fn == 0 else 0.0)
    tp = sum(p and g for p, g in pairs)
    predicted, actual = sum(pred), sum(gold)
    if predicted + actual:
        assert a.f1 == pytest.approx(2 * tp / (predicted + actual))


# -- the command ---------------------------------------------------------------------------

def _setup(tmp_path: Path) -> tuple[Path, Path, list[tuple[str, bool]]]:
    lab = ExemplarLabeler(HashingEncoder(64), ["take two tablets daily", "nice weather"],
                          [True, False], proposition="advice")
    lab.save(tmp_path / "advice.json")
    spec = tmp_path / "a.spec"
    spec.write_text('observe reply: text\nprop advice = reply classifies "advice.json"\n'
                    'spec s { G !advice }\n')
    rows = [("rest and take ibuprofen", True), ("the weather is nice", False),
            ("apply cream twice daily", True), ("paris is a city", False),
            ("drink fluids and rest", True), ("i am not a doctor", False)]
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps({"text": t, "labels": {"advice": g}}) + "\n"
                            for t, g in rows))
    return spec, data, rows


def test_cli_reports_what_the_library_computes(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    spec, data, rows = _setup(tmp_path)
    out_dir = tmp_path / "out"
    assert main(["audit", str(spec), "--data", str(data), "--add", "1", "--format", "json",
                 "--out", str(out_dir)]) == 0
    doc = json.loads(capsys.readouterr().out)
    judge = ExemplarEvaluator(ExemplarLabeler(HashingEncoder(64), ["take two tablets daily",
                                                                    "nice weather"],
                                              [True, False]))
    rounds, best = audit({"advice": judge}, {"advice": rows}, add=1)
    assert [r["audited"]["advice"]["kappa"] for r in doc["rounds"]] == pytest.approx(
        [r.audited["advice"].kappa for r in rounds])
    assert [[a["text"] for a in r["added"].get("advice", [])] for r in doc["rounds"]] == [
        [t for t, _, _ in r.added.get("advice", [])] for r in rounds]
    saved = json.loads((out_dir / "advice.json").read_text())
    assert [e["text"] for e in saved["exemplars"]] == best["advice"].labeler.texts
    # the written labeler is usable in a spec
    assert main(["audit", str(out_dir / "advice.json"), "--data", str(data)]) == 0
    assert "round 0" in capsys.readouterr().out


@pytest.mark.parametrize(("args", "line", "code", "message"), [
    (["--data", "missing.jsonl"], None, 1, "missing.jsonl: no such file"),
    (["--data", "{bad}"], "{", 1, ":1:2: not JSON"),
    (["--data", "{bad}"], '{"text": "x", "labels": {"advice": "yes"}}', 1,
     "the label of 'advice' must be true or false"),
    (["--data", "{bad}"], '{"text": "x", "labels": {"other": true}}', 1,
     "no annotation for advice"),
    (["--data", "{bad}", "--prop", "nope"], '{"text": "x", "label": true}', 2,
     "'nope' is not a learned proposition"),
    (["--data", "{bad}", "--add", "0"], '{"text": "x", "label": true}', 2,
     "--add must be at least 1"),
])
def test_cli_errors_are_clear(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                              args: list[str], line: str | None, code: int,
                              message: str) -> None:
    spec, _, _ = _setup(tmp_path)
    bad = tmp_path / "bad.jsonl"
    if line is not None:
        bad.write_text(line + "\n")
    args = [str(bad) if a == "{bad}" else str(tmp_path / a) if a.endswith(".jsonl") else a
            for a in args]
    assert main(["audit", str(spec), *args]) == code
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_cli_on_a_spec_without_learned_props_or_with_errors(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, data, _ = _setup(tmp_path)
    plain = tmp_path / "p.spec"
    plain.write_text("observe reply: text\nprop d = reply matches /mg/\nspec s { G !d }\n")
    assert main(["audit", str(plain), "--data", str(data)]) == 1
    assert "no learned proposition" in capsys.readouterr().err
    broken = tmp_path / "b.spec"
    broken.write_text('observe reply: text\nprop d = reply classifies "no.json"\n'
                      "spec s { G !d }\n")
    assert main(["audit", str(broken), "--data", str(data)]) == 1
    assert "b.spec:2:27: error[E024]" in capsys.readouterr().err
