"""Learned text propositions: the exemplar labeler, its file, `classifies` in specs, and
active learning with its oracles (docs/alignment.md). Encoders are a 2-d fake (texts at
angles, so scores are cosines worked out by hand) or the numpy hashing encoder."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
import pytest

import speclang
from speclang.cli import main
from speclang.labeler_file import LabelerFileError
from speclang.llm.active import (
    JudgeOracle,
    LabelledOracle,
    TerminalOracle,
    active_learn,
    on_policy_candidates,
)
from speclang.llm.learned import ExemplarLabeler, HashingEncoder, load_labeler
from speclang.model import TextClassifier

ROOT = Path(__file__).resolve().parents[2]


class AngleEncoder:
    """Each text is a unit vector at the angle (degrees) its name gives: "a30" -> 30."""

    spec = {"kind": "hashing", "dim": 8}  # only for files; the tests pass the encoder

    def embed(self, texts):  # noqa: ANN001, ANN201
        rad = [math.radians(float(t.lstrip("a"))) for t in texts]
        return np.array([[math.cos(r), math.sin(r)] for r in rad]).reshape(len(texts), 2)


def test_score_is_nearest_positive_minus_nearest_negative() -> None:
    lab = ExemplarLabeler(AngleEncoder(), ["a0", "a180"], [True, False])
    # score = cos(theta) - cos(theta - 180) = 2 cos(theta)
    for theta in (10, 80, 100, 170, -60):
        assert lab.score(f"a{theta}") == pytest.approx(2 * math.cos(math.radians(theta)))
    assert lab("a80") and not lab("a100")
    lab.add(["a100"], [True])
    # a140: nearest positive a100 (cos 40), nearest negative a180 (cos 40): a tie, not > 0
    assert lab.score("a140") == pytest.approx(0.0, abs=1e-12)
    assert lab("a130") and not lab("a150")


def test_contradicting_exemplars_are_refused() -> None:
    lab = ExemplarLabeler(AngleEncoder(), ["a0", "a180"], [True, False])
    lab.add(["a0"], [True])  # the same label again: skipped
    assert lab.texts == ["a0", "a180"]
    with pytest.raises(ValueError, match="labelled both true and false"):
        lab.add(["a0"], [False])


def test_uncertainty_queries_the_pool_point_nearest_the_boundary_each_round() -> None:
    oracle = LabelledOracle({"a10": True, "a70": True, "a100": True, "a170": False})
    lab, rounds = active_learn(["a10", "a70", "a100", "a170"], oracle,
                               [("a0", True), ("a180", False)], encoder=AngleEncoder(),
                               budget=3, strategy="uncertainty")
    # Round 1: |2cos| = 1.97, 0.68, 0.35, 1.97 -> a100. Round 2, positives a0 and a100:
    # a10 1.97, a70 cos30 - cos110 = 1.21, a170 cos70 - cos10 = -0.64 -> a170. Then a70.
    assert [r.texts for r in rounds] == [[], ["a100"], ["a170"], ["a70"]]
    assert [r.queries for r in rounds] == [0, 1, 2, 3]
    assert oracle.asked == 3 and lab.texts[-3:] == ["a100", "a170", "a70"]


def test_committee_queries_where_bootstrap_members_split() -> None:
    near0 = [f"a{d}" for d in (-6, -4, -2, 0, 2, 4, 6)]
    near180 = [f"a{d}" for d in (174, 176, 178, 180, 182, 184, 186)]
    seed = [(t, True) for t in near0] + [(t, False) for t in near180]
    # The members agree on a5 and a175 whatever the resample; a90 is closest to a2..a6
    # and a174..a178 by nearly the same amount, so resamples that drop one side's nearest
    # points flip it.
    oracle = JudgeOracle(lambda t: float(t[1:]) < 90)
    _, rounds = active_learn(["a5", "a91", "a175"], oracle, seed, encoder=AngleEncoder(),
                             budget=1, strategy="committee", rng=0)
    assert rounds[1].texts == ["a91"]


def test_random_queries_each_pool_text_once_and_depend_on_the_seed() -> None:
    pool = [f"a{d}" for d in range(5, 175, 10)]
    orders = []
    for seed in (0, 1):
        oracle = JudgeOracle(lambda t: float(t[1:]) < 90)
        _, rounds = active_learn(pool, oracle, [("a0", True), ("a180", False)],
                                 encoder=AngleEncoder(), budget=100, strategy="random",
                                 batch=4, rng=seed)
        asked = [t for r in rounds for t in r.texts]
        assert sorted(asked) == sorted(pool) and oracle.asked == len(pool)
        assert [r.queries for r in rounds] == [0, 4, 8, 12, 16, 17]
        orders.append(asked)
    assert orders[0] != orders[1]


def test_uncertainty_finds_a_boundary_by_bisection_and_random_does_not() -> None:
    # Gold: positive below 47 degrees; the seed puts the boundary at 90. Querying nearest
    # the boundary halves the interval the true boundary lies in each time (a1-nn
    # boundary is the bisector of the nearest positive and negative exemplar).
    pool = [f"a{d}" for d in range(1, 180, 2)]
    test = [f"a{d}" for d in range(0, 181)]
    gold = {t: float(t[1:]) < 47 for t in pool + test}

    def accuracy(lab: ExemplarLabeler) -> float:
        return float(np.mean([p == gold[t] for p, t in zip(lab.predict(test), test,
                                                                 strict=True)]))

    seed = [("a0", True), ("a180", False)]
    lab, _ = active_learn(pool, LabelledOracle(gold), seed, encoder=AngleEncoder(), budget=7,
                          strategy="uncertainty")
    # after 7 bisections the boundary lies within one pool step of 47: only a46/a47/a48
    # of the 181 test angles can be wrong
    assert accuracy(lab) >= 178 / 181
    rand = [accuracy(active_learn(pool, LabelledOracle(gold), seed, encoder=AngleEncoder(),
                                  budget=7, strategy="random", rng=s)[0]) for s in range(5)]
    assert np.mean(rand) < accuracy(lab)


def test_oracles() -> None:
    with pytest.raises(KeyError, match="no label for 'b'"):
        LabelledOracle({"a": True}).ask(["a", "b"])
    judge = JudgeOracle(lambda t: "dose" in t)
    assert judge.ask(["a dose", "hello"]) == [True, False] and judge.asked == 2
    answers = iter(["maybe", " Y ", "no"])
    out = io.StringIO()
    human = TerminalOracle("gives medical advice?", read=lambda _p: next(answers), out=out)
    assert human.ask(["take two", "hello"]) == [True, False]
    assert "answer y or n" in out.getvalue() and "take two" in out.getvalue()

    def ended(_prompt: str) -> str:
        raise EOFError

    with pytest.raises(RuntimeError, match="input ended"):
        TerminalOracle("?", read=ended, out=out).ask(["x"])


def test_on_policy_candidates_are_the_distinct_sentences_of_the_replies() -> None:
    calls = []

    def generate(prompts):  # noqa: ANN001, ANN202
        calls.append(list(prompts))
        return [f"Take two. Rest now! {p}" for p in prompts]

    got = on_policy_candidates(generate, ["Bye.", "Hi"], samples=2)
    assert got == ["Take two.", "Rest now!", "Bye.", "Hi"]
    assert calls == [["Bye.", "Hi"], ["Bye.", "Hi"]]


def test_hf_generator_samples_replies_of_a_causal_lm(tiny_lm, tiny_tok) -> None:  # noqa: ANN001
    from speclang.llm.active import hf_generator

    gen = hf_generator(tiny_lm, tiny_tok, max_new_tokens=6, batch=2)
    replies = gen(["How much?", "What now?", "Why?"])
    assert len(replies) == 3 and all(isinstance(r, str) for r in replies)


# -- the labeler file and `classifies` in specs ------------------------------------------

def _labeler_file(tmp_path: Path, name: str = "advice.json") -> tuple[Path, str]:
    lab = ExemplarLabeler(HashingEncoder(64), ["take two tablets every four hours",
                                               "the weather is nice today"], [True, False],
                          proposition="advice")
    path = tmp_path / name
    return path, lab.save(path)


SPEC = ('observe reply: text\nprop advice = reply classifies "{file}"\n'
        'spec no_advice {{ G !advice }}\n')


def test_file_round_trip_and_changed_file_refused(tmp_path: Path) -> None:
    path, sha = _labeler_file(tmp_path)
    doc = json.loads(path.read_text())
    assert doc["encoder"] == {"kind": "hashing", "dim": 64} and len(doc["exemplars"]) == 2
    lab = load_labeler(path, expected_hash=sha)
    assert lab.proposition == "advice" and lab("take three tablets every four hours")
    assert not lab("the weather is nice")
    path.write_text(path.read_text().replace("nice", "grim"))
    with pytest.raises(LabelerFileError, match="changed since the spec was loaded"):
        load_labeler(path, expected_hash=sha)


def test_spec_records_labeler_hash_and_monitor_judges_with_it(tmp_path: Path) -> None:
    path, sha = _labeler_file(tmp_path)
    spec = tmp_path / "a.spec"
    spec.write_text(SPEC.format(file="advice.json"))
    m = speclang.load(str(spec))
    d = m.derived["advice"]
    assert isinstance(d, TextClassifier)
    assert (d.path, d.sha256, d.granularity) == (str(path), sha, "sentence")
    from speclang.llm.monitor import TextMonitor, label_text

    mon = TextMonitor.from_module(m, "no_advice", unit="sentence")
    assert mon.aut.meta["classifiers"] == {"advice": {"path": str(path), "sha256": sha}}
    v = label_text(mon, "Hello there. Take two tablets every four hours.")
    assert v.verdict == "violated" and len(v.steps) == 2
    assert label_text(mon, "The weather is nice today.").verdict != "violated"
    # a changed labeler is a changed source: another hash, and the old module refuses it
    before = m.source_hash
    ExemplarLabeler(HashingEncoder(64), ["rest", "hi"], [True, False]).save(path)
    assert speclang.load(str(spec)).source_hash != before
    with pytest.raises(LabelerFileError, match="changed since"):
        TextMonitor.from_module(m, "no_advice")


def test_compiled_artifact_names_the_labeler_file(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    path, sha = _labeler_file(tmp_path)
    spec = tmp_path / "a.spec"
    spec.write_text(SPEC.format(file="advice.json"))
    out = tmp_path / "a.json"
    assert main(["compile", str(spec), "-o", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["meta"]["classifiers"] == {"advice": {"path": str(path), "sha256": sha}}
    assert main(["fmt", str(spec)]) == 0
    assert 'prop advice = reply classifies "advice.json"' in capsys.readouterr().out


@pytest.mark.parametrize(("decl", "content", "where", "message"), [
    ('classifies "none.json"', None, "2:32", 'labeler file "none.json": no such file'),
    ('classifies "l.json"', "{", "2:32", 'labeler file "l.json": not JSON'),
    ('classifies "l.json"', '{"format": "x"}', "2:32", "not a labeler file"),
    ('classifies "l.json"', json.dumps({"format": "speclang-labeler", "version": 1,
                                        "encoder": {"kind": "minilm"},
                                        "exemplars": [{"text": "a", "label": True}]}),
     "2:32", "need both labels"),
    ('classifies "ok.json" @word', "ok", "2:42", 'judged on the sentence so far, not "@word"'),
])
def test_bad_classifier_declarations_are_located_errors(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], decl: str, content: str | None,
        where: str, message: str) -> None:
    _labeler_file(tmp_path, "ok.json")
    if content is not None and content != "ok":
        (tmp_path / "l.json").write_text(content)
    spec = tmp_path / "bad.spec"
    spec.write_text(f"observe reply: text\nprop advice = reply {decl}\nspec s {{ G !advice }}\n")
    assert main(["check", str(spec)]) == 1
    err = capsys.readouterr().err
    assert f"bad.spec:{where}: error[E024]" in err and message in err


def test_classifies_on_a_number_observable_is_e017(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    _labeler_file(tmp_path, "ok.json")
    spec = tmp_path / "bad.spec"
    spec.write_text('observe hp: float\nprop a = hp classifies "ok.json"\nspec s { G !a }\n')
    assert main(["check", str(spec)]) == 1
    assert "bad.spec:2:24: error[E017]" in capsys.readouterr().err


def test_monitor_and_explain_cli_judge_each_step_with_the_labeler(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _labeler_file(tmp_path)
    spec = tmp_path / "a.spec"
    spec.write_text(SPEC.format(file="advice.json"))
    trace = tmp_path / "t.jsonl"
    trace.write_text('{"reply": "the weather is nice today"}\n'
                     '{"reply": "take two tablets every four hours"}\n')
    assert main(["monitor", str(spec), "--trace", str(trace)]) == 0
    steps = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [s["verdict"] for s in steps] == ["presumably_satisfied", "violated"]
    main(["explain", str(spec), "--trace", str(trace)])
    assert "`advice` held at step 2" in capsys.readouterr().out
