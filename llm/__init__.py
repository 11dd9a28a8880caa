"""Spec monitors for language models: lexical and semantic propositions over generated text,
a per-sequence text monitor, decoding-time shields for ``transformers`` and spec rewards.

Heavy modules (torch, transformers) load on first use, so ``import llm`` stays cheap.
"""

from __future__ import annotations

if __name__ != "speclang.llm":  # a bare `llm` would load every module a second time
    raise ImportError(
        "speclang's llm package is imported as `speclang.llm`, not `llm` "
        "(the bare name is not installed; run from a checkout, it would load every module twice)"
    )

from speclang.llm.labels import TextLabeler, UnitStream
from speclang.llm.monitor import TextMonitor, TextVerdict, label_text

__all__ = ["TextLabeler", "TextMonitor", "TextVerdict", "UnitStream", "label_text"]
