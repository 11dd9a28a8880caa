"""TRL's own GRPOTrainer runs with speclang rewards: two steps on a tiny config-built model
(no downloads), with plain-text prompts and with conversational ones."""

from __future__ import annotations

from typing import Any

import pytest

trl = pytest.importorskip("trl")
datasets = pytest.importorskip("datasets")

import speclang  # noqa: E402
from speclang.llm import TextMonitor  # noqa: E402
from speclang.llm.rewards import spec_reward  # noqa: E402

SPEC = speclang.loads(
    'observe prompt: text\nobserve reply: text\n'
    'prop asked = prompt contains "dose"\n'
    'prop dosage = reply matches /\\d/\n'
    'spec dose_if_asked { G(dosage -> asked) }')

# A minimal chat template for the tiny tokenizer (it has none): "role: content" lines.
TEMPLATE = ("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
            "{% if add_generation_prompt %}assistant:{% endif %}")


def _train(tmp_path: Any, prompts: list[Any], tok: Any) -> tuple[Any, list[list[Any]]]:
    import torch

    from speclang.llm.tiny import tiny_model

    seen: list[list[Any]] = []
    inner = spec_reward(TextMonitor.from_module(SPEC, "dose_if_asked", observable="reply"))

    def reward(prompts: Any = None, completions: Any = (), **kwargs: Any) -> list[float]:
        seen.append(list(completions))
        return inner(prompts=prompts, completions=completions, **kwargs)

    reward.__name__ = inner.__name__
    torch.manual_seed(0)
    model = tiny_model(tok)
    before = [p.detach().clone() for p in model.parameters()]
    args = trl.GRPOConfig(
        output_dir=str(tmp_path), max_steps=2, per_device_train_batch_size=4,
        num_generations=4, max_completion_length=8, learning_rate=1e-2, logging_steps=1,
        report_to="none", save_strategy="no", use_cpu=True, bf16=False,
        dataloader_num_workers=0, seed=0)
    trainer = trl.GRPOTrainer(model=model, reward_funcs=[reward], args=args,
                              train_dataset=datasets.Dataset.from_dict({"prompt": prompts}),
                              processing_class=tok)
    trainer.train()
    assert trainer.state.global_step == 2
    logged = [h for h in trainer.state.log_history if "reward" in h]
    assert len(logged) == 2
    assert f"rewards/{inner.__name__}/mean" in logged[0]
    moved = any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    return moved, seen


def test_grpo_trainer_two_steps_with_plain_prompts(tmp_path: Any, tiny_tok: Any) -> None:
    moved, seen = _train(tmp_path, ["What dose of ibuprofen?", "Hello there", "Take",
                                    "Drink water"], tiny_tok)
    assert seen and all(isinstance(c, str) for batch in seen for c in batch)
    assert moved  # the rewards differ within a group often enough for a gradient


def test_grpo_trainer_two_steps_with_conversational_prompts(tmp_path: Any) -> None:
    from speclang.llm.tiny import tiny_tokenizer

    tok = tiny_tokenizer()
    tok.chat_template = TEMPLATE
    prompts = [[{"role": "user", "content": q}]
               for q in ["What dose of ibuprofen?", "Hello there", "Take", "Drink water"]]
    _moved, seen = _train(tmp_path, prompts, tok)
    # TRL hands conversational completions to the reward: lists of assistant messages.
    assert seen and all(isinstance(c, list) and c[0]["role"] == "assistant"
                        for batch in seen for c in batch)
