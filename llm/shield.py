"""Decoding-time shields for ``transformers``: a logits processor that refuses tokens that
would drive a spec monitor into its violation sink, and a stopping criterion on violation.

The work is done without torch, as in outlines-core's index/guide/processor split:
:mod:`speclang.llm.shield_index` holds what is known per (spec, tokenizer) (token bytes and
texts, per-state token tables, triggers; cached on disk), :mod:`speclang.llm.shield_guide`
follows each token sequence and masks scores as numpy arrays. The classes here only turn
tensors into arrays and back, and refuse at the first call what ``generate`` would make
unsound (``keep=1`` under sampling or beam search, assisted decoding).
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np
import torch
from transformers import LogitsProcessor, StoppingCriteria

from speclang.llm.monitor import TextMonitor
from speclang.llm.shield_guide import (
    Intervention,
    SequenceTracker,
    ShieldGuide,
    UnfollowableSequences,
    _top_k,
)
from speclang.llm.shield_index import (
    ShieldTables,
    default_cache_dir,
    token_bytes,
    token_texts,
    tokenizer_hash,
    utf8_step,
)

__all__ = ["Intervention", "SequenceTracker", "ShieldGuide", "ShieldTables",
           "SpecLogitsProcessor", "UnfollowableSequences", "ViolationStoppingCriteria",
           "_top_k", "default_cache_dir", "token_bytes", "token_texts", "tokenizer_hash",
           "utf8_step"]


# transformers' LogitsProcessorList calls inspect.signature(processor.__call__) on every step
# (~11 us on CPU); a function with this precomputed signature answers in ~1 us.
_CALL_SIGNATURE = inspect.Signature([
    inspect.Parameter("input_ids", inspect.Parameter.POSITIONAL_OR_KEYWORD),
    inspect.Parameter("scores", inspect.Parameter.POSITIONAL_OR_KEYWORD)])


def _ids(input_ids: torch.Tensor) -> np.ndarray:
    try:  # numpy's view and shape cost less than torch's on the per-token path
        return input_ids.numpy()
    except (TypeError, RuntimeError):
        return input_ids.detach().to("cpu").numpy()


def _generation_config(depth: int = 12) -> tuple[str, Any] | None:
    """The decoding loop of ``generate`` that called the processor and its generation
    config, if it was ``generate`` (read once per new batch of prompts, never per token)."""
    frame: FrameType | None = sys._getframe(2)
    for _ in range(depth):
        if frame is None:
            return None
        if frame.f_code.co_filename.endswith(("generation/utils.py", "generation\\utils.py")):
            config = frame.f_locals.get("generation_config")
            if config is not None:
                return frame.f_code.co_name, config
        frame = frame.f_back
    return None


class SpecLogitsProcessor(LogitsProcessor):
    """Masks every token that would drive the monitor into the violation sink.

    ``top_k`` bounds the exact checks per step; ``keep`` stops them once that many safe
    tokens are found, and everything not verified is masked. ``keep=1`` is for greedy
    decoding: refused tokens are masked one by one until the best remaining one is safe,
    and the other scores are left alone (so put the shield last; sampling or beam search
    with ``keep=1`` is refused at the first call). ``lazy=False`` steps the monitor on
    every token instead of only when needed (see :mod:`speclang.llm.triggers`; the result is
    the same). One processor may serve many ``generate`` calls (a pipeline over a dataset):
    rows are followed by their token sequence (see :mod:`speclang.llm.shield_guide`), so beam
    search's reordering, ``num_return_sequences``, left padding and reuse are handled; a
    new prompt that happens to be a previous row plus one token is indistinguishable from a
    continuation, and assisted decoding is refused.

    >>> import speclang
    >>> from speclang.llm import TextMonitor
    >>> from speclang.llm.tiny import tiny_tokenizer
    >>> mod = speclang.load("examples/chatbot.spec")
    >>> shield = SpecLogitsProcessor(TextMonitor.from_module(mod, "no_profanity"),
    ...                              tiny_tokenizer(), keep=1)
    """

    def __init__(
        self,
        monitor: TextMonitor,
        tokenizer: Any,
        *,
        top_k: int = 32,
        keep: int | None = None,
        cache_dir: Path | None = None,
        tables: ShieldTables | None = None,
        verbose: bool = False,
        lazy: bool = True,
    ) -> None:
        if top_k < 1:  # before the tables are built
            raise ValueError(f"top_k must be at least 1, not {top_k}")
        if keep is not None and not 1 <= keep <= top_k:
            raise ValueError(f"keep must be between 1 and top_k ({top_k}), not {keep}")
        tables = tables or ShieldTables(monitor, tokenizer, cache_dir)
        self.guide = ShieldGuide(monitor, tables, top_k=top_k, keep=keep,
                                 eos=tokenizer.eos_token_id, verbose=verbose, lazy=lazy)
        self.tables = tables
        self.tracker = self.guide.tracker
        self.monitor = monitor
        self.interventions = self.guide.interventions
        self._starts = 0

        def call(input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
            return self(input_ids, scores)

        call.__signature__ = _CALL_SIGNATURE  # type: ignore[attr-defined]
        self.__dict__["__call__"] = call

    @property
    def top_k(self) -> int:
        return self.guide.top_k

    @property
    def keep(self) -> int:
        return self.guide.keep

    @property
    def checks(self) -> int:
        return self.guide.checks

    @property
    def lazy_steps(self) -> int:
        return self.guide.lazy_steps

    def _check_decoding(self) -> None:
        """Refuse the decoding modes under which the shield would not be sound."""
        found = _generation_config()
        if found is None:
            return  # called outside generate: the caller picks tokens from the scores
        loop, config = found
        if "assisted" in loop:
            raise UnfollowableSequences(
                "the shield does not support assisted or speculative decoding (it checks "
                "one token after another; candidate tokens are rolled back)")
        sampled = bool(getattr(config, "do_sample", False))
        beams = int(getattr(config, "num_beams", 1) or 1)
        if self.guide.keep == 1 and (sampled or beams > 1):
            mode = "sampling" if sampled else f"beam search (num_beams={beams})"
            raise ValueError(
                f"SpecLogitsProcessor(keep=1) is for greedy decoding: it only masks the "
                f"refused tokens above the best safe one, so {mode} could pick an unchecked "
                "token; leave keep unset (or > 1) to mask every unverified token")

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        try:  # a CPU tensor's numpy view costs far less than torch's own ops per element
            view, native = scores.numpy(), True
        except (TypeError, RuntimeError):  # not on the CPU, or a dtype numpy lacks
            view, native = scores.detach().to("cpu", torch.float32).numpy(), False
        out = self.guide.process(_ids(input_ids), view)
        if self.tracker.starts != self._starts:  # new prompts: the first call of generate
            self._starts = self.tracker.starts
            self._check_decoding()
        if out is view:
            return scores
        masked = torch.from_numpy(out)
        return masked if native else masked.to(scores.device, scores.dtype)


class ViolationStoppingCriteria(StoppingCriteria):
    """Stops each sequence whose monitor reached the violation sink. Pass the shield's
    ``tracker`` to share its monitor, or a fresh :class:`SequenceTracker`."""

    def __init__(self, tracker: SequenceTracker) -> None:
        self.tracker = tracker

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor | None = None,
                 **kwargs: Any) -> torch.Tensor:
        tracker = self.tracker
        tracker.sync(_ids(input_ids))
        return torch.tensor([tracker.violated(r) for r in range(int(input_ids.shape[0]))],
                            dtype=torch.bool, device=input_ids.device)
