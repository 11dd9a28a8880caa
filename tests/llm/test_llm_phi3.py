"""The Phi-3 family end to end: the fine-tuning command on a local Phi-3 checkpoint (a tiny
config-built one saved to disk), with LoRA on its fused projections. The shield, trigger
and fear tests run on a tiny Phi-3 through the ``tiny_lm`` fixture, the trainer's through
``ARCHS``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("peft")
torch = pytest.importorskip("torch")

# "role: content" lines: the tiny tokenizer has no chat template, Phi-3's has one.
TEMPLATE = ("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
            "{% if add_generation_prompt %}assistant:{% endif %}")


def test_finetune_command_runs_on_a_local_phi3_checkpoint(tmp_path: Path, capsys: Any) -> None:
    from speclang.llm.smollm_finetune import main
    from speclang.llm.tiny import tiny_model, tiny_tokenizer

    tok = tiny_tokenizer()
    tok.chat_template = TEMPLATE
    ckpt = tmp_path / "phi3"
    tiny_model(tok, layers=2, arch="phi3").save_pretrained(ckpt)
    tok.save_pretrained(ckpt)
    out = tmp_path / "run.jsonl"
    main(["--model-path", str(ckpt), "--seeds", "1", "--steps", "1", "--batch", "2",
          "--k", "2", "--tokens", "4", "--heldout", "2", "--eval-k", "2", "--rank", "2",
          "--lora-layers", "1", "--out", str(out)])
    row = json.loads(out.read_text())
    assert row["before"]["n"] == row["after"]["n"] == 4
    assert len(row["train_rewards"]) == 1
    assert "| seed | violation before" in capsys.readouterr().out
    # TARGETS["all"] names Llama projections; the trainer adapted Phi-3's fused ones.
    assert row["config"]["lora_targets"] == ["q_proj", "k_proj", "v_proj", "o_proj",
                                             "gate_proj", "up_proj", "down_proj"]


def test_phi3_lora_adapts_fused_projections_in_the_top_layers(tiny_tok: Any) -> None:
    from speclang.llm.tiny import tiny_model
    from speclang.llm.trainer import SpecTrainer, TrainConfig

    tr = SpecTrainer(tiny_model(tiny_tok, layers=3, arch="phi3"), tiny_tok, [],
                     TrainConfig("rloo", k=2, lora_rank=2, lora_layers=1,
                                 lora_targets=("q_proj", "o_proj", "up_proj")))
    names = [n for n, p in tr.policy.named_parameters() if p.requires_grad]
    assert names and all(".layers.2." in n for n in names)
    assert {n.split(".lora_")[0].rsplit(".", 1)[-1] for n in names} == {
        "qkv_proj", "o_proj", "gate_up_proj"}
