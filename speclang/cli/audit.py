"""``speclang audit FILE --data ANNOTATED.jsonl``: audit the judge of learned text
propositions against annotated data (:mod:`speclang.llm.audit`).

FILE is a spec (every ``classifies`` proposition is audited, or those named by ``--prop``)
or one labeler file. Each line of the data is ``{"text": ..., "labels": {prop: bool}}``, or
``{"text": ..., "label": bool}`` when one proposition is audited.
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
    p.add_argument("--out", metavar="DIR",
                   help="write the best round's labelers as DIR/<prop>.json")
    p.add_argument("--format", choices=("human", "json"), default="human")
    p.set_defaults(func=run)


def _labelers(args: Any) -> dict[str, Any]:
    from speclang.labeler_file import LabelerFileError
    from speclang.llm.learned import load_labeler

    path = Path(args.file)
    if not path.is_file():
        raise SpecError(f"{args.file}: no such file")
    if path.suffix != ".spec":
        if args.prop:
            raise UsageError("--prop selects propositions of a spec; FILE is a labeler file")
        try:
            lab = load_labeler(path)
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
            out[name] = load_labeler(learned[name].path, expected_hash=learned[name].sha256)
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


def run(args: Any) -> int:
    if args.add < 1:
        raise UsageError(f"--add must be at least 1, not {args.add}")
    if args.rounds < 1:
        raise UsageError(f"--rounds must be at least 1, not {args.rounds}")
    from speclang.llm.audit import ExemplarEvaluator, audit

    labelers = _labelers(args)
    props = list(labelers)
    data = read_annotations(args.data, props)
    heldout = read_annotations(args.heldout, props) if args.heldout else None
    rounds, best = audit({p: ExemplarEvaluator(lab) for p, lab in labelers.items()}, data,
                         heldout=heldout, add=args.add, max_rounds=args.rounds)
    best_round = max(rounds, key=lambda r: (r.tracked(), -r.index))
    written = []
    if args.out:
        out = Path(args.out)
        try:
            out.mkdir(parents=True, exist_ok=True)
            for p, e in best.items():
                target = out / f"{p}.json"
                assert isinstance(e, ExemplarEvaluator)  # the only kind this command audits
                e.labeler.proposition = p
                e.labeler.save(target)
                written.append(str(target))
        except OSError as exc:
            raise SpecError(f"{args.out}: cannot write the labelers: {exc.strerror}") from None
    if args.format == "json":
        def agree(a: Any) -> dict[str, Any]:
            return {"n": a.n, "accuracy": a.accuracy, "kappa": a.kappa, "f1": a.f1,
                    "confusion": {"tp": a.tp, "fp": a.fp, "fn": a.fn, "tn": a.tn}}

        doc = {"rounds": [{"round": r.index,
                           "audited": {p: agree(a) for p, a in r.audited.items()},
                           "heldout": {p: agree(a) for p, a in r.heldout.items()},
                           "added": {p: [{"text": t, "label": g, "deviation": d}
                                         for t, g, d in rows] for p, rows in r.added.items()}}
                          for r in rounds],
               "best_round": best_round.index, "written": written}
        sys.stdout.write(json.dumps(doc, indent=1) + "\n")
        return 0
    for r in rounds:
        print(f"round {r.index}")
        for p, a in r.audited.items():
            print(f"  {p}: {_row(a)}")
            if p in r.heldout:
                print(f"  {p} (held out): {_row(r.heldout[p])}")
        for p, rows in r.added.items():
            for text, gold, dev in rows:
                print(f"  + {p} {'true ' if gold else 'false'} (off by {dev:.3f}): {text!r}")
    print(f"best round: {best_round.index} (mean kappa {best_round.tracked():.3f}"
          f"{' held out' if heldout else ''})")
    for w in written:
        print(f"wrote {w}")
    return 0
