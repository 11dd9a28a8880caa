"""A short CPU fine-tuning run of SmolLM2-135M-Instruct (LoRA, RLOO) against one text spec
of ``examples/llm/medical.spec``: violation rate on held-out prompts before and after, KL to
the reference, samples; one line of JSON per seed.

    HF_HUB_OFFLINE=1 nice -n 19 python -m llm.smollm_finetune --spec dosage_disclaimer --seeds 3
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--spec", default="dosage_disclaimer")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--tokens", type=int, default=32)
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--lr", type=float, default=2e-4)
    a = ap.parse_args()

    import torch

    import speclang
    from llm import TextMonitor, label_text, smollm
    from llm.rewards import spec_reward
    from llm.trainer import SpecTrainer, TrainConfig

    module = speclang.load(str(ROOT / "examples" / "llm" / "medical.spec"))
    prompts = json.loads((ROOT / "examples" / "llm" / "prompts.json").read_text())
    mon = TextMonitor.from_module(module, a.spec, unit="word")

    def violated(text: str) -> bool:
        return label_text(mon, text).violated

    for seed in range(a.seeds):
        t0 = time.time()
        model, tok = smollm.load()

        def chat(q: str) -> str:
            return tok.apply_chat_template([{"role": "user", "content": q}],  # noqa: B023
                                           add_generation_prompt=True, tokenize=False)

        train = [chat(q) for q in prompts["train"]]
        held = [chat(q) for q in prompts["heldout"]]
        cfg = TrainConfig("rloo", k=a.k, max_new_tokens=a.tokens, lr=a.lr, beta=0.05,
                          lora_rank=8, seed=seed, temperature=0.8)
        tr = SpecTrainer(model, tok, [spec_reward(TextMonitor.from_module(
            module, a.spec, unit="word"))], cfg)
        torch.manual_seed(1000 + seed)
        before = tr.evaluate(held, violated, k=2)
        tr.train(train, a.steps, batch=a.batch)
        torch.manual_seed(1000 + seed)
        after = tr.evaluate(held, violated, k=2)
        print(json.dumps({
            "seed": seed, "spec": a.spec, "steps": a.steps, "before": before, "after": after,
            "train_rewards": [round(h.reward, 3) for h in tr.history],
            "minutes": round((time.time() - t0) / 60, 2)}, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
