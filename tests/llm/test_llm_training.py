"""Spec rewards (TRL signature) and the RLOO / APA fine-tuner on a tiny offline model."""

from __future__ import annotations

from typing import Any

import pytest

torch = pytest.importorskip("torch")

import speclang  # noqa: E402
from llm import TextMonitor, label_text  # noqa: E402
from llm.rewards import spec_reward  # noqa: E402
from llm.trainer import SpecTrainer, TrainConfig, wilson  # noqa: E402

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


def test_rloo_lowers_the_violation_rate(tiny_tok: Any) -> None:
    from llm.tiny import tiny_model

    prompts = ["Hello", "Take", "Drink water", "Sleep"]
    mon = TextMonitor.from_module(MOD, "novowel", unit="token")
    tr = SpecTrainer(tiny_model(tiny_tok), tiny_tok, [spec_reward(mon)],
                     TrainConfig("rloo", k=4, max_new_tokens=4, lr=5e-2, beta=0.01))
    before = _violation_rate(tr, prompts)
    tr.train(prompts, steps=12, batch=2)
    after = _violation_rate(tr, prompts)
    assert before > 0.3 and after < before - 0.2, (before, after)
    assert all(torch.isfinite(torch.tensor([s.kl, s.loss])).all() for s in tr.history)


def test_apa_loss_falls_on_a_fixed_batch_and_keeps_reference_frozen(tiny_tok: Any) -> None:
    from llm.tiny import tiny_model

    mon = TextMonitor.from_module(MOD, "novowel", unit="token")
    tr = SpecTrainer(tiny_model(tiny_tok), tiny_tok, [spec_reward(mon)],
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
