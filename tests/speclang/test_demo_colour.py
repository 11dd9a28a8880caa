"""scripts/demo.sh writes bold step titles only to a terminal and never under NO_COLOR: piped
output carries no escape bytes. The script runs in a copy of the tree whose speclang is a
stand-in that only creates the directories the script lists at the end."""

from __future__ import annotations

import os
import pty
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ESC = b"\x1b"

FAKE_SPECLANG = """#!/bin/sh
# stand-in for the real command: create --out / -o targets' folders, print nothing else
prev=""
for a in "$@"; do
  if [ "$prev" = "--out" ]; then mkdir -p "$a"; fi
  prev=$a
done
echo "speclang $1"
"""


def _tree(tmp_path: Path) -> Path:
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "demo.sh", tmp_path / "scripts" / "demo.sh")
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    fake = tmp_path / ".venv" / "bin" / "speclang"
    fake.parent.mkdir(parents=True)
    fake.write_text(FAKE_SPECLANG)
    fake.chmod(0o755)
    return tmp_path / "scripts" / "demo.sh"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    return {**env, **extra}


def _on_a_terminal(script: Path, env: dict[str, str]) -> bytes:
    master, slave = pty.openpty()
    proc = subprocess.Popen(["bash", str(script)], stdout=slave, stderr=slave, env=env)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the terminal closes when the script ends
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    assert proc.wait(timeout=60) == 0, out
    return out


def test_piped_output_has_no_escape_codes(tmp_path):
    script = _tree(tmp_path)
    proc = subprocess.run(["bash", str(script)], capture_output=True, env=_env(), timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert b"== check every example spec" in proc.stdout
    assert ESC not in proc.stdout + proc.stderr


def test_a_terminal_gets_bold_titles_unless_no_color(tmp_path):
    script = _tree(tmp_path)
    out = _on_a_terminal(script, _env())
    assert b"\x1b[1m== check every example spec\x1b[0m" in out
    out = _on_a_terminal(script, _env(NO_COLOR="1"))
    assert b"== check every example spec" in out and ESC not in out
