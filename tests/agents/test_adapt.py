"""`speclang adapt` end to end on a tiny run, on a spec the repository has never seen."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from speclang.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TINY = """
name = "tiny"
seeds = 2
[env]
max_steps = 60
violation_penalty = -1.0
[specs]
file = "EXAMPLES/minecraft.spec"
[agent]
episodes = 30
[eval]
episodes = 5
safe_window = 10
[run]
log_every = 50
checkpoint_every = 7
"""
METHODS = {
    "prog": 'kind = "progressive"\ntransfer = "correspondence"\ncombine = "min"\n'
            'transfer_from = "last"\n',
    "paper": 'kind = "progressive"\ntransfer = "paper"\n',
    "zero": 'kind = "zero_shot"\n',
    "crit": 'kind = "progressive"\ntransfer = "correspondence"\ntransfer_from = "last"\n'
            'critic = "explore"\n',
    "pc": 'kind = "progressive"\ntransfer = "paper_code"\n',
}
# Written here so that nothing in the repository knows it: the bench only after iron.
NEW_SPEC = """props lava, creeper, wood, iron, work_bench, smith_table, diamond
spec iron_first "the work bench only after iron" { G(work_bench -> O iron) & G !creeper }
spec same_as_t4 "t4 again" {
    G(lava -> O(work_bench & O wood)) & G(creeper -> O(smith_table & O(iron & O wood)))
}
spec water "a proposition the gridworld has not" { G !water }
props water
"""


def _train(tmp: Path, methods: list[str], name: str = "run") -> Path:
    cfg = tmp / f"{name}.toml"
    entries = "".join(f'[[methods]]\nname = "{m}"\n{METHODS[m]}' for m in methods)
    cfg.write_text(TINY.replace("EXAMPLES", str(EXAMPLES)) + entries)
    out = tmp / name
    assert main(["train", str(cfg), "--out", str(out), "--no-progress"]) == 0
    return out


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("adapt")
    (tmp / "new.spec").write_text(NEW_SPEC)
    return _train(tmp, ["prog", "paper", "zero", "crit", "pc"])


def _adapt(run: Path, out: Path, spec: str = "iron_first", episodes: int = 25) -> dict:
    code = main(["adapt", str(run), str(run.parent / "new.spec"), "--spec", spec,
                 "--episodes", str(episodes), "--out", str(out), "--no-progress"])
    assert code == 0
    return json.loads((out / "adapt.json").read_text())


def test_adapt_json_has_every_method_and_the_zero_shot_control(
        run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    res = _adapt(run_dir, tmp_path / "a")
    printed = capsys.readouterr().out
    assert res["spec"] == "iron_first" and res["episodes"] == 25
    # the trained "zero" keeps its name; the control is "zero-shot"
    assert set(res["methods"]) == {"prog", "paper", "zero", "crit", "pc", "zero-shot"}
    for rec in res["methods"].values():
        assert len(rec["violations"]) == len(rec["success"]) == 2
        assert all(isinstance(v, int) and 0 <= v <= 25 for v in rec["violations"])
        assert all(0.0 <= s <= 1.0 for s in rec["success"])
        # every episode takes at least one step and at most max_steps
        assert all(25 <= n <= 25 * 60 for n in rec["env_steps"])
    assert set(res["tests"]) == {"prog", "paper", "zero", "crit", "pc"}
    assert "wilcoxon_p_holm" in res["tests"]["prog"]["violations"]
    for name in ("prog", "paper", "zero-shot", "Wilcoxon", "env steps"):
        assert name in printed


def test_adapt_is_reproducible_and_the_control_independent_of_the_other_methods(
        run_dir: Path, tmp_path: Path) -> None:
    first = _adapt(run_dir, tmp_path / "a")
    again = _adapt(run_dir, tmp_path / "b")
    assert first == again
    # a run's numbers come from its own streams: training other methods changes no number
    # of the control (nor of "zero", trained alone here)
    alone = _train(run_dir.parent, ["zero"], name="alone")
    other = _adapt(alone, tmp_path / "c")
    assert set(other["methods"]) == {"zero", "zero-shot"}
    assert other["methods"]["zero-shot"] == first["methods"]["zero-shot"]
    assert other["methods"]["zero"] == first["methods"]["zero"]


def test_correspondence_to_an_equal_spec_carries_the_final_table(run_dir: Path) -> None:
    from speclang.agents.adapt import _transferred, load_new_spec, load_run_config, trained_batch
    from speclang.agents.monitors import correspondence

    cfg = load_run_config(run_dir)
    batch, automata = trained_batch(cfg, run_dir)
    assert batch.finished  # the final checkpoint holds the trained agents
    new = load_new_spec(run_dir.parent / "new.spec", "same_as_t4")
    pairs = [correspondence(new, a, batch.layout.letters()) for a in automata]
    # the compiled t4 and this copy are the same minimal automaton, state for state
    assert new.n_states == automata[-1].n_states
    assert all(pairs[-1][q] <= {q} for q in range(new.n_states))
    r = next(i for i, run in enumerate(batch.runs) if run.method.name == "prog")
    got = _transferred(batch.st["Q"][r], "progressive", batch.runs[r].method, automata, new,
                       pairs)
    want = batch.st["Q"][r, -1][:, : new.n_states].copy()
    want[:, new.violation_sink] = 0.0  # never read: episodes end there
    reached = [q for q in range(new.n_states) if pairs[-1][q]]
    unreached = [q for q in range(new.n_states) if not pairs[-1][q]]
    np.testing.assert_array_equal(got[:, reached], want[:, reached])
    assert not got[:, unreached].any()
    assert batch.st["Q"][r, -1].any()  # the check is not vacuous

    # the critic by its own rule (worst case over pairs: here the one paired state)
    from speclang.agents.adapt import CONTROL, _carry
    from speclang.agents.tabular import RunSpec, TabularBatch

    acfg = copy.deepcopy(cfg)
    acfg.methods = [*cfg.methods, replace(cfg.methods[0], name=CONTROL, kind="zero_shot")]
    runs = [RunSpec(m, s) for m in acfg.methods for s in range(cfg.seeds)]
    adapted = TabularBatch(acfg, [new], 1, runs=runs)
    _carry(batch, adapted, automata, new)
    rc = next(i for i, run in enumerate(batch.runs) if run.method.name == "crit")
    k, k_new = int(batch.critic_pos[rc]), int(adapted.critic_pos[rc])
    trained_c = batch.st["C"][k, -1][:, reached]
    assert trained_c.any()
    np.testing.assert_array_equal(adapted.st["C"][k_new, 0][:, reached], trained_c)
    # paper_code: its one table carried whole where it met the states
    rp = next(i for i, run in enumerate(batch.runs) if run.method.name == "pc")
    seen = batch.st["pc_seen"][int(batch.pc_pos[rp])][:, : new.n_states]
    np.testing.assert_array_equal(adapted.st["Q"][rp, 0][seen],
                                  batch.st["Q"][rp, -1][:, : new.n_states][seen])


@pytest.mark.parametrize(("args", "message"), [
    (["new.spec", "--spec", "nope"], "no spec named 'nope'"),
    (["new.spec", "--spec", "water"], "new.spec:6:1: spec 'water' uses propositions"),
    (["bad.spec", "--spec", "x"], "bad.spec:1:"),
    (["missing.spec", "--spec", "x"], "cannot read"),
])
def test_bad_specs_are_located_errors(run_dir: Path, tmp_path: Path, args: list[str],
                                      message: str, capsys: pytest.CaptureFixture[str]) -> None:
    (run_dir.parent / "bad.spec").write_text("spec x { G( }\n")
    args = [str(run_dir.parent / args[0]), *args[1:]]
    assert main(["adapt", str(run_dir), *args, "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and "internal error" not in err
    assert not (tmp_path / "o").exists()


def test_bad_run_directories_are_clear_errors(run_dir: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    spec = str(run_dir.parent / "new.spec")
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "config.json").write_text((run_dir / "config.json").read_text())
    (damaged / "checkpoint.npz").write_bytes(b"not a zip archive")
    cases = [(tmp_path / "nothing", "no such run directory"),
             (tmp_path, "no config.json"),
             (damaged, "unreadable checkpoint")]
    for path, message in cases:
        assert main(["adapt", str(path), spec, "--spec", "iron_first", "--out",
                     str(tmp_path / "o"), "--no-progress"]) == 1
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, err
    assert main(["adapt", str(run_dir), spec, "--spec", "iron_first", "--episodes", "0",
                 "--out", str(tmp_path / "o")]) == 2
