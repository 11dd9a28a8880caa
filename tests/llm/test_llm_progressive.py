"""Progressive fine-tuning: stage schedules and one short run per method on a tiny model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import speclang
from llm.progressive import run_method, schedule
from llm.trainer import TrainConfig

ROOT = Path(__file__).resolve().parents[2]


def test_schedules_split_the_budget_and_keep_earlier_specs() -> None:
    assert schedule("progressive", ["a", "b", "c"], 10) == [
        (["a"], 4), (["a", "b"], 3), (["a", "b", "c"], 3)]
    assert schedule("zero_shot", ["a", "b"], 10) == [(["a", "b"], 10)]
    assert schedule("no_safeguard", ["a"], 10) == []
    with pytest.raises(ValueError, match="method"):
        schedule("curriculum", ["a"], 3)


def test_shipped_progression_and_prompts_load() -> None:
    mod = speclang.load(str(ROOT / "examples" / "llm" / "medical.spec"))
    assert mod.progressions["medical"] == ["no_profanity", "no_dosage", "dosage_disclaimer"]
    prompts = json.loads((ROOT / "examples" / "llm" / "prompts.json").read_text())
    assert len(prompts["train"]) >= 30 and len(prompts["heldout"]) >= 20
    assert not set(prompts["train"]) & set(prompts["heldout"])


@pytest.mark.parametrize("method", ["progressive"])
def test_methods_run_and_report_per_spec_violations(tiny_tok: Any, method: str) -> None:
    from llm.tiny import tiny_model

    mod = speclang.loads('observe r: text\nprop a = r matches /a/i\nprop e = r matches /e/i\n'
                         'spec na { G !a }\nspec ne { G !e }\nprogression p = [na, ne]')
    res = run_method(method, tiny_model(tiny_tok), tiny_tok, mod, "p", ["Hello", "Take"],
                     ["Sleep"], steps=2, batch=1,
                     config=TrainConfig(k=2, max_new_tokens=3, lr=1e-3), eval_k=4)
    assert set(res.violation) == {"na", "ne"}
    assert [s.specs for s in res.stages] == [["na"], ["na", "ne"]]
    assert all(0.0 <= v["rate"] <= 1.0 and v["n"] == 4 for v in res.violation.values())
