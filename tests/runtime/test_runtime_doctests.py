"""The examples in the runtime docstrings run and print what they claim."""

from __future__ import annotations

import doctest
import importlib

import pytest


@pytest.mark.parametrize(
    "module",
    ["speclang.runtime.batched", "speclang.runtime.build", "speclang.runtime.labelers",
     "speclang.runtime.wrapper", "speclang.testing", "speclang.runtime.envs.minigrid",
     "speclang.runtime.monitor", "speclang.runtime.violation", "speclang.runtime.reward",
     "speclang.runtime.observation", "speclang.runtime.shield", "speclang.runtime.crm",
     "speclang.runtime.serialise"],
)
def test_docstring_examples(module):
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
