"""The labeler file of a learned text proposition (``prop p = reply classifies "f.json"``):
its format, validated with the standard library alone, so that ``speclang check`` can
refuse a bad file with a located error without importing numpy or a model. The labeler
itself (embeddings, scores) is :mod:`speclang.llm.learned`."""

from __future__ import annotations

import hashlib
from typing import Any

FORMAT = "speclang-labeler"
VERSION = 1


def content_hash(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class LabelerFileError(ValueError):
    """A labeler file that cannot be used; the message names the file and the field."""


def parse_labeler(doc: Any, source: str) -> tuple[dict[str, Any], list[str], list[bool], float]:
    """Validate a labeler file's JSON: ``(encoder spec, texts, labels, margin)``. Only the
    standard library: the spec checker calls it too."""
    def fail(msg: str) -> LabelerFileError:
        return LabelerFileError(f"{source}: {msg}")

    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise fail(f'not a labeler file (its "format" is not "{FORMAT}")')
    if doc.get("version") != VERSION:
        raise fail(f'labeler file version {doc.get("version")!r}; this speclang reads {VERSION}')
    enc = doc.get("encoder")
    if not isinstance(enc, dict) or enc.get("kind") not in ("minilm", "hashing"):
        raise fail('"encoder" must be {"kind": "minilm"} or {"kind": "hashing", "dim": N}')
    margin = doc.get("margin", 0.0)
    if not isinstance(margin, (int, float)) or isinstance(margin, bool) or margin != margin:
        raise fail(f'"margin" must be a number, not {margin!r}')
    ex = doc.get("exemplars")
    if not isinstance(ex, list) or not ex:
        raise fail('"exemplars" must be a non-empty list of {"text": ..., "label": true/false}')
    texts, labels = [], []
    for i, e in enumerate(ex):
        if (not isinstance(e, dict) or not isinstance(e.get("text"), str)
                or not isinstance(e.get("label"), bool)):
            raise fail(f'exemplars[{i}] must be {{"text": "...", "label": true or false}}')
        texts.append(e["text"])
        labels.append(e["label"])
    if not any(labels) or all(labels):
        raise fail("the exemplars need both labels (true and false) to tell them apart")
    return enc, texts, labels, float(margin)
