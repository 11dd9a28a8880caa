"""A shielded chat session: each assistant reply is generated under the spec's shield,
then labelled post hoc (its own trace: the spec applies to every reply separately)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from speclang.llm.monitor import TextMonitor, label_text
from speclang.llm.shield import ShieldTables, SpecLogitsProcessor


@dataclass
class ChatTurn:
    reply: str
    interventions: list[str]
    verdict: str
    explanation: str


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

    def reply(self, user: str) -> ChatTurn:
        import torch
        from transformers import LogitsProcessorList

        self.history.append({"role": "user", "content": user})
        enc = self._prompt_ids()
        procs = []
        shield: SpecLogitsProcessor | None = None
        if self.shield:
            if self._tables is None:
                self._tables = ShieldTables(self.monitor, self.tokenizer)
            shield = SpecLogitsProcessor(self.monitor, self.tokenizer, tables=self._tables,
                                         keep=1)
            procs.append(shield)
        with torch.no_grad():
            out = self.model.generate(
                **enc, max_new_tokens=self.max_new_tokens, do_sample=False,
                logits_processor=LogitsProcessorList(procs),
                pad_token_id=self.tokenizer.pad_token_id)
        text = self.tokenizer.decode(out[0, enc["input_ids"].shape[1]:],
                                     skip_special_tokens=True).strip()
        self.history.append({"role": "assistant", "content": text})
        post = label_text(self.monitor, text)
        notes = [str(i) for i in shield.interventions] if shield is not None else []
        return ChatTurn(text, notes, post.verdict, post.explanation)
