"""A shielded chat session: each assistant reply is generated under the spec's shield,
streamed as it is generated with each intervention where it happened, then labelled post
hoc (its own trace: the spec applies to every reply separately)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from speclang.llm.monitor import TextMonitor, label_text
from speclang.llm.shield import Intervention, ShieldTables, SpecLogitsProcessor


@dataclass
class ChatTurn:
    reply: str
    interventions: list[Intervention]
    verdict: str
    explanation: str


class ReplyStreamer:
    """A ``generate`` streamer (transformers' ``BaseStreamer`` protocol: ``put``, ``end``)
    for batch 1 that hands on the reply's text as each token arrives, and each shield
    intervention just before the token that replaced the refused one.

    The generated tokens are decoded together each time, so a character split over
    several byte-level tokens is shown once complete (a trailing U+FFFD waits for the rest
    of its bytes), and the text shown is exactly the reply's decoded text."""

    def __init__(self, tokenizer: Any, on_text: Callable[[str], None],
                 on_intervention: Callable[[Intervention], None] | None = None,
                 shield: SpecLogitsProcessor | None = None) -> None:
        self.tokenizer = tokenizer
        self.on_text = on_text
        self.on_intervention = on_intervention
        self.shield = shield
        self.ids: list[int] = []
        self.shown = 0  # characters of the decoded text handed on
        self.noted = 0  # interventions handed on
        self._prompt = True

    def _interventions(self) -> None:
        if self.shield is None or self.on_intervention is None:
            return
        found = self.shield.interventions
        while self.noted < len(found):
            self.on_intervention(found[self.noted])
            self.noted += 1

    def _text(self, final: bool) -> None:
        text = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        end = len(text)
        if not final:
            while end > self.shown and text[end - 1] == "\ufffd":
                end -= 1  # maybe the first bytes of a character still being generated
        if end > self.shown:
            self.on_text(text[self.shown:end])
            self.shown = end

    def put(self, value: Any) -> None:
        if self._prompt:  # generate first hands over the prompt
            self._prompt = False
            return
        if value.dim() > 1 and value.shape[0] > 1:
            raise ValueError("ReplyStreamer streams one sequence (batch size 1)")
        # The shield judged this step before the token was chosen: its refusals come first.
        self._interventions()
        self.ids.extend(value.reshape(-1).tolist())
        self._text(final=False)

    def end(self) -> None:
        self._interventions()
        self._text(final=True)


@dataclass
class ChatSession:
    model: Any
    tokenizer: Any
    monitor: TextMonitor
    shield: bool = True
    max_new_tokens: int = 128
    system: str | None = "You are a careful medical information assistant."
    history: list[dict[str, str]] = field(default_factory=list)
    _tables: ShieldTables | None = None

    def prepare(self) -> None:
        """Build (or load from the disk cache) the shield's tables now rather than at the
        first reply."""
        if self.shield and self._tables is None:
            self._tables = ShieldTables(self.monitor, self.tokenizer)

    def _prompt_ids(self) -> Any:
        msgs = ([{"role": "system", "content": self.system}] if self.system else []) + \
            self.history
        tok = self.tokenizer
        if getattr(tok, "chat_template", None):
            return tok.apply_chat_template(msgs, add_generation_prompt=True,
                                           return_tensors="pt", return_dict=True)
        # Tokenizers without a chat template (the tiny test model) get a plain transcript.
        text = "".join(f"{m['role']}: {m['content']}\n" for m in msgs) + "assistant:"
        return tok(text, return_tensors="pt")

    def reply(self, user: str, on_text: Callable[[str], None] | None = None,
              on_intervention: Callable[[Intervention], None] | None = None) -> ChatTurn:
        """Answer ``user``; ``on_text`` receives the reply's text as it is generated and
        ``on_intervention`` each refusal of the shield, in order with the text."""
        import torch
        from transformers import LogitsProcessorList

        self.history.append({"role": "user", "content": user})
        enc = self._prompt_ids()
        procs = []
        shield: SpecLogitsProcessor | None = None
        if self.shield:
            self.prepare()
            shield = SpecLogitsProcessor(self.monitor, self.tokenizer, tables=self._tables,
                                         keep=1)
            procs.append(shield)
        streamer = (ReplyStreamer(self.tokenizer, on_text, on_intervention, shield)
                    if on_text is not None else None)
        with torch.no_grad():
            out = self.model.generate(
                **enc, max_new_tokens=self.max_new_tokens, do_sample=False,
                logits_processor=LogitsProcessorList(procs), streamer=streamer,
                pad_token_id=self.tokenizer.pad_token_id)
        text = self.tokenizer.decode(out[0, enc["input_ids"].shape[1]:],
                                     skip_special_tokens=True).strip()
        self.history.append({"role": "assistant", "content": text})
        post = label_text(self.monitor, text)
        notes = list(shield.interventions) if shield is not None else []
        return ChatTurn(text, notes, post.verdict, post.explanation)
