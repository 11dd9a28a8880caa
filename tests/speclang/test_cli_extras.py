"""A light install (no extras) must not report a missing optional dependency as a bug: every
command that needs an extra names it, with the pip command, and exits 2 (not 3, internal error).

The missing modules are simulated in-process: ``sys.modules[name] = None`` makes ``import name``
raise ModuleNotFoundError, and the speclang modules that import them are dropped from
``sys.modules`` (and restored afterwards) so that they import again under the block."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import pytest

import speclang
from speclang.cli import COMMAND_EXTRAS, EXTRA_MODULES, main
from tests.agents.configs import tiny_toml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
DEMO = EXAMPLES / "experiments" / "demo.toml"


OURS = ("speclang.agents", "speclang.llm")


@pytest.fixture
def light_install():
    """Returns ``block(extra)``: after it, the extra's modules cannot be imported."""
    saved = {n: m for n, m in sys.modules.items() if n.startswith(OURS)}
    parents = {name: getattr(speclang, name, None) for name in ("agents", "llm")}
    blocked: dict[str, object] = {}

    def block(extra: str) -> None:
        # The extras' own submodules stay loaded (C extensions refuse to load twice); a
        # blocked top-level name already stops `import torch.nn`.
        for name in [n for n in sys.modules if n.startswith(OURS)]:
            del sys.modules[name]
        for top in EXTRA_MODULES[extra] | {"lark"}:
            blocked.setdefault(top, sys.modules.get(top))
        for top in EXTRA_MODULES[extra]:
            sys.modules[top] = None  # type: ignore[assignment]

    yield block
    # Put back only what the test changed: modules first imported meanwhile (numpy, say)
    # stay, as a second import of a C extension fails.
    for name in [n for n in sys.modules if n.startswith(OURS)]:
        del sys.modules[name]
    sys.modules.update(saved)
    for top, module in blocked.items():
        if module is None:
            sys.modules.pop(top, None)
        else:
            sys.modules[top] = module
    for name, module in parents.items():
        if module is not None:
            setattr(speclang, name, module)


TINY = tiny_toml()  # one zero-shot run of 4 episodes


def _finished_run(tmp_path: Path) -> Path:
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(TINY)
    assert main(["train", str(cfg), "--out", str(tmp_path / "run")]) == 0
    return tmp_path / "run"


@pytest.mark.parametrize("command", ["train", "report", "render", "chat", "breakfix"])
def test_a_command_without_its_extra_names_it(command, tmp_path, light_install, capsys):
    if command == "train":
        argv = ["train", str(DEMO), "--out", str(tmp_path / "run")]
    elif command == "report":
        argv = ["report", str(_finished_run(tmp_path))]
    elif command == "render":
        argv = ["render", str(EXAMPLES / "vizdoom.spec"), "--spec", "s0",
                "--out", str(tmp_path / "x.gif")]
    elif command == "breakfix":
        argv = ["breakfix", str(EXAMPLES / "llm" / "medical.spec"), "--spec", "no_dosage",
                "--out", str(tmp_path / "bf"), "--tiny", "--lexical-only"]
    else:
        argv = ["chat", str(EXAMPLES / "chatbot.spec"), "--spec", "no_profanity", "--tiny",
                "--prompt", "Hello"]
    capsys.readouterr()
    extra = COMMAND_EXTRAS[command]
    light_install(extra)
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "internal error" not in err and "bug" not in err
    assert f"speclang {command} needs the [{extra}] extra" in err
    assert f"pip install 'speclang[{extra}]'" in err


def test_a_missing_module_that_is_not_optional_is_still_a_bug(monkeypatch, capsys):
    # Only optional dependencies get the advice; a missing core module is reported as a bug.
    import speclang.cli.report

    def run(args):
        raise ModuleNotFoundError("No module named 'lark'", name="lark")

    monkeypatch.setattr(speclang.cli.report, "run", run)
    code = main(["report", "somewhere"])
    err = capsys.readouterr().err
    assert code == 3 and "internal error" in err and "extra" not in err


def test_the_table_of_optional_modules_follows_pyproject():
    # pip's distribution names, by the import name each installs where the two differ
    import_name = {"pillow": "PIL", "stable-baselines3": "stable_baselines3",
                   "sb3-contrib": "sb3_contrib"}
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]

    def dists(extra: str) -> set[str]:
        out = set()
        for req in extras[extra]:
            name = req.split(">")[0].split("<")[0].split("=")[0].strip()
            if not name.startswith("speclang["):
                name = name.split("[")[0]  # ray[rllib] installs ray
            if name.startswith("speclang["):  # extras that include others: speclang[rl,llm]
                for inner in name[len("speclang["):-1].split(","):
                    out |= dists(inner)
            else:
                out.add(import_name.get(name, name))
        return out

    for extra, modules in EXTRA_MODULES.items():
        assert dists(extra) == set(modules), extra
    assert set(COMMAND_EXTRAS.values()) <= set(EXTRA_MODULES)


def test_a_vizdoom_experiment_without_vizdoom_names_its_own_extra(tmp_path, light_install,
                                                                  monkeypatch, capsys):
    # rl (torch) installed, ViZDoom not: the advice is [vizdoom], not the [rl] train needs
    light_install("testing")  # drops speclang.agents so that it imports again
    monkeypatch.setitem(sys.modules, "vizdoom", None)
    code = main(["train", str(EXAMPLES / "experiments" / "vizdoom_cpu.toml"),
                 "--out", str(tmp_path / "run"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "speclang train needs the [vizdoom] extra (vizdoom is not installed)" in err
