"""`make demo` installs only what the demo runs (the grid extra, no torch), `make test` keeps the
complete dev set, and every command of scripts/demo.sh works with nothing more installed."""

from __future__ import annotations

import glob
import os
import re
import shlex
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

from speclang.cli import EXTRA_MODULES

ROOT = Path(__file__).resolve().parents[2]


def _recipe(target: str) -> tuple[str, list[str]]:
    """The prerequisites and the command lines of a Makefile target."""
    lines = (ROOT / "Makefile").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{target}:"))
    body = []
    for line in lines[start + 1:]:
        if not line.startswith("\t"):
            break
        body.append(line.strip().lstrip("@"))
    return lines[start].split(":", 1)[1].strip(), body


def _setup_extras(commands: list[str]) -> list[str]:
    return [shlex.split(c)[2] if len(shlex.split(c)) > 2 else "dev"
            for c in commands if "scripts/setup.sh" in c]


def _requirements(extra: str) -> set[str]:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    out = set()
    for req in extras[extra]:
        name = re.split(r"[<>=!~\[ ]", req, maxsplit=1)[0]
        if req.startswith("speclang["):  # extras that include others: speclang[rl,llm]
            for inner in req[len("speclang["):-1].split(","):
                out |= {f"speclang[{inner}]"} | _requirements(inner)
        else:
            out.add(name)
    return out


def test_demo_installs_the_light_set_and_test_the_complete_one():
    demo_prereqs, demo = _recipe("demo")
    assert "setup" not in demo_prereqs.split()  # the setup target installs dev
    assert _setup_extras(demo) == ["grid"]
    grid = _requirements("grid")
    assert not grid & {"torch", "transformers", "vizdoom", "speclang[dev]", "speclang[llm]",
                       "speclang[rl]"}, grid
    test_prereqs, test = _recipe("test")
    _, setup = _recipe("setup")
    assert _setup_extras(test) == ["dev"] or ("setup" in test_prereqs.split()
                                              and _setup_extras(setup) == ["dev"])
    # dev still holds every extra, so `make test` runs the whole suite
    dev = _requirements("dev")
    assert {"speclang[rl]", "speclang[vizdoom]", "speclang[llm]", "speclang[sb3]",
            "speclang[grid]"} <= dev
    # a MiniGrid user's torch extra does not pull ViZDoom (64 MB)
    assert "vizdoom" not in _requirements("rl") and "vizdoom" in _requirements("vizdoom")


def _demo_commands(out: Path) -> list[list[str]]:
    """The speclang command lines of scripts/demo.sh, with its variables filled in."""
    commands = []
    for line in (ROOT / "scripts" / "demo.sh").read_text().splitlines():
        line = line.strip()
        if not line.startswith("$S "):
            continue
        line = line.replace("|| true", "")
        argv = []
        for word in shlex.split(line)[1:]:
            word = word.replace("$OUT", str(out)).replace("$spec", "t4")
            argv += sorted(glob.glob(word, root_dir=ROOT)) if "*" in word else [word]
        if argv[0] == "train":  # the same experiment, small enough for a test
            argv += ["--seeds", "1", "--episodes", "40", "--no-progress"]
        commands.append(argv)
    return commands


def test_every_demo_command_runs_with_only_the_grid_extra(tmp_path):
    commands = _demo_commands(tmp_path)
    assert [c[0] for c in commands] == ["check", "compile", "viz", "report-spec", "monitor",
                                        "explain", "train", "report"]
    (tmp_path / "trace.jsonl").write_text('["wood"]\n[]\n["lava"]\n')
    # Everything optional outside grid (torch, tensorboard, vizdoom, the llm stack, graphviz's
    # Python package, hypothesis) fails to import, as on a venv built by `setup.sh grid`.
    blocked = sorted(set().union(*EXTRA_MODULES.values()) - EXTRA_MODULES["grid"])
    assert "torch" in blocked
    script = textwrap.dedent(f"""
        import sys
        from importlib.abc import MetaPathFinder

        BLOCKED = {blocked!r}

        class Missing(MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in BLOCKED:
                    raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
                return None

        sys.meta_path.insert(0, Missing())
        from speclang.cli import main
        for argv in {commands!r}:
            code = main(argv)
            # demo.sh runs explain with `|| true`
            if code not in ((0, 1) if argv[0] == "explain" else (0,)):
                sys.exit(f"{{argv}}: exit {{code}}")
        sys.exit(0 if not set(sys.modules) & set(BLOCKED) else "a blocked module loaded")
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "needs the" not in proc.stderr and "internal error" not in proc.stderr
    assert (tmp_path / "train" / "summary.html").exists()
