"""Learned text propositions: an exemplar labeler over sentence embeddings, and its file.

An :class:`ExemplarLabeler` holds labelled example sentences (positive and negative) and
calls a text positive when its nearest positive exemplar is closer (cosine similarity) than
its nearest negative one by more than ``margin``. Exemplars, not fitted weights, because
both ways of improving it add exemplars: active learning (:mod:`speclang.llm.active`) adds
the sentences an expert was asked about, the audit (:mod:`speclang.llm.audit`) adds those it
got most wrong; and a file of labelled sentences can be read and reviewed by a person.

The file (``prop advice = reply classifies "advice.json"`` in a spec) stores the sentences,
their labels and which encoder embeds them, never the embeddings: they are recomputed on
load, so the file is small, diffable and independent of the machine.

Encoders are named in the file: ``minilm`` (all-MiniLM-L6-v2 from the offline wheel, see
:mod:`speclang.llm.semantic`) or ``hashing`` (a bag of hashed words and character
trigrams, numpy only: fast tests and a lexical baseline).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from speclang.labeler_file import (
    FORMAT,
    VERSION,
    LabelerFileError,
    content_hash,
    parse_labeler,
)


class Encoder(Protocol):
    """Texts -> an ``(n, d)`` array of L2-normalised embeddings; ``spec`` names it in a file."""

    spec: dict[str, Any]

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


_WORD = re.compile(r"\w+")


class HashingEncoder:
    """Words and character trigrams hashed (blake2b, so the same across processes and
    machines) into ``dim`` signed buckets, then normalised."""

    def __init__(self, dim: int = 512) -> None:
        if dim < 8:
            raise ValueError(f"a hashing encoder needs at least 8 dimensions, not {dim}")
        self.dim = dim
        self.spec = {"kind": "hashing", "dim": dim}

    def _features(self, text: str) -> list[str]:
        words = _WORD.findall(text.lower())
        grams = [f"#{w[i:i + 3]}" for w in words for i in range(max(1, len(w) - 2))]
        return words + grams

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim))
        for row, text in enumerate(texts):
            for feat in self._features(text):
                h = int.from_bytes(hashlib.blake2b(feat.encode(), digest_size=8).digest(), "little")
                out[row, h % self.dim] += 1.0 if (h >> 63) & 1 else -1.0
        return _normalise(out)


class MiniLMEncoder:
    """all-MiniLM-L6-v2 (:class:`speclang.llm.semantic.SentenceEmbedder`) as numpy, in
    batches so that a pool of thousands of sentences does not pad to one huge tensor."""

    def __init__(self, embedder: Any = None, batch: int = 64) -> None:
        if embedder is None:
            from speclang.llm.semantic import default_embedder

            embedder = default_embedder()
        self.embedder, self.batch = embedder, batch
        self.spec = {"kind": "minilm"}

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, 384))
        parts = [self.embedder.embed(texts[i:i + self.batch]).cpu().numpy()
                 for i in range(0, len(texts), self.batch)]
        return np.concatenate(parts).astype(np.float64)


def encoder_from_spec(spec: Mapping[str, Any]) -> Encoder:
    kind = spec.get("kind") if isinstance(spec, Mapping) else None
    if kind == "hashing":
        dim = spec.get("dim", 512)
        if not isinstance(dim, int) or isinstance(dim, bool):
            raise ValueError(f"hashing encoder: dim must be an integer, not {dim!r}")
        return HashingEncoder(dim)
    if kind == "minilm":
        return MiniLMEncoder()
    raise ValueError(f"unknown encoder {spec!r}: use {{\"kind\": \"minilm\"}} or "
                     "{\"kind\": \"hashing\", \"dim\": N}")


def _normalise(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norm > 0, norm, 1.0)


class ExemplarLabeler:
    """``callable(text) -> bool`` from labelled exemplars (see the module docstring).

    ``score(text)`` = (best similarity to a positive) - (best similarity to a negative),
    where a class without exemplars counts -1; positive when ``score > margin``. The score's
    size is the labeler's confidence, which active learning and the audit both read."""

    def __init__(self, encoder: Encoder, texts: Sequence[str] = (),
                 labels: Sequence[bool] = (), *, margin: float = 0.0,
                 proposition: str = "") -> None:
        if len(texts) != len(labels):
            raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
        self.encoder = encoder
        self.margin = float(margin)
        self.proposition = proposition
        self.texts: list[str] = []
        self.labels: list[bool] = []
        self._emb = np.zeros((0, 0))
        self._memo: dict[str, float] = {}
        self.add(texts, labels)

    def add(self, texts: Sequence[str], labels: Sequence[bool]) -> None:
        """Add exemplars (a text already there with the same label is skipped; with the
        other label it is an error: the labels would contradict each other)."""
        known = dict(zip(self.texts, self.labels, strict=True))
        new_t, new_l = [], []
        for text, label in zip(texts, labels, strict=True):
            label = bool(label)
            if text in known:
                if known[text] != label:
                    raise ValueError(f"exemplar {text!r} is labelled both true and false")
                continue
            known[text] = label
            new_t.append(text)
            new_l.append(label)
        if not new_t:
            return
        emb = self.encoder.embed(new_t)
        self._emb = emb if not self.texts else np.concatenate([self._emb, emb])
        self.texts += new_t
        self.labels += new_l
        self._memo.clear()

    def scores_of(self, emb: np.ndarray) -> np.ndarray:
        """Scores of already embedded texts (one per row)."""
        if not self.texts:
            return np.zeros(len(emb))
        sims = emb @ self._emb.T
        lab = np.asarray(self.labels)
        pos = np.where(lab, sims, -np.inf).max(axis=1, initial=-1.0)
        neg = np.where(~lab, sims, -np.inf).max(axis=1, initial=-1.0)
        return pos - neg

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        todo = [t for t in dict.fromkeys(texts) if t not in self._memo]
        if todo:
            if len(self._memo) > 4096:
                self._memo.clear()
            for t, s in zip(todo, self.scores_of(self.encoder.embed(todo)), strict=True):
                self._memo[t] = float(s)
        return np.array([self._memo[t] for t in texts])

    def score(self, text: str) -> float:
        return float(self.scores([text])[0])

    def predict(self, texts: Sequence[str]) -> list[bool]:
        return [bool(s > self.margin) for s in self.scores(texts)]

    def __call__(self, text: str) -> bool:
        if not text.strip():
            return False
        return self.score(text) > self.margin

    def copy(self) -> ExemplarLabeler:
        other = ExemplarLabeler(self.encoder, margin=self.margin, proposition=self.proposition)
        other.texts, other.labels = list(self.texts), list(self.labels)
        other._emb = self._emb.copy()
        return other

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "proposition": self.proposition,
            "encoder": dict(self.encoder.spec),
            "margin": self.margin,
            "exemplars": [{"text": t, "label": lab}
                          for t, lab in zip(self.texts, self.labels, strict=True)],
        }

    def save(self, path: str | Path) -> str:
        """Write the file; returns its content hash (``sha256:...``), as a spec records it."""
        from speclang.compiler.artifact import write_atomic

        text = json.dumps(self.to_json(), indent=1, ensure_ascii=False) + "\n"
        write_atomic(path, text)
        return content_hash(text.encode("utf-8"))


def load_labeler(path: str | Path, *, expected_hash: str | None = None,
                 encoder: Encoder | None = None) -> ExemplarLabeler:
    """Read a labeler file. ``expected_hash``: the hash a spec recorded when it was loaded;
    a file changed since is refused (the monitor would judge with another labeler than the
    one the artifact names). ``encoder`` overrides the file's (tests)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LabelerFileError(f"{path}: cannot read the labeler file: {exc.strerror}") from None
    if expected_hash is not None and content_hash(data) != expected_hash:
        raise LabelerFileError(
            f"{path}: the labeler file changed since the spec was loaded "
            f"(recorded {expected_hash}, now {content_hash(data)}); load the spec again")
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LabelerFileError(f"{path}: not JSON: {exc}") from None
    enc_spec, texts, labels, margin = parse_labeler(doc, str(path))
    prop = doc.get("proposition") if isinstance(doc.get("proposition"), str) else ""
    return ExemplarLabeler(encoder or encoder_from_spec(enc_spec), texts, labels,
                           margin=margin, proposition=prop)


class LearnedDerived:
    """A learned proposition bound to its loaded labeler, as the plain runtime asks for a
    derived proposition (``observable``, ``evaluate(value)``): ``speclang monitor`` and
    ``explain`` judge each step's text whole with it."""

    def __init__(self, observable: str, labeler: ExemplarLabeler, shown: str) -> None:
        self.observable, self.labeler, self.shown = observable, labeler, shown

    def evaluate(self, value: object) -> bool:
        return self.labeler(str(value))

    def __str__(self) -> str:
        return self.shown


def bind_learned(derived: Mapping[str, Any]) -> dict[str, Any]:
    """``derived`` with every ``classifies`` proposition replaced by a
    :class:`LearnedDerived` (its file loaded and checked against the recorded hash)."""
    from speclang.model import TextClassifier

    return {p: LearnedDerived(d.observable, load_labeler(d.path, expected_hash=d.sha256),
                              str(d)) if isinstance(d, TextClassifier) else d
            for p, d in derived.items()}
