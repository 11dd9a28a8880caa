"""A stand-in for a model that wants to write a given text, shared by the shield tests."""

from __future__ import annotations

from typing import Any


class Push:
    """A logits processor that boosts, at each step, the token continuing ``text`` from what
    has been generated after the ``prompt_len`` prompt tokens (in every row)."""

    def __init__(self, tok: Any, text: str, prompt_len: int) -> None:
        self.ids = tok(text, add_special_tokens=False)["input_ids"]
        self.prompt_len = prompt_len

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        scores = scores.clone()
        k = input_ids.shape[1] - self.prompt_len
        if k < len(self.ids):
            scores[:, self.ids[k]] += 1000.0
        return scores
