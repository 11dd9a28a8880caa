"""``speclang breakfix FILE --spec NAME --out DIR``: break-fix rounds against a text spec
(:mod:`speclang.llm.breakfix`): red-team SmolLM2 (or the tiny test model), fine-tune it on
the attacks found with the monitor's reward, benchmark, repeat. Each seed's rounds go to
``DIR/seed-S/round-R/``; a rerun resumes after the last finished round."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from speclang.cli import SpecError, UsageError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "llm"


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "breakfix", help="red-team a chat model against a spec, fine-tune on the attacks, repeat",
        description="Break-fix rounds on SmolLM2-135M-Instruct: red-team it with mutated, "
        "paraphrased and multi-turn variants of a red-team prompt set, keep the attacks the "
        "spec's monitor (and the file's semantic judge) finds violating, fine-tune on them "
        "(LoRA, RLOO or APA, the monitor's reward), benchmark held-out prompts, the attacks "
        "and earlier rounds' attacks, KL and a helpfulness proxy; repeat.")
    p.add_argument("file", metavar="FILE", help="a .spec file with text propositions")
    p.add_argument("--spec", "--spec-name", dest="spec", required=True, metavar="NAME")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="where each seed's rounds are written (DIR/seed-S/round-R/)")
    p.add_argument("--rounds", type=int, default=2, help="fix rounds after round 0")
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--candidates", type=int, default=16, help="attack candidates per round")
    p.add_argument("--max-attacks", type=int, default=16, help="attacks kept per round")
    p.add_argument("--multi-turn", type=float, default=0.5,
                   help="share of candidates that are conversations (default 0.5)")
    p.add_argument("--rewrite", type=float, default=0.25,
                   help="share of questions the model itself paraphrases first")
    p.add_argument("--heldout", type=int, default=16,
                   help="first N held-out questions of --prompts (0: all)")
    p.add_argument("--benign", type=int, default=16,
                   help="first N benign questions of --benign-file (0: all)")
    p.add_argument("--method", choices=("rloo", "apa"), default="rloo")
    p.add_argument("--steps", type=int, default=4, help="updates per fix")
    p.add_argument("--batch", type=int, default=4, help="attack prompts per update")
    p.add_argument("--k", type=int, default=4, help="samples per prompt")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--beta", type=float, default=0.05, help="KL weight (rloo)")
    p.add_argument("--max-new-tokens", type=int, default=32)
    p.add_argument("--lora-rank", type=int, default=16)
    p.add_argument("--lora-layers", type=int, default=8,
                   help="adapt only the top N decoder layers (0: all)")
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--redteam", default=str(EXAMPLES / "redteam.json"), metavar="JSON",
                   help="the red-team prompt set: attack seeds, semantic judge, refusals")
    p.add_argument("--prompts", default=str(EXAMPLES / "prompts.json"), metavar="JSON",
                   help="held-out questions (its \"heldout\" list)")
    p.add_argument("--benign-file", default=str(EXAMPLES / "benign.json"), metavar="JSON",
                   help="benign questions for the helpfulness proxy (its \"prompts\")")
    p.add_argument("--lexical-only", action="store_true",
                   help="judge by the spec's monitor alone, not also the semantic judge")
    p.add_argument("--threads", type=int, metavar="N", help="torch CPU threads")
    p.add_argument("--plot", metavar="PNG", help="write the per-round plot here")
    p.add_argument("--tiny", action="store_true",
                   help="the tiny offline test model instead of SmolLM2 (for testing)")
    p.add_argument("--format", choices=("human", "json"), default="human")
    p.set_defaults(func=run)


def _json(path: str, what: str) -> Any:
    try:
        return json.loads(Path(path).read_text("utf-8"))
    except FileNotFoundError:
        raise SpecError(f"{path}: no such file ({what})") from None
    except json.JSONDecodeError as exc:
        raise SpecError(f"{path}:{exc.lineno}:{exc.colno}: not JSON: {exc.msg}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"{path}: cannot read it: {exc}") from None


def _strings(doc: Any, key: str, path: str) -> list[str]:
    items = doc.get(key) if isinstance(doc, dict) else None
    if not isinstance(items, list) or not items or not all(isinstance(x, str) for x in items):
        raise SpecError(f'{path}: needs a non-empty list of strings under "{key}"')
    return items


def _prompts(args: argparse.Namespace) -> tuple[Any, Any]:
    from speclang.llm.breakfix import Prompts

    rt = _json(args.redteam, "the red-team prompt set")
    seeds = rt.get("prompts") if isinstance(rt, dict) else None
    if not isinstance(seeds, list) or not seeds or not all(
            isinstance(s, dict) and isinstance(s.get("prompt"), str) for s in seeds):
        raise SpecError(f'{args.redteam}: needs "prompts": [{{"id": ..., "prompt": ...}}, ...]')
    refusal = rt.get("refusal", {}).get("phrases", []) if isinstance(rt, dict) else []
    held = _strings(_json(args.prompts, "held-out prompts"), "heldout", args.prompts)
    benign = _strings(_json(args.benign_file, "benign prompts"), "prompts", args.benign_file)
    judge = None if args.lexical_only else rt.get("judge")
    if judge is not None and not (isinstance(judge, dict) and all(
            k in judge for k in ("examples", "counter", "threshold"))):
        raise SpecError(f'{args.redteam}: "judge" needs "examples", "counter" and "threshold"')
    return Prompts([{"id": str(s.get("id", i)), "prompt": s["prompt"]}
                    for i, s in enumerate(seeds)],
                   held[:args.heldout or None], benign[:args.benign or None],
                   list(refusal)), judge


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    for name in ("rounds", "first_seed"):
        if getattr(args, name) < 0:
            raise UsageError(f"--{name.replace('_', '-')} must be >= 0")
    for name in ("seeds", "heldout", "benign"):
        if getattr(args, name) < (1 if name == "seeds" else 0):
            raise UsageError(f"--{name} must be at least {1 if name == 'seeds' else 0}")
    if args.threads is not None and args.threads < 1:
        raise UsageError("--threads must be at least 1")
    from speclang.cli.compile import load_module

    module = load_module(args.file)
    if args.spec not in module.specs:
        known = ", ".join(module.specs) or "none"
        raise SpecError(f"{args.file}: no spec named {args.spec!r}; specs: {known}")
    prompts, judge_doc = _prompts(args)
    # Without the llm extra these raise ModuleNotFoundError, which speclang.cli.main turns
    # into the advice to install it (exit 2).
    from speclang.llm.breakfix import (
        BreakFix,
        BreakFixConfig,
        Judge,
        check_config,
        finished_rounds,
        plot,
        read_rounds,
        summarise,
    )
    from speclang.llm.monitor import TextMonitor
    from speclang.llm.redteam import contrast_monitor

    try:
        lexical = TextMonitor.from_module(module, args.spec, unit="word")
    except ValueError as exc:
        raise SpecError(f"{args.file}: spec {args.spec!r}: {exc}") from None
    semantic = None
    if judge_doc is not None:
        try:
            semantic = contrast_monitor(judge_doc)
        except ImportError as exc:  # the MiniLM package: name it, and the way round it
            raise UsageError(f"{exc} (or pass --lexical-only)") from None
    try:
        base = BreakFixConfig(
            args.spec, rounds=args.rounds, candidates=args.candidates,
            multi_turn=args.multi_turn, rewrite=args.rewrite, max_attacks=args.max_attacks,
            method=args.method, steps=args.steps, batch=args.batch, k=args.k, lr=args.lr,
            beta=args.beta, max_new_tokens=args.max_new_tokens, lora_rank=args.lora_rank,
            lora_layers=args.lora_layers, temperature=args.temperature)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    import dataclasses

    import torch

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    runs: dict[int, list[dict[str, Any]]] = {}

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    for seed in range(args.first_seed, args.first_seed + args.seeds):
        cfg = dataclasses.replace(base, seed=seed)
        folder = out / f"seed-{seed}"
        try:
            if finished_rounds(folder) > cfg.rounds:  # finished: read back, no model needed
                check_config(folder, cfg)
                runs[seed] = read_rounds(folder, cfg.rounds + 1)
                continue
            model, tok = _model(args)
            log(f"seed {seed} -> {folder}")
            runs[seed] = BreakFix(model, tok, Judge(lexical, semantic), prompts, cfg,
                                  folder, log=log).run()
        except ValueError as exc:
            raise SpecError(str(exc)) from None
        except OSError as exc:
            raise SpecError(f"{folder}: {exc.strerror or exc}") from None
    if args.plot:
        plot(runs, args.plot)
    if args.format == "json":
        sys.stdout.write(json.dumps({str(s): ms for s, ms in runs.items()}) + "\n")
    else:
        print(summarise(runs))
        if args.plot:
            print(f"wrote {args.plot}")
    return 0


def _model(args: argparse.Namespace) -> tuple[Any, Any]:
    """A fresh copy of the base model per seed: LoRA wraps the model it is given."""
    if args.tiny:
        from speclang.llm.tiny import tiny_model, tiny_tokenizer

        tok = tiny_tokenizer()
        return tiny_model(tok, seed=0), tok
    from speclang.llm import smollm

    try:
        return smollm.load()
    except FileNotFoundError as exc:
        raise UsageError(str(exc)) from None
