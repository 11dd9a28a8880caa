"""The Ray/RLlib import of the tests marked ``ray``: a skip in the dev venv (gymnasium 1.4,
no Ray), a failure in ``.venv-ray``, where ``make test`` sets ``SPECLANG_REQUIRE_RAY=1`` so
that a broken Ray install cannot pass as skipped tests."""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest


def import_ray(name: str = "ray") -> ModuleType:
    if os.environ.get("SPECLANG_REQUIRE_RAY"):
        return importlib.import_module(name)
    return pytest.importorskip(name)
