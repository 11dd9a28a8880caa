"""The MONA reference (benchmarks/ltlf2dfa_ref.py) for the differential tests, loaded once.

Every call of the reference goes through that module's file lock: LTLf2DFA writes its MONA
program to one fixed file, so two calls must never run at once.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def load_ref() -> ModuleType:
    """The reference module, or skip the test where LTLf2DFA or Debian's mona is missing."""
    if shutil.which("mona") is None or importlib.util.find_spec("ltlf2dfa") is None:
        pytest.skip("needs ltlf2dfa and Debian mona (installed by .ci/run)")
    if "ltlf2dfa_ref" not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            "ltlf2dfa_ref", ROOT / "benchmarks" / "ltlf2dfa_ref.py")
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        sys.modules["ltlf2dfa_ref"] = mod
        spec.loader.exec_module(mod)
    return sys.modules["ltlf2dfa_ref"]
