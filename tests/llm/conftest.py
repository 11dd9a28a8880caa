from __future__ import annotations

import os
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def tiny_tok() -> Any:
    pytest.importorskip("transformers")
    from speclang.llm.tiny import tiny_tokenizer

    return tiny_tokenizer()


# Every test of a model-driven piece (shield, triggers, fear) runs on each architecture
# family the shield and trainer support: Llama (SmolLM2) and Phi-3 (fused projections).
@pytest.fixture(scope="session", params=["llama", "phi3"])
def tiny_lm(tiny_tok: Any, request: Any) -> Any:
    from speclang.llm.tiny import tiny_model

    return tiny_model(tiny_tok, arch=request.param)
