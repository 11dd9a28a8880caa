"""Shared by the explain/monitor CLI tests: a spec file and a trace file written side by side."""

from __future__ import annotations

from pathlib import Path


def spec_and_trace(tmp_path: Path, spec_text: str, *lines: str,
                   name: str = "case.spec") -> tuple[str, str]:
    """Write ``spec_text`` to ``tmp_path/name`` and one JSON line per step to ``t.jsonl``."""
    spec = tmp_path / name
    spec.write_text(spec_text)
    trace = tmp_path / "t.jsonl"
    trace.write_text("\n".join(lines) + "\n")
    return str(spec), str(trace)
