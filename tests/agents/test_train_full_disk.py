"""``speclang train`` when the disk fills mid-run (issue 18): a clear error and exit 1 (not
3), metrics.jsonl left with whole records only (no partial line, no NUL bytes), and the run
resumes to the same results as an uninterrupted one. Damaged run files are clear errors or
are recovered from the checkpoint."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest
from test_report_cli import TINY

from speclang.agents import experiment
from speclang.cli import main


class _FillingFile:
    """The metrics file on a disk that fills after ``room`` records: the next write puts
    half of its line on disk, then fails with ENOSPC, as a real short write does."""

    def __init__(self, fh, room: int) -> None:
        self.fh, self.room = fh, room

    def write(self, data) -> int:
        if self.room == 0:
            self.fh.write(bytes(data)[: len(data) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= 1
        return self.fh.write(data)

    def __getattr__(self, name: str):
        return getattr(self.fh, name)


def _config(tmp_path: Path) -> Path:
    cfg = tmp_path / "tiny.toml"
    # checkpoints often enough that the failure comes after one
    cfg.write_text(TINY.replace("log_every = 50", "log_every = 50\ncheckpoint_every = 100"))
    return cfg


def _records(path: Path) -> list[dict]:
    raw = path.read_bytes()
    assert b"\0" not in raw
    assert raw == b"" or raw.endswith(b"\n")  # no partial last line
    return [json.loads(line) for line in raw.decode().splitlines()]


def test_disk_full_mid_run_is_a_clear_error_and_resumes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    cfg = _config(tmp_path)
    clean = tmp_path / "clean"
    assert main(["train", str(cfg), "--out", str(clean), "--no-progress"]) == 0
    want = _records(clean / "metrics.jsonl")
    assert len(want) > 5
    capsys.readouterr()

    original = experiment._Logger.__init__

    def filling(self, *args, **kwargs) -> None:
        original(self, *args, **kwargs)
        self.fh = _FillingFile(self.fh, room=5)

    out = tmp_path / "run"
    monkeypatch.setattr(experiment._Logger, "__init__", filling)
    assert main(["train", str(cfg), "--out", str(out), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "cannot write the run: No space left on device" in err
    assert "internal error" not in err and "Traceback" not in err
    assert _records(out / "metrics.jsonl") == want[:5]  # what was written is intact
    assert not list(out.glob("*.tmp*"))

    monkeypatch.setattr(experiment._Logger, "__init__", original)
    assert main(["train", str(cfg), "--out", str(out), "--resume", "--no-progress"]) == 0
    assert _records(out / "metrics.jsonl") == want
    assert (json.loads((out / "results.json").read_text())
            == json.loads((clean / "results.json").read_text()))


def test_disk_full_while_checkpointing_keeps_the_old_checkpoint(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    cfg = _config(tmp_path)
    calls = {"n": 0}
    savez = experiment.np.savez

    def full(path, **arrays) -> None:
        calls["n"] += 1
        if calls["n"] == 2:  # the second checkpoint finds the disk full halfway
            Path(path).write_bytes(b"PK\3\4 half an archive")
            raise OSError(errno.ENOSPC, "No space left on device")
        savez(path, **arrays)

    out = tmp_path / "run"
    monkeypatch.setattr(experiment.np, "savez", full)
    assert main(["train", str(cfg), "--out", str(out), "--no-progress"]) == 1
    assert "No space left on device" in capsys.readouterr().err
    assert not list(out.glob("*.tmp*"))  # the half-written temporary is gone
    monkeypatch.setattr(experiment.np, "savez", savez)
    assert main(["train", str(cfg), "--out", str(out), "--resume", "--no-progress"]) == 0
    _records(out / "metrics.jsonl")


def test_damaged_run_files_are_clear_errors_or_recovered(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = _config(tmp_path)
    out = tmp_path / "run"
    assert main(["train", str(cfg), "--out", str(out), "--no-progress"]) == 0
    results = (out / "results.json").read_text()
    # a damaged results.json: the run is finished again from its last checkpoint
    (out / "results.json").write_text(results[:40])
    assert main(["train", str(cfg), "--out", str(out), "--resume", "--no-progress"]) == 0
    assert json.loads((out / "results.json").read_text()) == json.loads(results)
    # a damaged checkpoint: a clear error, nothing changed
    (out / "results.json").unlink()
    (out / "checkpoint.npz").write_bytes(b"PK\3\4 garbage")
    before = (out / "metrics.jsonl").read_bytes()
    capsys.readouterr()
    assert main(["train", str(cfg), "--out", str(out), "--resume", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "unreadable checkpoint" in err and "internal error" not in err
    assert (out / "metrics.jsonl").read_bytes() == before
