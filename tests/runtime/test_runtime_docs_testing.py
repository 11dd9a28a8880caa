"""Runs the code blocks of docs/testing.md exactly as written (so the page cannot rot)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "testing.md"


def docs_namespace(monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.chdir(ROOT)  # the page loads examples/ relative to the repository root
    blocks = re.findall(r"```python\n(.*?)```", PAGE.read_text(), flags=re.S)
    assert len(blocks) == 3, "docs/testing.md should hold three runnable python blocks"
    ns: dict = {"__name__": "docs_testing"}
    for block in blocks:
        exec(compile(block, str(PAGE), "exec"), ns)
    return ns


def test_docs_monitor_property(monkeypatch):
    docs_namespace(monkeypatch)["test_no_violation_before_the_door_is_touched"]()


def test_docs_state_machine(monkeypatch):
    ns = docs_namespace(monkeypatch)
    ns["TestKeyFirstMonitor"]("runTest").runTest()


def test_docs_environment_property(monkeypatch):
    docs_namespace(monkeypatch)["test_door_key_env_no_cost_before_touching_the_door"]()


def test_docs_runtime_example(monkeypatch):
    """The opening example of docs/runtime.md runs as written."""
    monkeypatch.chdir(ROOT)
    text = (ROOT / "docs" / "runtime.md").read_text()
    block = re.findall(r"```python\n(.*?)```", text, flags=re.S)[0]
    ns: dict = {}
    exec(compile(block, "docs/runtime.md", "exec"), ns)
    assert ns["info"]["safeguard"]["spec"] == "no_lava"
    assert set(ns["env"].stats) == {"no_lava", "useful_pickup", "key_first", "keep_key"}
