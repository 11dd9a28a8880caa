"""``speclang train`` guards its run directory: a concurrent run on the same ``--out`` is
refused, an unwritable output is a clear error, and absurd ``--seeds`` is a usage error."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest
from test_report_cli import TINY

from speclang.cli import main


def test_concurrent_run_on_the_same_directory_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(TINY)
    out = tmp_path / "run"
    out.mkdir()
    fd = os.open(out, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # another train holds the directory
        assert main(["train", str(cfg), "--out", str(out), "--no-progress"]) == 1
        assert main(["train", str(cfg), "--out", str(out), "--resume", "--no-progress"]) == 1
    finally:
        os.close(fd)
    err = capsys.readouterr().err
    assert err.count("another speclang train is using this run directory") == 2
    assert list(out.iterdir()) == []  # nothing written


def test_unwritable_output_is_a_clear_error(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(TINY)
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["train", str(cfg), "--out", str(blocker / "run"), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "cannot create the run directory" in err and "internal error" not in err


def test_huge_seed_count_is_a_usage_error(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(TINY)
    assert main(["train", str(cfg), "--out", str(tmp_path / "o"), "--seeds", "100000"]) == 2
    assert "--seeds must be at most 1000" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
