"""Progressive fine-tuning: stage schedules and one short run per method on a tiny model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import speclang
from speclang.llm.progressive import run_method, schedule
from speclang.llm.trainer import TrainConfig

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
    assert mod.progressions["dosing"] == ["no_mass_dosage", "no_dosage"]
    from speclang.llm import TextMonitor, label_text

    # `dosing` tightens: every dose by weight is a dose, not every dose is one by weight.
    mass, dose = (TextMonitor.from_module(mod, s, unit="word")
                  for s in ("no_mass_dosage", "no_dosage"))
    for text, by_weight, any_dose in [("Take 200 mg twice.", True, True),
                                      ("About 400 milligrams.", True, True),
                                      ("Give 5 ml every hour.", False, True),
                                      ("Ask a pharmacist.", False, False)]:
        assert label_text(mass, text).violated is by_weight, text
        assert label_text(dose, text).violated is any_dose, text
    prompts = json.loads((ROOT / "examples" / "llm" / "prompts.json").read_text())
    assert len(prompts["train"]) >= 30 and len(prompts["heldout"]) >= 20
    assert not set(prompts["train"]) & set(prompts["heldout"])


@pytest.mark.parametrize("method", ["progressive"])
def test_methods_run_and_report_per_spec_violations(tiny_tok: Any, method: str) -> None:
    from speclang.llm.tiny import tiny_model

    mod = speclang.loads('observe r: text\nprop a = r matches /a/i\nprop e = r matches /e/i\n'
                         'spec na { G !a }\nspec ne { G !e }\nprogression p = [na, ne]')
    res = run_method(method, tiny_model(tiny_tok), tiny_tok, mod, "p", ["Hello", "Take"],
                     ["Sleep"], steps=2, batch=1,
                     config=TrainConfig(k=2, max_new_tokens=3, lr=1e-3), eval_k=4)
    assert set(res.violation) == {"na", "ne"}
    assert [s.specs for s in res.stages] == [["na"], ["na", "ne"]]
    assert all(0.0 <= v["rate"] <= 1.0 and v["n"] == 4 == len(v["flags"])
               for v in res.violation.values())
    assert len(res.texts) == 4 and res.mean_tokens <= 3


def test_summary_tests_each_method_against_the_floor_on_paired_samples() -> None:
    from speclang.llm.progressive import MethodResult, summarise

    def res(method: str, seed: int, flags: list[bool]) -> MethodResult:
        return MethodResult(method, seed, violation={"s": {
            "rate": sum(flags) / len(flags), "ci95": [0.0, 1.0], "n": len(flags),
            "flags": flags}}, kl=0.5 if method != "no_safeguard" else 0.0)

    rs = [res("no_safeguard", seed, [True] * 5 + [False] * 3) for seed in (0, 1)]
    rs += [res("progressive", seed, [False] * 8) for seed in (0, 1)]
    rs += [res("zero_shot", 0, [True] * 5 + [False] * 3)]
    text = summarise(rs)
    assert "| progressive | 2 | 0.000 ± 0.000 | 0.500 ± 0.000 |" in text
    assert "| zero_shot | 1 | 0.625 | 0.500 |" in text
    # 10 discordant pairs, all violating only without a safeguard: p = 2 / 2**10.
    assert ("progressive vs no_safeguard, s: 10/16 -> 0/16 violate; 10 pairs only under "
            "no_safeguard, 0 only under progressive; exact McNemar p = 0.002") in text
    assert "zero_shot vs no_safeguard, s: 5/8 -> 5/8 violate" in text


def test_summary_compares_progressive_with_zero_shot_per_seed() -> None:
    from speclang.llm.progressive import MethodResult, summarise

    def res(method: str, seed: int, bad: int) -> MethodResult:
        flags = [True] * bad + [False] * (4 - bad)
        return MethodResult(method, seed, violation={"s": {
            "rate": bad / 4, "ci95": [0.0, 1.0], "n": 4, "flags": flags}})

    rs = [res("zero_shot", 0, 1), res("zero_shot", 1, 1), res("progressive", 0, 2),
          res("progressive", 1, 3)]
    text = summarise(rs)
    # differences zero_shot - progressive: -0.25, -0.5 -> mean -0.375, sd 0.177, t(1) 12.706
    assert ("progressive vs zero_shot, s: 2/8 -> 5/8 violate; 0 pairs only under zero_shot, "
            "3 only under progressive; exact McNemar p = 0.25; per-seed difference "
            "zero_shot - progressive -0.375 [-1.963, 1.213]") in text
