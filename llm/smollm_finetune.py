"""A CPU fine-tuning run of SmolLM2-135M-Instruct (LoRA, RLOO with a KL penalty) against one
text spec of ``examples/llm/medical.spec``, on the prompts of ``examples/llm/prompts.json``.

Per seed: the violation rate on every held-out prompt x ``--eval-k`` samples before and
after training, drawn under the same torch seed so that the two evaluations pair up sample
by sample (exact McNemar test per seed), the KL to the reference, completion lengths (a
collapse into short or empty replies would also avoid violations) and sample pairs. One
line of JSON per seed goes to ``--out``; a markdown summary (per-seed table, mean paired
drop over seeds with a 95 % t-interval, pooled McNemar test) goes to stdout.

    HF_HUB_OFFLINE=1 nice -n 10 python -m llm.smollm_finetune --spec no_dosage --seeds 3 \\
        --out runs/llm/finetune.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {
    "qv": ("q_proj", "v_proj"),
    "all": ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
}


def _utc() -> str:
    return time.strftime("%H:%M:%S", time.gmtime())


def _load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def load_model(path: str, device: str = "cpu") -> tuple[Any, Any]:
    """A local transformers checkpoint (e.g. Phi-3-mini-4k-instruct, fetched beforehand)
    and its tokenizer, set up for batched generation (left padding)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    tok.padding_side = "left"
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    model: Any = AutoModelForCausalLM.from_pretrained(path)
    model = model.to(device).eval()
    return model, tok


def run_seed(a: argparse.Namespace, seed: int, module: Any, prompts: dict[str, list[str]]
             ) -> dict[str, Any]:
    import torch

    from speclang.llm import TextMonitor, label_text, smollm
    from speclang.llm.rewards import spec_reward
    from speclang.llm.trainer import SpecTrainer, TrainConfig
    from speclang.stats import mcnemar

    t0 = time.time()
    mon = TextMonitor.from_module(module, a.spec, unit="word")

    def violated(text: str) -> bool:
        return label_text(mon, text).violated

    model, tok = load_model(a.model_path, a.device) if a.model_path else smollm.load()

    def chat(q: str) -> str:
        system = [{"role": "system", "content": a.system}] if a.system else []
        return tok.apply_chat_template([*system, {"role": "user", "content": q}],
                                       add_generation_prompt=True, tokenize=False)

    train = [chat(q) for q in prompts["train"]]
    held = [chat(q) for q in prompts.get("heldout", [])[:a.heldout or None]]
    if a.eval_k and not held:
        raise SystemExit(f"{a.prompts}: no 'heldout' prompts to evaluate on (--eval-k 0 "
                         "skips the evaluation)")
    cfg = TrainConfig(a.update, k=a.k, max_new_tokens=a.tokens, lr=a.lr, beta=beta(a),
                      lam=a.lam, selm_alpha=a.selm_alpha, lora_rank=a.rank,
                      lora_alpha=a.alpha, lora_targets=TARGETS[a.targets],
                      lora_layers=a.lora_layers,
                      seed=seed, temperature=a.temperature)
    rewards = [spec_reward(TextMonitor.from_module(module, a.spec, unit="word"))]
    if a.reward == "semantic":
        from speclang.llm.redteam import load_redteam, semantic_monitor

        rewards.append(spec_reward(semantic_monitor(load_redteam())))
    tr = SpecTrainer(model, tok, rewards, cfg)
    if not a.eval_k:
        return train_only(a, seed, tr, train, t0)
    torch.manual_seed(1000 + seed)
    before = tr.evaluate(held, violated, k=a.eval_k)
    train_s = train_and_save(a, seed, tr, train)
    torch.manual_seed(1000 + seed)
    after = tr.evaluate(held, violated, k=a.eval_k)
    test = mcnemar(before["flags"], after["flags"])
    pairs = [{"prompt": prompts["heldout"][i // a.eval_k], "before": b, "after": c,
              "violated_before": fb, "violated_after": fc}
             for i, (b, c, fb, fc) in enumerate(zip(before["texts"], after["texts"],
                                                    before["flags"], after["flags"],
                                                    strict=True))]

    def brief(ev: dict[str, Any]) -> dict[str, Any]:
        lengths = ev["lengths"]
        return {"violation_rate": ev["violation_rate"], "ci95": ev["ci95"], "n": ev["n"],
                "kl": ev["kl"], "mean_tokens": sum(lengths) / len(lengths),
                "empty": sum(1 for t in ev["texts"] if not t.strip()), "flags": ev["flags"]}

    return {"seed": seed, "spec": a.spec, "reward": a.reward,
            "config": {**tr.config_dict(), "steps": a.steps, "batch": a.batch},
            "before": brief(before), "after": brief(after), "mcnemar": test,
            "train_rewards": [round(h.reward, 3) for h in tr.history],
            "train_kl": [round(h.kl, 3) for h in tr.history],
            "train_pairs": [h.pairs for h in tr.history],
            "train_minutes": round(train_s / 60, 2),
            "minutes": round((time.time() - t0) / 60, 2), "pairs": pairs}


def beta(a: argparse.Namespace) -> float:
    """``--beta``, or its default for the update rule: it is the KL weight of RLOO but the
    preference temperature of DPO and SELM, where 0.05 would leave the loss nearly flat
    (0.5, as in the toy comparison of ``speclang.llm.progressive``)."""
    if a.beta is not None:
        return float(a.beta)
    return 0.5 if a.update in ("dpo", "selm") else 0.05


def train_and_save(a: argparse.Namespace, seed: int, tr: Any, train: list[str]) -> float:
    """Train with progress lines, save the adapter when ``--save-adapters`` asks; seconds."""
    t_train = time.time()
    tr.train(train, a.steps, batch=a.batch,
             log=lambda s: print(f"# seed {seed} update {s.step}: reward {s.reward:.3f} "
                                 f"kl {s.kl:.3f} ({time.time() - t_train:.0f} s)", flush=True))
    train_s = time.time() - t_train
    if a.save_adapters is not None:
        tr.policy.save_pretrained(str(a.save_adapters / f"seed-{seed}"))
    return train_s


def train_only(a: argparse.Namespace, seed: int, tr: Any, train: list[str], t0: float
               ) -> dict[str, Any]:
    """Training without the before/after evaluation (``--eval-k 0``): the adapter is the
    product, judged elsewhere (``benchmarks/llm_leak_rate.py --adapter``)."""
    train_s = train_and_save(a, seed, tr, train)
    return {"seed": seed, "spec": a.spec, "reward": a.reward,
            "config": {**tr.config_dict(), "steps": a.steps, "batch": a.batch},
            "train_rewards": [round(h.reward, 3) for h in tr.history],
            "train_kl": [round(h.kl, 3) for h in tr.history],
            "train_samples": [h.samples for h in tr.history],
            "train_minutes": round(train_s / 60, 2),
            "minutes": round((time.time() - t0) / 60, 2)}


def summarise(rows: list[dict[str, Any]]) -> str:
    from speclang.stats import mcnemar, t_interval

    def fmt(lo_hi: list[float] | tuple[float, float]) -> str:
        return f"[{lo_hi[0]:.3f}, {lo_hi[1]:.3f}]"

    if not all("before" in r for r in rows):
        return summarise_training(rows)
    out = ["| seed | violation before | violation after | drop | McNemar b/c, p | KL after "
           "| mean tokens before/after | train min |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        b, a_ = r["before"], r["after"]
        m = r["mcnemar"]
        out.append(f"| {r['seed']} | {b['violation_rate']:.3f} {fmt(b['ci95'])} | "
                   f"{a_['violation_rate']:.3f} {fmt(a_['ci95'])} | "
                   f"{b['violation_rate'] - a_['violation_rate']:.3f} | "
                   f"{m['b']}/{m['c']}, {m['p']:.2g} | {a_['kl']:.3f} | "
                   f"{b['mean_tokens']:.1f} / {a_['mean_tokens']:.1f} | "
                   f"{r['train_minutes']:.1f} |")
    out += ["", "| quantity (over seeds) | mean | 95 % t-interval |", "|---|---|---|"]
    series = {
        "violation rate before": [r["before"]["violation_rate"] for r in rows],
        "violation rate after": [r["after"]["violation_rate"] for r in rows],
        "paired drop (before - after)": [r["before"]["violation_rate"]
                                         - r["after"]["violation_rate"] for r in rows],
        "KL to the reference after": [r["after"]["kl"] for r in rows],
        "mean completion tokens after": [r["after"]["mean_tokens"] for r in rows],
    }
    for name, xs in series.items():
        m, lo, hi = t_interval(xs)
        out.append(f"| {name} | {m:.3f} | [{lo:.3f}, {hi:.3f}] |")
    pooled_b = [f for r in rows for f in r["before"]["flags"]]
    pooled_a = [f for r in rows for f in r["after"]["flags"]]
    test = mcnemar(pooled_b, pooled_a)
    out += ["", f"Pooled: {sum(pooled_b)}/{len(pooled_b)} violate before, "
                f"{sum(pooled_a)}/{len(pooled_a)} after; exact McNemar on the paired "
                f"samples: {test['b']} only before, {test['c']} only after, "
                f"p = {test['p']:.2g}."]
    if all("pairs" in r for r in rows):
        # Side measures of how the replies changed (not what was trained on): a digit
        # anywhere, and a pointer to a professional, which a cautious reply would add.
        import re

        def count(pattern: str, key: str) -> int:
            return sum(bool(re.search(pattern, p[key], re.I)) for r in rows for p in r["pairs"])

        n = sum(len(r["pairs"]) for r in rows)
        refer = r"doctor|healthcare|professional|physician|pharmacist"
        same = sum(p["before"] == p["after"] for r in rows for p in r["pairs"])
        out.append(f"Replies with a digit anywhere: {count(r'[0-9]', 'before')}/{n} before, "
                   f"{count(r'[0-9]', 'after')}/{n} after; naming a doctor, pharmacist or "
                   f"(healthcare) professional: {count(refer, 'before')}/{n} before, "
                   f"{count(refer, 'after')}/{n} after; identical before and after: "
                   f"{same}/{n}.")
    return "\n".join(out)


def summarise_training(rows: list[dict[str, Any]]) -> str:
    """Runs without an evaluation: the reward and KL of the first and last updates."""
    out = ["| seed | reward | train reward first / last update | train KL last update "
           "| train min |", "|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['seed']} | {r.get('reward', 'verdict')} | "
                   f"{r['train_rewards'][0]:.3f} / {r['train_rewards'][-1]:.3f} | "
                   f"{r['train_kl'][-1]:.3f} | {r['train_minutes']:.1f} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--spec", default="no_dosage")
    ap.add_argument("--prompts", type=Path, default=ROOT / "examples" / "llm" / "prompts.json",
                    help="JSON with 'train' (and, to evaluate, 'heldout') question lists")
    ap.add_argument("--reward", choices=("verdict", "semantic"), default="verdict",
                    help="semantic: the spec's verdict plus the red-team file's MiniLM "
                         "judge of dosing advice (speclang.llm.redteam)")
    ap.add_argument("--system", default=None,
                    help="a system prompt (default: the chat template's own)")
    ap.add_argument("--save-adapters", type=Path, default=None,
                    help="folder to keep each seed's LoRA adapter in (DIR/seed-N)")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--update", choices=("rloo", "apa", "dpo", "selm"), default="rloo",
                    help="update rule; dpo and selm pair each prompt's best and worst of "
                         "its k samples when the monitor separates them")
    ap.add_argument("--steps", type=int, default=8, help="updates per seed")
    ap.add_argument("--batch", type=int, default=6, help="training prompts per update")
    ap.add_argument("--k", type=int, default=4, help="samples per prompt (RLOO group, "
                    "preference pairs)")
    ap.add_argument("--tokens", type=int, default=40, help="max new tokens per completion")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--beta", type=float, default=None,
                    help="KL weight of rloo (default 0.05); preference temperature of dpo "
                         "and selm (default 0.5)")
    ap.add_argument("--lam", type=float, default=1.0, help="advantage scale of apa")
    ap.add_argument("--selm-alpha", type=float, default=1e-3,
                    help="weight of SELM's optimism term")
    ap.add_argument("--rank", type=int, default=16)
    ap.add_argument("--alpha", type=int, default=32)
    ap.add_argument("--targets", choices=sorted(TARGETS), default="all")
    ap.add_argument("--lora-layers", type=int, default=8,
                    help="adapt only the last N of the 30 layers (0: all)")
    ap.add_argument("--temperature", type=float, default=0.8)
    ap.add_argument("--eval-k", type=int, default=4,
                    help="samples per held-out prompt (0: no evaluation)")
    ap.add_argument("--heldout", type=int, default=20, help="first N held-out prompts (0: all)")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (2 threads on 2 shared cores ran 3-4x slower)")
    ap.add_argument("--out", type=Path, default=None, help="JSONL, one line per seed")
    ap.add_argument("--model-path", default=None,
                    help="a local transformers checkpoint instead of SmolLM2 (Llama or "
                         "Phi-3 family; LoRA targets map onto Phi-3's fused projections)")
    ap.add_argument("--device", default="cpu", help="torch device of the model (cuda, cpu)")
    ap.add_argument("--summarise", type=Path, default=None,
                    help="only print the summary of an earlier run's JSONL")
    a = ap.parse_args(argv)
    if a.summarise is not None:
        print(summarise([json.loads(line) for line in a.summarise.read_text().splitlines()
                         if line.strip()]))
        return

    import torch

    from speclang.loader import load

    torch.set_num_threads(a.threads)
    module = load(str(ROOT / "examples" / "llm" / "medical.spec"))
    prompts = json.loads(a.prompts.read_text("utf-8"))
    start, load0 = _utc(), _load()
    t0 = time.time()
    rows = []
    for seed in range(a.first_seed, a.first_seed + a.seeds):
        row = run_seed(a, seed, module, prompts)
        rows.append(row)
        if a.out is not None:
            a.out.parent.mkdir(parents=True, exist_ok=True)
            with a.out.open("a") as f:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        change = (f"{row['before']['violation_rate']:.3f} -> "
                  f"{row['after']['violation_rate']:.3f}, " if "before" in row else "")
        print(f"# seed {seed}: {change}{row['minutes']:.1f} min, load {_load()}", flush=True)
    print(f"\nWall clock {(time.time() - t0) / 60:.1f} min ({start} -> {_utc()} UTC), "
          f"load average (1/5/15 min) {load0} at the start, {_load()} at the end, "
          f"torch threads {a.threads}.\n")
    print(summarise(rows))


if __name__ == "__main__":
    main()
