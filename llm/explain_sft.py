"""Monitor explanations as training text: (spec, trace) -> the monitor's step-by-step
reasoning -> verdict, as a chat instruction dataset; supervised fine-tuning on it (TRL's
``SFTTrainer``); and an evaluation of a model's verdicts and violated conjuncts against the
real monitor on specs and traces it has not seen.

Examples come from random traces over the specs of ``.spec`` files: each step makes each of
the spec's propositions true with probability ``p``. The reasoning is what ``speclang
explain`` computes (``speclang.explain.explain_trace``): per step, the true propositions,
the verdict and the obligation that remains; on a violation, the conjunct that can no
longer be met and why. The answer ends with two lines the evaluation parses::

    Verdict: violated
    Violated conjunct: G(!lava & !creeper)

(``Violated conjunct: none`` when nothing is violated; conjuncts that fail only together
are joined by `` and ``.) Verdict accuracy is over every example, conjunct accuracy over
the examples the monitor says are violated; both with 95 % Wilson intervals.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

SYSTEM = ("You are a runtime monitor for LTLf specs. Read the spec and the trace, follow the "
          "monitor step by step, then give the verdict and the violated conjunct.")
VERDICTS = ("satisfied", "presumably_satisfied", "presumably_violated", "violated")


@dataclass
class Example:
    source: str  # the .spec file
    spec: str
    formula: str
    conjuncts: list[str]
    props: list[str]
    trace: list[list[str]]  # true propositions per step
    reasoning: str
    verdict: str
    violated: str  # the violated conjunct(s), or "none"

    def prompt(self) -> str:
        steps = "\n".join(f"{i}: {{{', '.join(s)}}}" for i, s in enumerate(self.trace, 1))
        conj = "\n".join(f"- {c}" for c in self.conjuncts)
        return (f"Spec {self.spec}: {self.formula}\nConjuncts:\n{conj}\n"
                f"Propositions: {', '.join(self.props)}\n"
                f"Trace (true propositions per step):\n{steps}")

    def answer(self) -> str:
        return f"{self.reasoning}\nVerdict: {self.verdict}\nViolated conjunct: {self.violated}"

    def messages(self, *, with_answer: bool = True) -> list[dict[str, str]]:
        msgs = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": self.prompt()}]
        if with_answer:
            msgs.append({"role": "assistant", "content": self.answer()})
        return msgs


def specs_of(paths: Sequence[str | Path]) -> list[tuple[str, Any, str, tuple[str, ...]]]:
    """(file, module, spec name, propositions) of every spec in ``paths``."""
    from speclang.compiler import compile_formula
    from speclang.loader import load

    out = []
    for path in paths:
        module = load(str(path))
        for name, spec in module.specs.items():
            aut = compile_formula(spec.formula)
            out.append((str(path), module, name, tuple(aut.props)))
    return out


def make_example(source: str, module: Any, spec: str, props: Sequence[str],
                 trace: Sequence[Sequence[str]]) -> Example:
    """The monitor's reasoning on ``trace``, as training text."""
    from speclang.explain import explain_trace

    e = explain_trace(None, [set(s) for s in trace], module=module, spec=spec)
    lines = []
    residual = None
    for s in e.steps:
        # The remaining obligation is said when it changes: repeating it at every step
        # would make most of the answer a copy.
        said = f"; remaining: {s.residual}" if s.residual != residual else ""
        residual = s.residual
        lines.append(f"Step {s.step}: {{{', '.join(s.letter)}}} -> {s.verdict}{said}")
        if e.cause is not None and s.step == e.cause.step:
            lines.append(f"Cause: {e.cause.summary}")
            break
    if e.cause is None and e.pending is not None:
        lines.append(f"Still owed at the end: {e.pending.remedy}")
    violated = (" and ".join(b.text for b in e.cause.blames)
                if e.cause is not None and e.cause.blames else "none")
    conjuncts = [c.text for c in module.specs[spec].conjuncts]
    return Example(Path(source).name, spec, e.formula, conjuncts, list(props),
                   [sorted(s) for s in trace], "\n".join(lines), e.final_verdict, violated)


def random_examples(paths: Sequence[str | Path], per_spec: int, *, seed: int = 0,
                    max_len: int = 5, p: float = 0.3) -> list[Example]:
    """``per_spec`` examples of each spec of ``paths`` on random traces of 1..``max_len``
    steps (each proposition true with probability ``p`` at each step)."""
    rng = random.Random(seed)
    out = []
    for source, module, spec, props in specs_of(paths):
        for _ in range(per_spec):
            n = rng.randint(1, max_len)
            trace = [[a for a in props if rng.random() < p] for _ in range(n)]
            out.append(make_example(source, module, spec, props, trace))
    return out


def write_jsonl(examples: Sequence[Example], path: str | Path) -> int:
    """One ``{"messages": [...]}`` row per example (the chat format TRL's SFTTrainer
    reads), with the example's fields under ``"meta"``."""
    with open(path, "w", encoding="utf-8") as f:
        for ex in examples:
            f.write(json.dumps({"messages": ex.messages(), "meta": asdict(ex)},
                               ensure_ascii=False) + "\n")
    return len(examples)


_VERDICT = re.compile(r"^Verdict:\s*([a-z_]+)", re.M)
_CONJUNCT = re.compile(r"^Violated conjunct:\s*(.+?)\s*$", re.M)


def parse_answer(text: str) -> tuple[str | None, str | None]:
    """(verdict, violated conjunct) from a model's answer; None where a line is missing
    or the verdict is not one of the four."""
    v = _VERDICT.search(text)
    c = _CONJUNCT.search(text)
    verdict = v.group(1) if v and v.group(1) in VERDICTS else None
    return verdict, (c.group(1) if c else None)


def score(examples: Sequence[Example], answers: Sequence[str]) -> dict[str, Any]:
    """Verdict and violated-conjunct accuracy of ``answers`` against the monitor."""
    from speclang.stats import wilson

    if len(examples) != len(answers):
        raise ValueError("one answer per example")
    parsed = [parse_answer(a) for a in answers]
    ok_v = [p[0] == ex.verdict for p, ex in zip(parsed, examples, strict=True)]
    bad = [(p, ex) for p, ex in zip(parsed, examples, strict=True) if ex.verdict == "violated"]
    ok_c = [p[0] == "violated" and p[1] == ex.violated for p, ex in bad]
    n, m = len(ok_v), len(ok_c)
    return {"n": n, "verdict_accuracy": sum(ok_v) / n if n else 0.0,
            "verdict_ci95": list(wilson(sum(ok_v), n)),
            "n_violated": m, "conjunct_accuracy": sum(ok_c) / m if m else 0.0,
            "conjunct_ci95": list(wilson(sum(ok_c), m)),
            "unparsed": sum(1 for p in parsed if p[0] is None)}


def answers_of(model: Any, tok: Any, examples: Sequence[Example], *,
               max_new_tokens: int = 160, batch: int = 8) -> list[str]:
    """Greedy answers of ``model`` to the examples' prompts."""
    import torch

    out: list[str] = []
    model.eval()
    for i in range(0, len(examples), batch):
        part = examples[i:i + batch]
        texts = [tok.apply_chat_template(ex.messages(with_answer=False),
                                         add_generation_prompt=True, tokenize=False)
                 for ex in part]
        enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.no_grad():
            gen = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                                 pad_token_id=tok.pad_token_id)
        out += [tok.decode(g[enc["input_ids"].shape[1]:], skip_special_tokens=True)
                for g in gen]
    return out


def finetune(model: Any, tok: Any, examples: Sequence[Example], out_dir: str | Path, *,
             epochs: float = 1.0, lr: float = 2e-4, batch: int = 4, lora_rank: int = 0,
             max_steps: int = -1, seed: int = 0) -> Any:
    """Supervised fine-tuning on the examples with TRL's ``SFTTrainer``; LoRA adapters
    when ``lora_rank > 0``. Returns the model. The rows are given in TRL's
    prompt-completion form, whose loss counts the answer's tokens only: the prompt is
    copied from the input and would otherwise dominate the loss."""
    import datasets
    import trl

    data = datasets.Dataset.from_list([
        {"prompt": ex.messages(with_answer=False), "completion": ex.messages()[-1:]}
        for ex in examples])
    args = trl.SFTConfig(
        output_dir=str(out_dir), num_train_epochs=epochs, max_steps=max_steps,
        per_device_train_batch_size=batch, learning_rate=lr, logging_steps=5,
        report_to="none", save_strategy="no", use_cpu=True, bf16=False,
        dataloader_num_workers=0, seed=seed)
    peft_config = None
    if lora_rank > 0:
        from peft import LoraConfig

        from speclang.llm.trainer import lora_modules

        peft_config = LoraConfig(r=lora_rank, lora_alpha=2 * lora_rank, lora_dropout=0.0,
                                 target_modules=lora_modules(model, (
                                     "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj",
                                     "up_proj", "down_proj")), task_type="CAUSAL_LM")
    trainer = trl.SFTTrainer(model=model, args=args, train_dataset=data,
                             processing_class=tok, peft_config=peft_config)
    trainer.train()
    return trainer.model


def split_by_spec_file(paths: Sequence[str], held_out: Sequence[str]
                       ) -> tuple[list[str], list[str]]:
    """Training and held-out spec files: held-out specs are unseen in training."""
    held = [p for p in paths if Path(p).name in set(held_out)]
    return [p for p in paths if p not in held], held


# "role: content" lines, for the tiny tokenizer (it has no chat template of its own).
TINY_TEMPLATE = ("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
                 "{% if add_generation_prompt %}assistant:{% endif %}")


def main(argv: Sequence[str] | None = None) -> int:
    import argparse
    import sys
    import tempfile

    root = Path(__file__).resolve().parents[1]
    default_specs = [str(p) for p in sorted((root / "examples").glob("*.spec"))]
    ap = argparse.ArgumentParser(
        prog="python -m speclang.llm.explain_sft",
        description="export monitor explanations as a chat dataset, fine-tune on it and "
                    "measure verdict / violated-conjunct accuracy on unseen specs")
    ap.add_argument("command", choices=["export", "run"])
    ap.add_argument("--specs", nargs="*", default=default_specs)
    ap.add_argument("--held-out", nargs="*", default=["shooter.spec", "vizdoom.spec"],
                    help="spec file names kept out of training (evaluated on)")
    ap.add_argument("--per-spec", type=int, default=12, help="training traces per spec")
    ap.add_argument("--eval-per-spec", type=int, default=6, help="held-out traces per spec")
    ap.add_argument("--max-len", type=int, default=5)
    ap.add_argument("--out", default=None, help="export: the training JSONL")
    ap.add_argument("--model", choices=["tiny", "smollm2"], default="tiny")
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--max-steps", type=int, default=-1)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--lora-rank", type=int, default=0)
    ap.add_argument("--max-new-tokens", type=int, default=160)
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)

    from speclang.diagnostics import SpecErrors

    train_files, held_files = split_by_spec_file(a.specs, a.held_out)
    try:
        train = random_examples(train_files, a.per_spec, seed=a.seed, max_len=a.max_len)
        held = random_examples(held_files, a.eval_per_spec, seed=a.seed + 1,
                               max_len=a.max_len)
    except (SpecErrors, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if a.command == "export":
        if not a.out:
            print("error: export needs --out", file=sys.stderr)
            return 1
        n = write_jsonl(train, a.out)
        write_jsonl(held, Path(a.out).with_suffix(".heldout.jsonl"))
        print(f"{n} training examples from {len(train_files)} spec files -> {a.out}; "
              f"{len(held)} held-out from {len(held_files)}")
        return 0
    if not held:
        print("error: no held-out specs (--held-out names none of --specs)", file=sys.stderr)
        return 1

    import torch

    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    if a.model == "tiny":
        from speclang.llm.tiny import tiny_model, tiny_tokenizer

        tok = tiny_tokenizer()
        tok.chat_template = TINY_TEMPLATE
        model = tiny_model(tok, seed=a.seed)
    else:
        from speclang.llm import smollm

        model, tok = smollm.load()

    def report(tag: str, s: dict[str, Any]) -> None:
        v, c = s["verdict_ci95"], s["conjunct_ci95"]
        print(f"{tag}: verdict accuracy {s['verdict_accuracy']:.3f} [{v[0]:.3f}, {v[1]:.3f}]"
              f" (n={s['n']}); violated-conjunct accuracy {s['conjunct_accuracy']:.3f} "
              f"[{c[0]:.3f}, {c[1]:.3f}] (n={s['n_violated']}); unparsed {s['unparsed']}",
              flush=True)

    print(f"{len(train)} training examples ({len(train_files)} spec files), {len(held)} "
          f"held-out ({', '.join(Path(p).name for p in held_files)}); held-out verdicts: "
          + ", ".join(f"{v} {sum(ex.verdict == v for ex in held)}" for v in VERDICTS),
          flush=True)
    before = score(held, answers_of(model, tok, held, max_new_tokens=a.max_new_tokens))
    report("before", before)
    with tempfile.TemporaryDirectory() as tmp:
        model = finetune(model, tok, train, tmp, epochs=a.epochs, lr=a.lr, batch=a.batch,
                         lora_rank=a.lora_rank, max_steps=a.max_steps, seed=a.seed)
    after = score(held, answers_of(model, tok, held, max_new_tokens=a.max_new_tokens))
    report("after", after)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
