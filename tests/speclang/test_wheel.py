"""The built wheel ships the grammars as package data: install it into a fresh virtual
environment and run ``speclang check`` from outside the repository."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_installed_wheel_checks_examples(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(wheels), str(ROOT)],
        check=True, cwd=tmp_path, timeout=300,
    )
    (wheel,) = wheels.glob("speclang-*.whl")
    env_dir = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True)
    py = env_dir / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps",
         "--no-index", "-q", str(wheel)],
        check=True, timeout=300,
    )
    # Dependencies (lark, numpy) come from the development venv's site-packages, added
    # after the new venv's own, so `import speclang` resolves to the installed wheel.
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          check=True, capture_output=True, text=True).stdout.strip()
    Path(site, "dev_deps.pth").write_text(sysconfig.get_path("purelib") + "\n")

    work = tmp_path / "outside"
    shutil.copytree(ROOT / "examples", work / "examples")
    where = subprocess.run([str(py), "-c", "import speclang; print(speclang.__file__)"],
                           check=True, capture_output=True, text=True, cwd=work).stdout
    assert where.startswith(str(env_dir))
    assert Path(site, "speclang", "grammars", "spec.lark").is_file()

    ok = subprocess.run([str(env_dir / "bin" / "speclang"), "check", "examples/minecraft.spec",
                         "examples/gridworld.spec"], capture_output=True, text=True, cwd=work)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stderr == "examples/minecraft.spec: ok\nexamples/gridworld.spec: ok\n"
    bad = subprocess.run([str(env_dir / "bin" / "speclang"), "check",
                          "examples/errors/undeclared.spec"], capture_output=True, text=True,
                         cwd=work)
    assert bad.returncode == 1
    assert bad.stderr == (ROOT / "examples/errors/undeclared.expected").read_text()
