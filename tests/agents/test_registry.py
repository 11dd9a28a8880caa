"""The algorithm registry behind ``speclang train``: every shipped experiment file finds its
loader by name, a wrong name lists the known ones, the CLI's overrides reach only the
algorithms that take them (with the messages users saw before the registry), and one error
class covers every algorithm's config problems."""

from __future__ import annotations

import ast
import json
import tomllib
from pathlib import Path

import pytest

from speclang.agents import registry
from speclang.cli import main
from tests.agents.configs import tiny_toml

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENTS = sorted((ROOT / "examples" / "experiments").glob("*.toml"))

TINY = tiny_toml()  # one zero-shot run of 4 episodes


def _train(tmp_path: Path, text: str, *extra: str) -> int:
    cfg = tmp_path / "exp.toml"
    cfg.write_text(text)
    return main(["train", str(cfg), "--out", str(tmp_path / "run"), "--no-progress", *extra])


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.name)
def test_every_shipped_experiment_loads_through_its_named_algorithm(path: Path) -> None:
    named = tomllib.loads(path.read_text()).get("algorithm", "tabular")
    algorithm = registry.for_config(path)
    assert algorithm.name == named
    cfg = algorithm.load(path)
    assert getattr(cfg, "algorithm", "tabular") == named


def test_the_names_are_the_ones_config_files_use() -> None:
    assert sorted(registry.ALGORITHMS) == ["dqn", "randpol", "tabular", "vizdoom_ppo",
                                           "vizdoom_randpol"]
    assert all(a.name == n for n, a in registry.ALGORITHMS.items())


def test_an_unknown_algorithm_names_the_file_and_lists_the_known_ones(tmp_path, capsys) -> None:
    assert _train(tmp_path, 'algorithm = "ppo"\n' + TINY) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {tmp_path / 'exp.toml'}: unknown algorithm 'ppo'")
    assert "(known: dqn, randpol, tabular, vizdoom_ppo, vizdoom_randpol)" in err
    assert "Traceback" not in err
    with pytest.raises(registry.ConfigError, match="unknown algorithm 'sarsa'"):
        registry.get("sarsa")


def test_a_non_string_algorithm_is_a_config_error(tmp_path, capsys) -> None:
    assert _train(tmp_path, "algorithm = 3\n" + TINY) == 1
    assert "algorithm: expected str, got 3" in capsys.readouterr().err


def test_an_explicit_tabular_algorithm_is_the_default(tmp_path) -> None:
    plain, named = tmp_path / "plain.toml", tmp_path / "named.toml"
    plain.write_text(TINY)
    named.write_text('algorithm = "tabular"\n' + TINY)
    tabular = registry.ALGORITHMS["tabular"]
    assert registry.for_config(named) is registry.for_config(plain) is tabular
    assert tabular.load(named).to_dict() == tabular.load(plain).to_dict()


# The messages as the CLI printed them before the registry.
DQN_REFUSES = "DQN runs take no --resume, --seeds or --episodes (edit the config)"
PPO_REFUSES = "VizDoom PPO runs take no --resume or --episodes (edit the config)"


@pytest.mark.parametrize(("algorithm", "option", "message"), [
    ("dqn", "--seeds", DQN_REFUSES), ("dqn", "--resume", DQN_REFUSES),
    ("dqn", "--episodes", DQN_REFUSES),
    ("vizdoom_ppo", "--resume", PPO_REFUSES), ("vizdoom_ppo", "--episodes", PPO_REFUSES),
])
def test_an_override_the_algorithm_does_not_take_is_a_usage_error(
        tmp_path, capsys, algorithm, option, message) -> None:
    argv = [option] if option == "--resume" else [option, "2"]
    assert _train(tmp_path, f'algorithm = "{algorithm}"\n', *argv) == 2
    assert capsys.readouterr().err == f"speclang train: error: {message}\n"


@pytest.mark.parametrize("option", ["--seeds", "--episodes"])
def test_counts_below_one_are_refused(tmp_path, capsys, option) -> None:
    assert _train(tmp_path, TINY, option, "0") == 2
    assert f"{option} must be >= 1" in capsys.readouterr().err


def test_overrides_set_the_attribute_each_algorithm_keeps_them_in(tmp_path) -> None:
    path = tmp_path / "exp.toml"
    path.write_text(TINY)
    tabular = registry.ALGORITHMS["tabular"]
    cfg = tabular.load(path)
    for option, value in (("seed", 7), ("seeds", 3), ("episodes", 9)):
        tabular.override(cfg, option, value)
    assert (cfg.seed, cfg.seeds, cfg.agent.episodes) == (7, 3, 9)
    dqn = registry.ALGORITHMS["dqn"]
    assert dqn.refused() == ["resume", "seeds", "episodes"] and dqn.accepts("seed")
    assert registry.ALGORITHMS["vizdoom_ppo"].refused() == ["resume", "episodes"]


def test_the_overrides_reach_the_run(tmp_path) -> None:
    assert _train(tmp_path, TINY, "--seed", "5", "--seeds", "2", "--episodes", "3") == 0
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert (saved["seed"], saved["seeds"], saved["agent"]["episodes"]) == (5, 2, 3)


def test_one_config_error_class_for_every_algorithm() -> None:
    from speclang.agents import config, dqn, errors, experiment
    from speclang.agents.vizdoom import ppo

    assert config.ConfigError is dqn.ConfigError is ppo.ConfigError is errors.ConfigError
    assert experiment.ExperimentError is errors.ExperimentError
    assert issubclass(errors.ConfigError, errors.AgentError)
    assert issubclass(errors.ExperimentError, errors.AgentError)
    assert issubclass(errors.ConfigError, ValueError)  # callers catching ValueError still do


def test_the_train_command_knows_only_the_registry() -> None:
    tree = ast.parse((ROOT / "speclang" / "cli" / "train.py").read_text())
    agents = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        agents |= {n for n in names if n.startswith("speclang.agents")}
    assert agents == {"speclang.agents.registry"}
