"""A causal LM as the judge of a text proposition (the LLM judge the audit improves).

The judge answers a yes/no question about each sentence after a few-shot prompt; its
in-context examples are what the audit (:mod:`speclang.llm.audit`) adds back. Nothing is
sampled: the verdict compares the next-token logits of the first token of ``" yes"`` and of
``" no"`` after ``Answer:``, and the probability of the wrong answer (those two tokens'
softmax) is how far the judge deviates from a label.

The prompt is a fixed header, the examples, then the sentence::

    Answer each question about a sentence with yes or no.

    Sentence: Take two tablets every four hours.
    Question: Does the sentence give medical advice?
    Answer: yes

    Sentence: <the sentence judged>
    Question: Does the sentence give medical advice?
    Answer:

The header and examples (the prefix) are the same for every sentence, so their keys and
values are computed once per set of examples and reused for every sentence: one sentence
then costs its own ~20 tokens, not the whole prompt. The prompt is the prefix's token ids
followed by the sentence part's, each tokenized alone (so the cached and the uncached
forward see the same ids). It must fit the model's context (``context``, by default the
model's ``max_position_embeddings``): adding examples that would make any prompt judged so
far longer raises :class:`PromptBudgetError`, and so does judging a sentence that does not fit.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

JUDGE_FORMAT = "speclang-llm-judge"


class PromptBudgetError(ValueError):
    """The judge's prompt no longer fits its context budget."""


@dataclass(frozen=True)
class JudgePrompt:
    """What the judge is asked. ``yes``/``no`` are the answer words as they follow the
    question; only the first token of each is scored.

    ``chat=False``: the plain few-shot text above, answers ``" yes"``/``" no"`` after
    ``Answer:``. ``chat=True``: the tokenizer's chat template, the instruction as the system
    turn, each example a user turn (the sentence, then the question) answered by an
    assistant turn, the sentence judged a last user turn; the answers are then the first
    word of the assistant's reply (``"Yes"``/``"No"`` by :meth:`for_chat`)."""

    question: str
    instruction: str = "Answer each question about a sentence with yes or no."
    yes: str = " yes"
    no: str = " no"
    chat: bool = False

    @classmethod
    def for_chat(cls, question: str, **kw: Any) -> JudgePrompt:
        return cls(question, **{"yes": "Yes", "no": "No", "chat": True, **kw})

    def prefix(self, examples: Sequence[tuple[str, bool]]) -> str:
        shots = "".join(f"{self.query(t)}{self.yes if g else self.no}\n\n" for t, g in examples)
        return f"{self.instruction}\n\n{shots}"

    def query(self, text: str) -> str:
        return f"Sentence: {_flat(text)}\nQuestion: {self.question}\nAnswer:"

    def messages(self, examples: Sequence[tuple[str, bool]],
                 text: str | None = None) -> list[dict[str, str]]:
        out = [{"role": "system", "content": self.instruction}]
        for t, g in examples:
            out += [{"role": "user", "content": f"{_flat(t)}\n{self.question}"},
                    {"role": "assistant", "content": self.yes if g else self.no}]
        if text is not None:
            out.append({"role": "user", "content": f"{_flat(text)}\n{self.question}"})
        return out


def _flat(text: str) -> str:
    # Newlines inside the sentence would read as the end of its field.
    return " ".join(text.split())


class LLMJudge:
    """An :class:`speclang.llm.audit.Evaluator` over a causal LM (transformers).

    ``examples`` are the in-context examples the prompt starts with; ``add_examples``
    appends to them. ``batch`` sentences are scored per forward pass; ``log`` (when given)
    receives one line per ``predict``/``deviation`` call that had to run the model."""

    def __init__(self, model: Any, tokenizer: Any, prompt: JudgePrompt,
                 examples: Sequence[tuple[str, bool]] = (), *, context: int | None = None,
                 batch: int = 16, log: Callable[[str], None] | None = None,
                 name: str = "judge") -> None:
        if batch < 1:
            raise ValueError(f"batch must be >= 1, not {batch}")
        self.model, self.tokenizer, self.prompt = model, tokenizer, prompt
        self.examples: list[tuple[str, bool]] = [(t, bool(g)) for t, g in examples]
        limit = int(getattr(model.config, "max_position_embeddings", 0) or 0)
        if context is None:
            if not limit:
                raise ValueError("the model's config gives no max_position_embeddings: "
                                 "pass context=")
            context = limit
        if context < 1 or (limit and context > limit):
            raise ValueError(f"context must be between 1 and the model's {limit} tokens, "
                             f"not {context}")
        self.context, self.batch, self.log, self.name = context, batch, log, name
        if prompt.chat:
            self._check_chat_template()
        self.yes_id, self.no_id = self._answer_ids()
        self._prefix_ids: list[int] | None = None
        self._past: Any = None  # the prefix's keys and values, once computed
        self._cache: dict[str, float] = {}  # text -> p(yes) under the current examples
        self._longest_query = 0  # tokens of the longest sentence part judged so far
        self._check_fits(self.examples, 0)

    # -- the prompt ------------------------------------------------------------------------

    def _answer_ids(self) -> tuple[int, int]:
        ids = []
        for word in (self.prompt.yes, self.prompt.no):
            toks = self.tokenizer(word, add_special_tokens=False)["input_ids"]
            if not toks:
                raise ValueError(f"the answer {word!r} is no token of the tokenizer")
            ids.append(int(toks[0]))
        if ids[0] == ids[1]:
            raise ValueError(f"the answers {self.prompt.yes!r} and {self.prompt.no!r} begin "
                             "with the same token: the judge could not tell them apart")
        return ids[0], ids[1]

    def _render(self, examples: Sequence[tuple[str, bool]], text: str | None) -> str:
        return str(self.tokenizer.apply_chat_template(
            self.prompt.messages(examples, text), tokenize=False,
            add_generation_prompt=text is not None))

    def _prefix_text(self, examples: Sequence[tuple[str, bool]]) -> str:
        if not self.prompt.chat:
            return self.prompt.prefix(examples)
        return self._render(examples, None)

    def _query_text(self, text: str) -> str:
        if not self.prompt.chat:
            return self.prompt.query(text)
        # The last user turn and the assistant's header: the whole conversation's rendering
        # past that of the turns before it.
        return self._render([], text)[len(self._render([], None)):]

    def _check_chat_template(self) -> None:
        if not getattr(self.tokenizer, "chat_template", None):
            raise ValueError("the tokenizer has no chat template: use a plain prompt "
                             "(JudgePrompt(chat=False))")
        shot = [("An example.", True)]
        if self._render(shot, "A sentence.") != (self._render(shot, None)
                                                 + self._query_text("A sentence.")):
            raise ValueError("the tokenizer's chat template does not render a conversation "
                             "as its turns one after another (the judge reuses the "
                             "examples' part of the prompt): use a plain prompt")

    def _ids_of_prefix(self, examples: Sequence[tuple[str, bool]]) -> list[int]:
        # A chat template writes its own special tokens; the plain prompt gets the
        # tokenizer's (a BOS, where it has one).
        return list(self.tokenizer(self._prefix_text(examples),
                                   add_special_tokens=not self.prompt.chat)["input_ids"])

    def _ids_of_query(self, text: str) -> list[int]:
        return list(self.tokenizer(self._query_text(text),
                                   add_special_tokens=False)["input_ids"])

    def prefix_ids(self) -> list[int]:
        if self._prefix_ids is None:
            self._prefix_ids = self._ids_of_prefix(self.examples)
        return self._prefix_ids

    def prompt_ids(self, text: str) -> list[int]:
        """The token ids the judge reads before answering about ``text``."""
        return self.prefix_ids() + self._ids_of_query(text)

    def prompt_text(self, text: str) -> str:
        return self._prefix_text(self.examples) + self._query_text(text)

    def _check_fits(self, examples: Sequence[tuple[str, bool]], longest_query: int) -> None:
        n = len(self._ids_of_prefix(examples))
        if n + longest_query > self.context:
            longest = (f" + the longest sentence judged so far ({longest_query} tokens)"
                       if longest_query else "")
            raise PromptBudgetError(
                f"{self.name}: the prompt with {len(examples)} in-context examples is "
                f"{n} tokens{longest}, over the judge's context of {self.context} tokens; "
                "add fewer examples (fewer rounds or a smaller --add) or give a larger "
                "--context")

    # -- scoring ---------------------------------------------------------------------------

    def p_yes(self, texts: Sequence[str]) -> np.ndarray:
        """The probability of the yes answer (of the two answer tokens) for each text."""
        todo = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if todo:
            start = time.perf_counter()
            for i in range(0, len(todo), self.batch):
                chunk = todo[i:i + self.batch]
                for t, p in zip(chunk, self._score(chunk), strict=True):
                    self._cache[t] = p
            if self.log is not None:
                self.log(f"{self.name}: judged {len(todo)} sentences in "
                         f"{time.perf_counter() - start:.1f} s (prompt prefix "
                         f"{len(self.prefix_ids())} tokens, in-context examples: "
                         f"{len(self.examples)})")
        return np.array([self._cache[t] for t in texts], dtype=np.float64)

    def _score(self, texts: Sequence[str]) -> list[float]:
        import torch

        prefix = self.prefix_ids()
        queries = [self._ids_of_query(t) for t in texts]
        for t, q in zip(texts, queries, strict=True):
            if len(prefix) + len(q) > self.context:
                raise PromptBudgetError(
                    f"{self.name}: the prompt for {t[:60]!r} is {len(prefix) + len(q)} tokens "
                    f"({len(prefix)} of them the instruction and {len(self.examples)} "
                    f"in-context examples), over the judge's context of {self.context} "
                    "tokens; give a larger --context or audit with fewer rounds")
            self._longest_query = max(self._longest_query, len(q))
        pad = self.tokenizer.pad_token_id
        pad = pad if pad is not None else self.tokenizer.eos_token_id
        width = max(len(q) for q in queries)
        # Right padding: each sentence's last token precedes its pads, and attention is
        # causal, so the pads never reach the logits that are read.
        ids = torch.tensor([q + [pad] * (width - len(q)) for q in queries])
        last = torch.tensor([len(q) - 1 for q in queries])
        with torch.no_grad():
            past = self._prefix_cache()
            past.batch_repeat_interleave(len(texts))
            out = self.model(input_ids=ids, cache=past, use_cache=True)
            logits = out.logits[torch.arange(len(texts)), last]
            pair = torch.stack([logits[:, self.yes_id], logits[:, self.no_id]], dim=1)
            p = torch.softmax(pair.float(), dim=1)[:, 0]
        return [float(x) for x in p]

    def _prefix_cache(self) -> Any:
        import torch

        if self._past is None:
            with torch.no_grad():
                out = self.model(input_ids=torch.tensor([self.prefix_ids()]), use_cache=True)
            self._past = out.cache
        # The forward appends each batch's keys to the cache it is given: a copy per batch.
        return copy.deepcopy(self._past)

    # -- the Evaluator interface -------------------------------------------------------------

    def predict(self, texts: Sequence[str]) -> list[bool]:
        return [bool(p > 0.5) for p in self.p_yes(texts)]

    def deviation(self, texts: Sequence[str], labels: Sequence[bool]) -> np.ndarray:
        """The probability of the wrong answer minus 1/2: > 0 exactly when the verdict is
        wrong (a tie answers no, which for a positive is wrong by 0: hence the offset)."""
        p = self.p_yes(texts)
        wrong = np.where(np.asarray(labels, dtype=bool), 1.0 - p, p)
        return wrong - 0.5 + np.where(np.asarray(labels, dtype=bool), 1e-12, 0.0)

    def add_examples(self, texts: Sequence[str], labels: Sequence[bool]) -> None:
        new = self.examples + [(t, bool(g)) for t, g in zip(texts, labels, strict=True)]
        longest = max([self._longest_query] + [len(self._ids_of_query(t)) for t in texts])
        self._check_fits(new, longest)  # refuse before changing anything
        self.examples = new
        self._prefix_ids, self._past = None, None
        self._cache = {}

    def copy(self) -> LLMJudge:
        # The model and tokenizer are shared (they are never changed); the examples and the
        # scores under them are the copy's own.
        other = copy.copy(self)
        other.examples = list(self.examples)
        other._cache = dict(self._cache)
        return other

    def to_json(self) -> dict[str, Any]:
        """The judge's prompt and examples, as ``speclang audit --out`` writes them."""
        return {"format": JUDGE_FORMAT, "version": 1, "question": self.prompt.question,
                "instruction": self.prompt.instruction, "chat": self.prompt.chat,
                "answers": [self.prompt.yes, self.prompt.no], "context": self.context,
                "examples": [{"text": t, "label": g} for t, g in self.examples]}
