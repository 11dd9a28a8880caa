"""Monitor explanations as an instruction dataset: the examples agree with the monitor run
independently, answers are scored against it, the export is chat JSONL, and the
fine-tune-and-evaluate command runs on the tiny model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import speclang
from speclang.llm.explain_sft import (
    VERDICTS,
    make_example,
    parse_answer,
    random_examples,
    score,
    specs_of,
    write_jsonl,
)

ROOT = Path(__file__).resolve().parents[2]
FILES = [str(ROOT / "examples" / f) for f in ("gridworld.spec", "minecraft.spec")]


def _monitor_verdict(spec: Any, trace: list[list[str]]) -> str:
    # The oracle: the spec's whole compiled monitor stepped letter by letter.
    from speclang.compiler import compile_formula

    aut = compile_formula(spec.formula)
    q = aut.initial
    for letter in trace:
        q = aut.step(q, {a: a in letter for a in aut.props})
    return aut.verdict(q).label


def test_examples_agree_with_the_monitor() -> None:
    exs = random_examples(FILES, 6, seed=3, max_len=6)
    modules = {Path(f).name: speclang.load(f) for f in FILES}
    assert len(exs) == 6 * sum(len(m.specs) for m in modules.values())
    seen = set()
    for ex in exs:
        spec = modules[ex.source].specs[ex.spec]
        assert ex.verdict == _monitor_verdict(spec, ex.trace)
        seen.add(ex.verdict)
        if ex.verdict == "violated":
            assert all(part in ex.conjuncts for part in ex.violated.split(" and "))
            assert "Cause: " in ex.reasoning
        else:
            assert ex.violated == "none"
        assert ex.answer().endswith(f"Verdict: {ex.verdict}\nViolated conjunct: {ex.violated}")
        assert parse_answer(ex.answer()) == (ex.verdict, ex.violated)
        assert all(set(s) <= set(ex.props) for s in ex.trace)
    assert {"violated", "presumably_satisfied"} <= seen


def test_the_culprit_is_the_conjunct_the_trace_breaks() -> None:
    m = speclang.load(FILES[1])
    ex = make_example("minecraft.spec", m, "t2", ("creeper", "lava", "wood"),
                      [["wood"], ["lava"], []])
    assert (ex.verdict, ex.violated) == ("violated", "G(!lava & !creeper)")
    # the reasoning stops at the violating step
    assert ex.reasoning.splitlines()[-2].startswith("Step 2: {lava} -> violated")


def test_scoring_against_the_monitor() -> None:
    m = speclang.load(FILES[1])
    bad = make_example("m", m, "t2", ("creeper", "lava", "wood"), [["lava"]])
    ok = make_example("m", m, "t2", ("creeper", "lava", "wood"), [["wood"]])
    s = score([bad, ok], [bad.answer(), ok.answer()])
    assert (s["verdict_accuracy"], s["conjunct_accuracy"], s["n_violated"]) == (1.0, 1.0, 1)
    s = score([bad, ok], ["Verdict: violated\nViolated conjunct: F wood",
                          "Verdict: maybe\nViolated conjunct: none"])
    assert (s["verdict_accuracy"], s["conjunct_accuracy"], s["unparsed"]) == (0.5, 0.0, 1)
    assert parse_answer("no lines at all") == (None, None)
    assert set(VERDICTS) == {"satisfied", "presumably_satisfied", "presumably_violated",
                             "violated"}


def test_export_is_chat_jsonl(tmp_path: Path) -> None:
    exs = random_examples(FILES[:1], 2, seed=0)
    path = tmp_path / "x.jsonl"
    assert write_jsonl(exs, path) == len(exs)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    for row, ex in zip(rows, exs, strict=True):
        assert [m["role"] for m in row["messages"]] == ["system", "user", "assistant"]
        assert row["messages"][2]["content"] == ex.answer()
        assert row["meta"]["trace"] == ex.trace and row["meta"]["spec"] == ex.spec
        assert ex.spec in row["messages"][1]["content"]


def test_specs_of_lists_propositions() -> None:
    found = {(Path(f).name, n): props for f, _m, n, props in specs_of(FILES)}
    assert found[("gridworld.spec", "no_lava")] == ("lava",)


def test_finetune_and_evaluate_on_the_tiny_model(tmp_path: Path, capsys: Any) -> None:
    pytest.importorskip("trl")
    pytest.importorskip("datasets")
    torch = pytest.importorskip("torch")
    from speclang.llm.explain_sft import TINY_TEMPLATE, finetune
    from speclang.llm.tiny import tiny_model, tiny_tokenizer

    tok = tiny_tokenizer()
    tok.chat_template = TINY_TEMPLATE
    model = tiny_model(tok)
    before = [p.detach().clone() for p in model.parameters()]
    exs = random_examples(FILES[:1], 2, seed=0)
    finetune(model, tok, exs, tmp_path, max_steps=2, batch=2, lr=1e-2)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))

    from speclang.llm.explain_sft import main

    assert main(["run", "--specs", *FILES, "--held-out", "minecraft.spec", "--per-spec", "1",
                 "--eval-per-spec", "1", "--max-steps", "2", "--max-new-tokens", "6"]) == 0
    out = capsys.readouterr().out
    n = len(speclang.load(FILES[1]).specs)
    assert "before: verdict accuracy" in out and f"(n={n})" in out and "after:" in out
