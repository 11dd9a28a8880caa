"""scripts/violation_sites.py and scripts/curriculum_cost.py: the breakdowns of a run's
final-spec violations (and its greedy success), checked against counts taken from
episodes.npz and results.json directly."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from speclang.cli import main

_SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def _script(name: str = "violation_sites"):  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(name, _SCRIPTS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp_path = tmp_path_factory.mktemp("sites")
    cfg = tmp_path / "v.toml"
    cfg.write_text("""name = "v"
seeds = 2
[env]
max_steps = 80
violation_penalty = -1.0
[specs]
source = "builtin"
[agent]
episodes = 80
[eval]
episodes = 5
safe_window = 10
[[methods]]
name = "prog"
kind = "progressive"
transfer = "correspondence"
switch_every = 20
[[methods]]
name = "zero"
kind = "zero_shot"
""")
    out = tmp_path / "run"
    assert main(["train", str(cfg), "--out", str(out), "--no-progress"]) == 0
    return out


def test_the_breakdown_adds_up_to_the_recorded_violations(
        run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = run_dir
    capsys.readouterr()
    assert _script().main([str(out), "--windows", "0,1000,1000000", "--top", "50"]) == 0
    text = capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())
    with np.load(out / "episodes.npz") as z:
        fviol, spec, cell = z["fviol"], z["spec"], z["fviol_cell"]
    for m in ("prog", "zero"):
        rows = [i for i, r in enumerate(results["runs"]) if r["method"] == m]
        row = next(line for line in text.splitlines() if line.startswith(f"| {m} |"))
        values = [float(v) for v in row.strip("|").split("|")[1:]]
        per_spec = [np.mean([(fviol[i] & (spec[i] == k)).sum() for i in rows])
                    for k in range(4)]
        assert np.allclose(values[:4], per_spec, atol=0.05)
        # the two windows cover every step of the runs
        assert np.isclose(sum(values[4:]), sum(per_spec), atol=0.1)
        line = next(x for x in text.splitlines() if x.startswith(f"{m}: by cell"))
        listed = sum(float(p.rsplit(": ", 1)[1]) for p in
                     line.split("by cell ", 1)[1].split("; by final")[0].split(", "))
        by_cell = np.mean([(cell[i] >= 0).sum() for i in rows])
        assert by_cell > 0 and np.isclose(listed, by_cell, atol=0.05 * len(rows))


def test_curriculum_cost_reports_each_methods_greedy_success(
        run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert _script("curriculum_cost").main([str(run_dir), "--reference", "prog"]) == 0
    text = capsys.readouterr().out
    results = json.loads((run_dir / "results.json").read_text())
    for m in ("prog", "zero"):
        row = next(line for line in text.splitlines() if line.startswith(f"| {m} |"))
        cells = [c.strip() for c in row.strip("|").split("|")]
        want = np.mean([r["eval_success_rate"] for r in results["runs"] if r["method"] == m])
        assert np.isclose(float(cells[-1].split(" ± ")[0]), want, atol=5e-4)
        total = np.mean([r["final_spec_violations"] for r in results["runs"]
                         if r["method"] == m])
        assert np.isclose(float(cells[1].split(" ± ")[0]), total, atol=0.05)
