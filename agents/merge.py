"""Join finished run directories of one experiment that ran different methods.

Every run has its own random streams, derived from (base seed, method name, seed index)
(``speclang.agents.rng``), so a method trained in a directory of its own gives exactly the
numbers it gives inside a batch with the others. A method added to an experiment later can
therefore be trained alone and joined to the rest, instead of training everything again.
The directories must agree on everything but their methods (and name); the joined one holds
``results.json``, ``episodes.npz`` and ``config.json`` as if all methods had run together,
which is what ``speclang report`` reads.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from .config import parse_config
from .errors import ExperimentError
from .experiment import EPISODE_ARRAYS, write_results


def _read(run_dir: Path) -> tuple[dict[str, Any], dict[str, Any], dict[str, np.ndarray]]:
    try:
        config = json.loads((run_dir / "config.json").read_text())
        results = json.loads((run_dir / "results.json").read_text())
        with np.load(run_dir / "episodes.npz") as data:
            curves = {k: data[k] for k in data.files}
    except (OSError, ValueError) as exc:
        raise ExperimentError(f"{run_dir}: not a finished run directory: {exc}") from None
    return config, results, curves


def merge_runs(out: Path, run_dirs: list[Path], name: str) -> dict[str, Any]:
    """Write the joined run directory ``out`` (which must not exist or be empty); returns
    its results dict."""
    if len(run_dirs) < 2:
        raise ExperimentError("merge needs at least two run directories")
    read = [_read(Path(d)) for d in run_dirs]
    first_cfg = read[0][0]
    methods: list[dict[str, Any]] = []
    for d, (cfg, results, _) in zip(run_dirs, read, strict=True):
        rest = {k: v for k, v in cfg.items() if k not in ("methods", "name")}
        want = {k: v for k, v in first_cfg.items() if k not in ("methods", "name")}
        if rest != want:
            diff = sorted(k for k in set(rest) | set(want) if rest.get(k) != want.get(k))
            raise ExperimentError(f"{d}: its configuration differs from {run_dirs[0]} in "
                                  f"{', '.join(diff)}; only the methods may differ")
        if results["methods"] != [m["name"] for m in cfg["methods"]]:
            raise ExperimentError(f"{d}: results.json and config.json list other methods")
        methods.extend(cfg["methods"])
    names = [m["name"] for m in methods]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ExperimentError(f"method(s) {', '.join(dup)} in more than one directory")
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise ExperimentError(f"{out}: not empty")
    out.mkdir(parents=True, exist_ok=True)
    merged_cfg = {**first_cfg, "name": name, "methods": methods}
    # parse_config checks the joined configuration as `speclang train` would have
    data = {k: v for k, v in merged_cfg.items() if k != "base_dir"}
    cfg_obj = parse_config(data, str(out / "config.json"), first_cfg.get("base_dir", "."))
    (out / "config.json").write_text(json.dumps(cfg_obj.to_dict(), sort_keys=True, indent=1))
    finals = [rec for _, results, _ in read for rec in results["runs"]]
    curves = {k: np.concatenate([c[k] for _, _, c in read if k in c])
              for k in EPISODE_ARRAYS if all(k in c for _, _, c in read)}
    batch_steps = max(int(results["batch_steps"]) for _, results, _ in read)
    spec_names = read[0][1]["specs"]
    return write_results(cfg_obj, out, spec_names, finals, batch_steps, curves)
