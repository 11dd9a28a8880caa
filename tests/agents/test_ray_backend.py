"""``speclang train --backend ray``: every (method, seed) run as a Ray task gives the local
backend's results.json and episode curves exactly; a driver killed part-way resumes without
redoing finished runs; without Ray the command names the [ray] extra.

One local Ray instance (2 CPUs) serves the module: starting Ray costs tens of seconds on a
loaded 2-core machine, and ``run_ray`` uses an instance that is already up."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from speclang.cli import main
from tests.agents.configs import EVERY_KIND, SMALL, tiny_toml
from tests.ray_needed import import_ray

TINY = tiny_toml(EVERY_KIND, seeds=2, **SMALL)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def faults(tmp_path_factory) -> Path:
    """The folder whose ``*.fail`` files kill the worker of the run they name, once."""
    return tmp_path_factory.mktemp("faults")


@pytest.fixture(scope="module")
def ray_instance(faults: Path):
    ray = import_ray()
    from speclang.agents.ray_backend import FAULTS_ENV

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR",
             runtime_env={"env_vars": {FAULTS_ENV: str(faults)}})
    yield ray
    ray.shutdown()


def _train(cfg: Path, out: Path, *extra: str) -> int:
    return main(["train", str(cfg), "--out", str(out), "--no-progress", *extra])


def _episodes(run: Path) -> dict[str, np.ndarray]:
    with np.load(run / "episodes.npz") as data:
        return {k: data[k] for k in data.files}


@pytest.mark.ray
def test_ray_backend_matches_the_local_backend_and_resumes(ray_instance, tmp_path: Path,
                                                            capsys) -> None:
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(TINY)
    local, distributed = tmp_path / "local", tmp_path / "ray"
    assert _train(cfg, local) == 0
    assert _train(cfg, distributed, "--backend", "ray") == 0
    assert (distributed / "results.json").read_text() == (local / "results.json").read_text()
    a, b = _episodes(local), _episodes(distributed)
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].dtype == b[key].dtype and np.array_equal(a[key], b[key]), key
    finals = [json.loads(line) for line in (distributed / "metrics.jsonl").read_text().split("\n")
              if line]
    assert len(finals) == 10 and all(r["kind"] == "final" for r in finals)
    # TensorBoard: one directory per (method, seed)
    assert sorted(p.relative_to(distributed / "tb").as_posix()
                  for p in (distributed / "tb").glob("*/seed*")) == sorted(
        f"{m}/seed{s}" for m in ("prog", "zero", "shield", "fear", "none") for s in (0, 1))
    capsys.readouterr()

    # A driver killed after 7 of 10 runs: results.json never written, 3 run files missing,
    # a cut line at the end of metrics.jsonl. --resume redoes those 3 only.
    expected = (local / "results.json").read_text()
    (distributed / "results.json").unlink()
    (distributed / "episodes.npz").unlink()
    runs = sorted((distributed / "runs").iterdir())
    kept = {p.name: p.stat().st_mtime_ns for p in runs[3:]}
    for p in runs[:3]:
        p.unlink()
    with open(distributed / "metrics.jsonl", "a") as fh:
        fh.write('{"kind": "fin')
    assert _train(cfg, distributed, "--backend", "ray", "--resume") == 0
    assert "3 of 10 runs on Ray" in capsys.readouterr().err
    assert (distributed / "results.json").read_text() == expected
    assert {p.name: p.stat().st_mtime_ns for p in sorted((distributed / "runs").iterdir())
            if p.name in kept} == kept  # finished runs untouched
    lines = (distributed / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 10 and all(json.loads(line)["kind"] == "final" for line in lines)
    # a damaged run file is redone, not trusted
    (distributed / "results.json").unlink()
    (distributed / "runs" / runs[5].name).write_bytes(b"PK\x03\x04 cut")
    assert _train(cfg, distributed, "--backend", "ray", "--resume") == 0
    assert "1 of 10 runs on Ray" in capsys.readouterr().err
    assert (distributed / "results.json").read_text() == expected
    # several runs per task: the same numbers (3 tasks of 4, 4, 2 runs)
    grouped = tmp_path / "grouped"
    assert _train(cfg, grouped, "--backend", "ray", "--runs-per-task", "4") == 0
    assert (grouped / "results.json").read_text() == expected
    assert all(np.array_equal(a[k], _episodes(grouped)[k]) for k in a)
    # a finished run is kept as it is
    assert _train(cfg, distributed, "--backend", "ray", "--resume") == 0
    # the two backends do not resume each other's directories
    assert _train(cfg, local, "--backend", "ray", "--resume") == 0  # finished: nothing to do
    (local / "results.json").unlink()
    assert _train(cfg, local, "--backend", "ray", "--resume") == 1
    assert "started with the local backend" in capsys.readouterr().err
    (distributed / "results.json").unlink()
    assert _train(cfg, distributed, "--resume") == 1
    assert "started with --backend ray" in capsys.readouterr().err


@pytest.mark.ray
def test_a_task_whose_worker_dies_is_retried_and_gives_the_same_results(
        ray_instance, faults: Path, tmp_path: Path, capsys) -> None:
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(TINY)
    local = tmp_path / "local"
    assert _train(cfg, local) == 0
    expected = (local / "results.json").read_text()
    # the workers of runs (method 1, seed 0) and (method 3, seed 1) die once each
    for name in ("m001-s0000", "m003-s0001"):
        (faults / f"{name}.fail").touch()
    retried = tmp_path / "retried"
    assert _train(cfg, retried, "--backend", "ray", "--retries", "1") == 0
    assert sorted(faults.iterdir()) == []  # both faults fired
    assert (retried / "results.json").read_text() == expected
    assert all(np.array_equal(v, _episodes(retried)[k]) for k, v in _episodes(local).items())
    capsys.readouterr()

    # without retries the driver stops with the run it lost named; the runs that finished
    # are kept and --resume runs only the rest, to the same results
    (faults / "m002-s0001.fail").touch()
    stopped = tmp_path / "stopped"
    assert _train(cfg, stopped, "--backend", "ray", "--retries", "0") == 1
    err = capsys.readouterr().err
    assert "the Ray task of runs shield/seed1 failed after 0 retries" in err, err
    assert "--resume runs the rest" in err and "Traceback" not in err
    assert not (stopped / "results.json").exists()
    kept = len(list((stopped / "runs").iterdir()))
    assert kept < 10  # those that finished before the loss was seen
    assert _train(cfg, stopped, "--backend", "ray", "--resume") == 0
    assert f"{10 - kept} of 10 runs on Ray" in capsys.readouterr().err
    assert (stopped / "results.json").read_text() == expected


@pytest.mark.ray
def test_a_killed_driver_process_resumes_without_redoing_finished_runs(
        ray_instance, tmp_path: Path, capsys) -> None:
    # runs of a fraction of a second each, 2 at a time: the driver is killed (SIGKILL) once
    # the first has been written, with most still to do
    cfg = tmp_path / "slow.toml"
    cfg.write_text(tiny_toml(EVERY_KIND, seeds=2, **{**SMALL, "episodes": 200}))
    out = tmp_path / "killed"
    # the driver joins the test's Ray instance, which outlives it
    address = ray_instance.get_runtime_context().gcs_address
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path])}
    driver = subprocess.Popen(
        [sys.executable, "-m", "speclang", "train", str(cfg), "--out", str(out), "--backend",
         "ray", "--address", address, "--no-progress"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while not list((out / "runs").glob("*.npz")):
        assert driver.poll() is None, driver.stderr.read().decode() if driver.stderr else ""
        assert time.monotonic() < deadline, "no run finished in 300 s"
        time.sleep(0.02)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    assert not (out / "results.json").exists()
    kept = {p.name: p.stat().st_mtime_ns for p in (out / "runs").glob("*.npz")}
    assert 1 <= len(kept) < 10, kept
    assert _train(cfg, out, "--backend", "ray", "--resume") == 0
    assert f"{10 - len(kept)} of 10 runs on Ray" in capsys.readouterr().err
    assert {p.name: p.stat().st_mtime_ns for p in (out / "runs").glob("*.npz")
            if p.name in kept} == kept  # finished runs not redone
    local = tmp_path / "local"
    assert _train(cfg, local) == 0
    assert (out / "results.json").read_text() == (local / "results.json").read_text()


def test_without_ray_the_backend_names_the_extra(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ModuleNotFoundError
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(TINY)
    assert _train(cfg, tmp_path / "out", "--backend", "ray") == 2
    err = capsys.readouterr().err
    assert "speclang train needs the [ray] extra (ray is not installed)" in err
    assert "pip install 'speclang[ray]'" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()  # refused before any work


@pytest.mark.parametrize("args, message", [
    (["--address", "auto"], "--address and --workers need --backend ray"),
    (["--workers", "2"], "--address and --workers need --backend ray"),
    (["--backend", "ray", "--workers", "0"], "--workers must be >= 1"),
    (["--backend", "ray", "--retries", "-1"], "--retries must be >= 0"),
    (["--backend", "ray", "--runs-per-task", "0"], "--runs-per-task >= 1"),
])
def test_ray_options_are_checked(tmp_path: Path, capsys, args: list[str], message: str,
                                 monkeypatch) -> None:
    import importlib.util
    import types

    if importlib.util.find_spec("ray") is None:  # the checks come before Ray is used
        monkeypatch.setitem(sys.modules, "ray", types.ModuleType("ray"))
        monkeypatch.setattr(sys.modules["ray"], "__spec__",
                            importlib.util.spec_from_loader("ray", loader=None))
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(TINY)
    assert _train(cfg, tmp_path / "out", *args) == 2
    assert message in capsys.readouterr().err
