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


@pytest.fixture(scope="session")
def tiny_lm(tiny_tok: Any) -> Any:
    from speclang.llm.tiny import tiny_model

    return tiny_model(tiny_tok)
