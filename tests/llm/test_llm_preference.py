"""Preference pairs from monitor verdicts, the DPO and SELM losses, the trainer's dpo/selm
updates, and the JSONL export read by TRL's own DPOTrainer (tiny offline model)."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")

import speclang  # noqa: E402
from speclang.llm import TextMonitor, label_text  # noqa: E402
from speclang.llm.preference import (  # noqa: E402
    Pair,
    dpo_loss,
    main,
    monitor_pairs,
    pair_indices,
    selm_loss,
    write_jsonl,
)
from speclang.llm.rewards import spec_reward  # noqa: E402
from speclang.llm.trainer import SpecTrainer, TrainConfig  # noqa: E402

SRC = 'observe r: text\nprop v = r matches /[aeiou]/i\nspec novowel { G !v }\n'
MOD = speclang.loads(SRC)


def test_dpo_loss_matches_a_hand_computation() -> None:
    pc, pr = torch.tensor([-3.0, -2.0]), torch.tensor([-5.0, -1.0])
    rc, rr = torch.tensor([-4.0, -2.5]), torch.tensor([-4.0, -1.5])
    got = dpo_loss(pc, pr, rc, rr, beta=0.1)
    # pair 0: h = (-3 + 4) - (-5 + 4) = 2; pair 1: h = 0.5 - 0.5 = 0
    want = [math.log(1 + math.exp(-0.2)), math.log(2.0)]
    assert got.tolist() == pytest.approx(want, abs=1e-6)


def test_selm_adds_the_optimism_term() -> None:
    pc = torch.tensor([-3.0], requires_grad=True)
    pr = torch.tensor([-5.0], requires_grad=True)
    rc, rr = torch.tensor([-4.0]), torch.tensor([-4.0])
    d = dpo_loss(pc, pr, rc, rr, 0.1)
    s = selm_loss(pc, pr, rc, rr, 0.1, alpha=0.5)
    # alpha * beta * mean(log pi) = 0.5 * 0.1 * (-3 - 5) / 2 = -0.2
    assert float((s - d).detach()) == pytest.approx(-0.2, abs=1e-6)
    (gd_c, gd_r) = torch.autograd.grad(d.sum(), (pc, pr))
    (gs_c, gs_r) = torch.autograd.grad(s.sum(), (pc, pr))
    # the optimism term pushes both responses' likelihood down by alpha * beta / 2 each
    assert float(gs_c - gd_c) == pytest.approx(0.025) and float(gs_r - gd_r) == pytest.approx(
        0.025)
    assert float(selm_loss(pc, pr, rc, rr, 0.1, alpha=0.0)) == pytest.approx(float(d))


def test_pairs_come_only_where_the_monitor_separates_samples() -> None:
    reward = spec_reward(TextMonitor.from_module(MOD, "novowel"))
    texts = ["xyz", "hello", "brr", "psst",   # prompt 0: one violating sample
             "hat", "hot", "hit", "hut",      # prompt 1: all violate -> no pair
             "zzz", "tsk", "hmm", "pfft"]     # prompt 2: none violate -> no pair
    r = reward(completions=texts)
    pairs = monitor_pairs(["p0", "p1", "p2"], texts, r, k=4)
    assert [(p.prompt, p.chosen, p.rejected) for p in pairs] == [("p0", "xyz", "hello")]
    mon = TextMonitor.from_module(MOD, "novowel")
    assert not label_text(mon, pairs[0].chosen).violated
    assert label_text(mon, pairs[0].rejected).violated
    assert pairs[0].chosen_reward > pairs[0].rejected_reward
    # shaped potentials order samples by degree; the margin drops near-ties
    assert pair_indices([0.1, 0.3, 0.2, 0.25], 2) == [(1, 0), (3, 2)]
    assert pair_indices([0.1, 0.3, 0.2, 0.25], 2, margin=0.1) == [(1, 0)]
    with pytest.raises(ValueError, match="groups"):
        pair_indices([0.0, 1.0, 2.0], 2)


def test_export_is_trl_preference_jsonl(tmp_path: Path) -> None:
    pairs = [Pair("Q: dose?", " rest", " 5 mg", 0.5, -1.0, 0, 1),
             Pair([{"role": "user", "content": "dose?"}], "rest", "5 mg", 0.5, -1.0, 4, 5)]
    path = tmp_path / "prefs.jsonl"
    assert write_jsonl(pairs, path) == 2
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert rows[0] == {"prompt": "Q: dose?", "chosen": " rest", "rejected": " 5 mg"}
    assert rows[1] == {"prompt": [{"role": "user", "content": "dose?"}],
                       "chosen": [{"role": "assistant", "content": "rest"}],
                       "rejected": [{"role": "assistant", "content": "5 mg"}]}


def _rate(tr: SpecTrainer, prompts: list[str]) -> float:
    mon = TextMonitor.from_module(MOD, "novowel")
    torch.manual_seed(123)
    return float(tr.evaluate(prompts, lambda t: label_text(mon, t).violated,
                             k=16)["violation_rate"])


@pytest.mark.parametrize("method", ["dpo", "selm"])
def test_preference_updates_lower_the_violation_rate(tiny_tok: Any, method: str) -> None:
    from speclang.llm.tiny import tiny_model

    prompts = ["Hello", "Take", "Drink water", "Sleep"]
    mon = TextMonitor.from_module(MOD, "novowel", unit="token")
    tr = SpecTrainer(tiny_model(tiny_tok), tiny_tok, [spec_reward(mon)],
                     TrainConfig(method, k=4, max_new_tokens=4, lr=5e-2, beta=0.5,
                                 selm_alpha=0.01))
    ref_before = [p.clone() for p in tr.ref.parameters()]
    before = _rate(tr, prompts)
    tr.train(prompts, steps=12, batch=2)
    after = _rate(tr, prompts)
    assert before > 0.3 and after < before - 0.2, (before, after)
    assert sum(s.pairs for s in tr.history) == len(tr.pairs) > 0
    for p in tr.pairs:
        assert p.prompt in prompts and p.chosen_reward > p.rejected_reward
        assert label_text(mon, p.rejected).violated
    assert all(torch.equal(a, b) for a, b in zip(ref_before, tr.ref.parameters(), strict=True))


def test_no_pair_no_update(tiny_tok: Any) -> None:
    from speclang.llm.tiny import tiny_model

    # A reward that never separates samples: every group ties.
    tr = SpecTrainer(tiny_model(tiny_tok), tiny_tok, [lambda **kw: [1.0] * len(
        kw["completions"])], TrainConfig("dpo", k=2, max_new_tokens=3))
    before = [p.clone() for p in tr.policy.parameters()]
    s = tr.step(["Hello"])
    assert s.pairs == 0 and s.loss == 0.0 and tr.pairs == []
    assert all(torch.equal(a, b) for a, b in zip(before, tr.policy.parameters(), strict=True))


def test_cli_exports_pairs_that_trl_dpo_trainer_trains_on(tmp_path: Path) -> None:
    trl = pytest.importorskip("trl")
    datasets = pytest.importorskip("datasets")
    spec = tmp_path / "v.spec"
    spec.write_text(SRC)
    prompts = tmp_path / "p.json"
    prompts.write_text(json.dumps({"train": ["Hello", "Take", "Drink water", "Sleep",
                                             "Rest", "Call"]}))
    out = tmp_path / "prefs.jsonl"
    assert main([str(spec), "--spec", "novowel", "--prompts", str(prompts), "--out",
                 str(out), "--unit", "token", "--k", "4", "--max-new-tokens", "4"]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) >= 2 and all(set(r) == {"prompt", "chosen", "rejected"} for r in rows)

    from speclang.llm.tiny import tiny_model, tiny_tokenizer

    tok = tiny_tokenizer()
    torch.manual_seed(0)
    model = tiny_model(tok)
    before = [p.detach().clone() for p in model.parameters()]
    args = trl.DPOConfig(output_dir=str(tmp_path / "dpo"), max_steps=2,
                         per_device_train_batch_size=2, learning_rate=1e-2, logging_steps=1,
                         report_to="none", save_strategy="no", use_cpu=True, bf16=False,
                         dataloader_num_workers=0, seed=0, beta=0.1)
    data = datasets.load_dataset("json", data_files=str(out), split="train")
    # The reference is given: a config-built model has no name to reload it from.
    trainer = trl.DPOTrainer(model=model, ref_model=copy.deepcopy(model).eval(), args=args,
                             train_dataset=data, processing_class=tok)
    trainer.train()
    assert trainer.state.global_step == 2
    assert any("loss" in h for h in trainer.state.log_history)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_cli_errors_are_messages(tmp_path: Path, capsys: Any) -> None:
    bad = tmp_path / "bad.spec"
    bad.write_text("spec s { G ( }")
    assert main([str(bad), "--spec", "s", "--prompts", "x.json", "--out",
                 str(tmp_path / "o.jsonl")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error:") and "bad.spec:1:" in err
    good = tmp_path / "v.spec"
    good.write_text(SRC)
    assert main([str(good), "--spec", "nope", "--prompts", "x.json", "--out",
                 str(tmp_path / "o.jsonl")]) == 1
    assert capsys.readouterr().err.startswith("error: no spec named `nope`")
