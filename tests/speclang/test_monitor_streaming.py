"""``monitor --trace FILE`` streams: memory does not grow with the trace's length, and a
bad line still produces no partial output."""

from __future__ import annotations

import json
import os
import sys
import tracemalloc
from pathlib import Path

import pytest

from speclang.cli import main

SPEC = "props a, b\nspec s { G(a -> F b) }\n"


def _peak_mb(spec: Path, trace: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[int, float]:
    with open(os.devnull, "w") as sink:
        monkeypatch.setattr(sys, "stdout", sink)
        tracemalloc.start()
        try:
            rc = main(["monitor", str(spec), "--spec", "s", "--trace", str(trace)])
            peak = tracemalloc.get_traced_memory()[1] / 2**20
        finally:
            tracemalloc.stop()
    return rc, peak


def test_monitor_file_memory_is_constant(tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    spec = tmp_path / "s.spec"
    spec.write_text(SPEC)
    line = json.dumps({"a": True, "b": False}) + "\n"
    short, long = tmp_path / "short.jsonl", tmp_path / "long.jsonl"
    short.write_text(line * 2_000)
    long.write_text(line * 30_000)
    main(["monitor", str(spec), "--spec", "s", "--trace", str(short)])  # warm caches
    rc_s, peak_s = _peak_mb(spec, short, monkeypatch)
    rc_l, peak_l = _peak_mb(spec, long, monkeypatch)
    assert rc_s == rc_l == 0
    # Holding 30,000 parsed steps took ~10 MB; streaming stays near the short run.
    assert peak_l < peak_s + 2.0, (peak_s, peak_l)


def test_bad_line_still_gives_no_partial_output(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "s.spec"
    spec.write_text(SPEC)
    trace = tmp_path / "t.jsonl"
    trace.write_text('{"a": true}\n' * 50 + "{not json\n")
    assert main(["monitor", str(spec), "--spec", "s", "--trace", str(trace)]) == 1
    out = capsys.readouterr()
    assert out.out == "" and ":51" in out.err
