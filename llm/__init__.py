"""Spec monitors for language models: lexical and semantic propositions over generated text,
a per-sequence text monitor, decoding-time shields for ``transformers`` and spec rewards.

Heavy modules (torch, transformers) load on first use, so ``import llm`` stays cheap.
"""

from __future__ import annotations

from llm.labels import TextLabeler, UnitStream
from llm.monitor import TextMonitor, TextVerdict, label_text

__all__ = ["TextLabeler", "TextMonitor", "TextVerdict", "UnitStream", "label_text"]
