"""Spec rewards (TRL signature) and the RLOO / APA fine-tuner on a tiny offline model."""

from __future__ import annotations

import math
from typing import Any

import pytest

torch = pytest.importorskip("torch")

import speclang  # noqa: E402
from speclang.llm import TextMonitor, label_text  # noqa: E402
from speclang.llm.rewards import spec_reward  # noqa: E402
from speclang.llm.tiny import ARCHS  # noqa: E402
from speclang.llm.trainer import SpecTrainer, TrainConfig  # noqa: E402
from speclang.stats import wilson  # noqa: E402

MOD = speclang.loads('observe r: text\nprop v = r matches /[aeiou]/i\nspec novowel { G !v }\n'
                     'prop d = r contains "doctor"\nspec dr { F d }')


def test_rewards_follow_the_verdicts() -> None:
    f = spec_reward(TextMonitor.from_module(MOD, "novowel"))
    assert f.__name__ == "novowel_verdict"
    assert f(prompts=["p", "p"], completions=["xyz 123", "hello"]) == [0.5, -1.0]
    g = spec_reward(TextMonitor.from_module(MOD, "dr"))
    chat = [[{"role": "assistant", "content": "see a doctor"}], "rest"]
    assert g(prompts=None, completions=chat) == [1.0, -0.5]
    pot = spec_reward(TextMonitor.from_module(MOD, "novowel"), "potential")
    good, bad = pot(completions=["xyz", "oh"])
    assert good > bad == -1.0


def _violation_rate(tr: SpecTrainer, prompts: list[str]) -> float:
    def violated(text: str) -> bool:
        return label_text(TextMonitor.from_module(MOD, "novowel"), text).violated

    torch.manual_seed(123)
    return float(tr.evaluate(prompts, violated, k=16)["violation_rate"])


@pytest.mark.parametrize("arch", ARCHS)
def test_rloo_lowers_the_violation_rate(tiny_tok: Any, arch: str) -> None:
    from speclang.llm.tiny import tiny_model

    prompts = ["Hello", "Take", "Drink water", "Sleep"]
    mon = TextMonitor.from_module(MOD, "novowel", unit="token")
    tr = SpecTrainer(tiny_model(tiny_tok, arch=arch), tiny_tok, [spec_reward(mon)],
                     TrainConfig("rloo", k=4, max_new_tokens=4, lr=5e-2, beta=0.01))
    before = _violation_rate(tr, prompts)
    tr.train(prompts, steps=12, batch=2)
    after = _violation_rate(tr, prompts)
    assert before > 0.3 and after < before - 0.2, (before, after)
    assert all(torch.isfinite(torch.tensor([s.kl, s.loss])).all() for s in tr.history)


@pytest.mark.parametrize("arch", ARCHS)
def test_apa_loss_falls_on_a_fixed_batch_and_keeps_reference_frozen(tiny_tok: Any,
                                                                    arch: str) -> None:
    from speclang.llm.tiny import tiny_model

    mon = TextMonitor.from_module(MOD, "novowel", unit="token")
    tr = SpecTrainer(tiny_model(tiny_tok, arch=arch), tiny_tok, [spec_reward(mon)],
                     TrainConfig("apa", k=4, max_new_tokens=4, lr=1e-2, lam=1.0))
    ref_before = [p.clone() for p in tr.ref.parameters()]
    ids, attn, start, texts = tr.sample(["Hello", "Take"], 4)
    reward = tr.score(["Hello"] * 4 + ["Take"] * 4, texts)
    losses = [tr.update(ids, attn, start, reward)[0] for _ in range(8)]
    assert losses[-1] < 0.5 * losses[0], losses
    assert all(torch.equal(a, b) for a, b in zip(ref_before, tr.ref.parameters(), strict=True))


def test_config_and_interval_checks() -> None:
    with pytest.raises(ValueError, match="k >= 2"):
        TrainConfig(k=1)
    with pytest.raises(ValueError, match="method"):
        TrainConfig(method="ppo")
    lo, hi = wilson(5, 10)
    assert 0.2 < lo < 0.5 < hi < 0.8


def test_mcnemar_and_t_interval() -> None:
    from speclang.stats import mcnemar, t_interval

    # 6 pairs violate only before, none only after: p = 2 * 0.5**6.
    res = mcnemar([True] * 6 + [False] * 4 + [True], [False] * 6 + [False] * 4 + [True])
    assert (res["b"], res["c"]) == (6, 0) and abs(res["p"] - 2 * 0.5 ** 6) < 1e-12
    assert mcnemar([True, False], [False, True])["p"] == 1.0
    assert mcnemar([False], [False]) == {"b": 0, "c": 0, "p": 1.0}
    with pytest.raises(ValueError, match="paired"):
        mcnemar([True], [True, False])
    m, lo, hi = t_interval([0.1, 0.2, 0.3])
    # sd = 0.1, t(0.975, 2) = 4.30265 (published tables: 4.303)
    assert abs(m - 0.2) < 1e-12 and abs(hi - m - 4.30265 * 0.1 / 3 ** 0.5) < 1e-6
    assert abs((m - lo) - (hi - m)) < 1e-12
    assert t_interval([0.5]) == (0.5, 0.5, 0.5)


def test_lora_on_chosen_modules_and_paired_evaluation(tiny_tok: Any) -> None:
    pytest.importorskip("peft")
    from speclang.llm.tiny import tiny_model

    mon = TextMonitor.from_module(MOD, "novowel", unit="token")
    targets = ("q_proj", "v_proj", "gate_proj", "down_proj")
    tr = SpecTrainer(tiny_model(tiny_tok), tiny_tok, [spec_reward(mon)],
                     TrainConfig("rloo", k=2, max_new_tokens=4, lr=1e-2, lora_rank=2,
                                 lora_targets=targets))
    adapted = {n.split(".lora_")[0].rsplit(".", 1)[-1] for n, p in tr.policy.named_parameters()
               if p.requires_grad and "lora_" in n}
    assert adapted == set(targets)
    # Phi-3's fused projections: q/v adapt qkv_proj, gate adapts gate_up_proj.
    phi = SpecTrainer(tiny_model(tiny_tok, arch="phi3"), tiny_tok, [spec_reward(mon)],
                      TrainConfig("rloo", k=2, lora_rank=2, lora_targets=targets))
    assert {n.split(".lora_")[0].rsplit(".", 1)[-1] for n, p in phi.policy.named_parameters()
            if p.requires_grad and "lora_" in n} == {"qkv_proj", "gate_up_proj", "down_proj"}
    with pytest.raises(ValueError, match="'w_proj' is not a module of Phi3ForCausalLM"):
        SpecTrainer(tiny_model(tiny_tok, arch="phi3"), tiny_tok, [],
                    TrainConfig("rloo", k=2, lora_rank=2, lora_targets=("w_proj",)))

    def violated(text: str) -> bool:
        return label_text(TextMonitor.from_module(MOD, "novowel"), text).violated

    prompts = ["Hello", "Take", "Sleep"]
    torch.manual_seed(7)
    a = tr.evaluate(prompts, violated, k=3)
    torch.manual_seed(7)
    b = tr.evaluate(prompts, violated, k=3)
    # Same weights and torch seed: the same samples, so before/after evaluations pair up.
    assert a["texts"] == b["texts"] and a["flags"] == b["flags"] and len(a["flags"]) == 9
    assert abs(a["kl"]) < 1e-5 and len(a["lengths"]) == 9
    assert all(0 <= n <= 4 for n in a["lengths"])
    c = tr.evaluate(prompts, violated, k=3, chunk=2)
    assert c["n"] == 9 and len(c["texts"]) == 9


@pytest.mark.parametrize("arch", ARCHS)
def test_top_layer_lora_log_probs_match_a_full_forward(tiny_tok: Any, arch: str) -> None:
    pytest.importorskip("peft")
    from speclang.llm.tiny import tiny_model
    from speclang.llm.trainer import _sequence_logprobs

    mon = TextMonitor.from_module(MOD, "novowel", unit="token")
    tr = SpecTrainer(tiny_model(tiny_tok, layers=3, arch=arch), tiny_tok, [spec_reward(mon)],
                     TrainConfig("rloo", k=2, max_new_tokens=5, lr=1e-2, lora_rank=2,
                                 lora_targets=("q_proj", "v_proj", "up_proj"), lora_layers=1))
    assert tr.split == 2
    lora = [(n, p) for n, p in tr.policy.named_parameters() if p.requires_grad]
    assert lora and all(".layers.2." in n for n, _ in lora)
    with torch.no_grad():  # non-zero adapters, so that policy and reference differ
        for _, p in lora:
            p.normal_(0.0, 0.3)
    # Prompts of different lengths: left padding must not shift the split forward.
    ids, attn, start, _ = tr.sample(["Hello", "Drink water and rest"], 2)
    hidden = tr.last_hidden
    assert hidden is not None and hidden.shape[:2] == (4, ids.shape[1] - 1)
    with torch.no_grad():
        tr.policy.eval()
        full = _sequence_logprobs(tr.policy, ids, attn, start)
        top = tr._policy_logprobs(ids, attn, start, hidden)
        with tr.policy.disable_adapter():
            ref_full = _sequence_logprobs(tr.policy, ids, attn, start)
        ref_top = tr._ref_logprobs(ids, attn, start, hidden)
    assert torch.allclose(full, top, atol=1e-4), (full, top)
    assert torch.allclose(ref_full, ref_top, atol=1e-4), (ref_full, ref_top)
    assert not torch.allclose(full, ref_full, atol=1e-3)
    # A training step through the split path moves only the adapters and stays finite.
    before = [p.detach().clone() for _, p in lora]
    stats = tr.step(["Hello", "Take"])
    assert all(math.isfinite(x) for x in (stats.kl, stats.loss))
    assert any(not torch.equal(b, p) for b, (_, p) in zip(before, lora, strict=True))


def test_finetune_summary_pairs_and_pools_the_seeds() -> None:
    from speclang.llm.smollm_finetune import summarise

    def ev(flags: list[bool], kl: float = 0.0) -> dict[str, Any]:
        rate = sum(flags) / len(flags)
        return {"violation_rate": rate, "ci95": list(wilson(sum(flags), len(flags))),
                "n": len(flags), "kl": kl, "mean_tokens": 10.0, "flags": flags}

    rows = [{"seed": s, "before": ev([True] * 4 + [False] * 4),
             "after": ev([True] * (s % 2) + [False] * (8 - s % 2), kl=1.0),
             "mcnemar": {"b": 4 - s % 2, "c": 0, "p": 0.1}, "train_minutes": 1.0}
            for s in range(3)]
    text = summarise(rows)
    assert "| paired drop (before - after) | 0.458 |" in text
    # 11 of 12 discordant pairs only before, none only after, pooled over the 3 seeds.
    assert "11 only before, 0 only after, p = 0.00098" in text
    assert "12/24 violate before, 1/24 after" in text
