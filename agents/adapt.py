"""Held-out adaptation (``speclang adapt``): a trained experiment's agents meet a new spec.

Every (method, seed) agent of a ``speclang train`` run directory is rebuilt from its
checkpoint and given a spec it has never seen. Each method keeps the transfer rule it was
trained with (``transfer``, ``combine``, ``transfer_from`` of its config): a progressive
method seeds the new spec's table from its trained tables exactly as it would at a switch of
its own progression (by automaton-state correspondence, or by state index for ``paper``), a
method without transfer starts from zero. A zero-shot learner on the new spec ("zero-shot")
is the control, with the same episode budget. A learned safety critic is carried by the
method's own ``critic_transfer`` rule, as at a switch of its progression.

The adaptation batch has a base seed of its own, derived from the training seed, so its
randomness is not a replay of the first training episodes; inside it every run still has its
own streams from (base seed, method, seed index), and all methods at one seed index see the
same environment randomness, so they are compared pairwise.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from speclang.compiler.automaton import Automaton

from .config import ConfigError, ExperimentConfig, MethodConfig, parse_config
from .errors import ExperimentError
from .experiment import (
    CHECKPOINT,
    RUNS,
    episodes_to_safe,
    load_automata,
    load_checkpoint,
    load_spec_module,
)
from .monitors import correspondence, unknown_props
from .rng import derived_seed
from .tabular import RunSpec, TabularBatch
from .transfer import transfer_values

CONTROL = "zero-shot"
ADAPT_STREAM = 1  # derived_seed tag of the adaptation batch (0 is reserved for training)


def load_run_config(run_dir: Path) -> ExperimentConfig:
    """The tabular experiment configuration a run directory was trained with."""
    path = run_dir / "config.json"
    if not run_dir.is_dir():
        raise ExperimentError(f"{run_dir}: no such run directory")
    if not path.exists():
        raise ExperimentError(f"{run_dir}: not a `speclang train` run directory (no config.json)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        raise ExperimentError(f"{path}: unreadable (the run directory is damaged)") from None
    if not isinstance(data, dict):
        raise ExperimentError(f"{path}: not an experiment configuration")
    base_dir = data.pop("base_dir", ".")
    try:
        return parse_config(data, str(path), str(base_dir))
    except ConfigError as exc:
        raise ExperimentError(
            f"{exc} (speclang adapt takes runs of the tabular gridworld experiment)") from None


def load_new_spec(spec_file: Path, name: str) -> Automaton:
    """Compile spec ``name`` of ``spec_file`` for the gridworld, or a located error."""
    from speclang import compiler
    from speclang.compiler.budget import CompileError

    module = load_spec_module(spec_file)
    if name not in module.specs:
        known = ", ".join(module.specs) or "none"
        raise ExperimentError(f"{spec_file}: no spec named {name!r} (specs: {known})")
    span = module.specs[name].span
    try:
        aut = compiler.compile_spec(module, name)
    except CompileError as exc:
        raise ExperimentError(f"{span}: spec {name!r}: {exc}") from None
    extra = unknown_props(aut)
    if extra:
        raise ExperimentError(
            f"{span}: spec {name!r} uses propositions the gridworld does not label: "
            f"{', '.join(extra)}")
    if aut.violation_sink is None:
        # Without a sink nothing can be violated: every method would score zero.
        raise ExperimentError(f"{span}: spec {name!r} can never be violated (no safety part)")
    return aut


def trained_batch(cfg: ExperimentConfig, run_dir: Path) -> tuple[TabularBatch, list[Automaton]]:
    """The run directory's batch at the end of training. A checkpoint taken before the end
    (run directories written before the final checkpoint existed) is trained on to the end:
    training from a checkpoint is deterministic, so this is the same final state."""
    ckpt = run_dir / CHECKPOINT
    if not ckpt.exists():
        if (run_dir / RUNS).exists():
            raise ExperimentError(f"{run_dir}: a --backend ray run keeps no checkpoint.npz; "
                                  "train it with the local backend to adapt its agents")
        raise ExperimentError(f"{run_dir}: no {CHECKPOINT} (has `speclang train` started?)")
    _, automata = load_automata(cfg)
    batch = TabularBatch(cfg, automata, cfg.seed)
    load_checkpoint(ckpt, batch)
    while not batch.finished:
        batch.train_step()
    return batch, automata


def _first(run_kind: str, m: MethodConfig, K: int) -> int:
    # Only a progressive run trained tables before the final one.
    return K - 1 if run_kind != "progressive" or m.transfer_from == "last" else 0


def _padded(old: np.ndarray, width: int) -> np.ndarray:
    """``old[n, S, Qmax, ...]`` with its state axis widened to ``width`` (zeros)."""
    out = np.zeros((old.shape[0], old.shape[1], max(width, old.shape[2]), *old.shape[3:]),
                   dtype=old.dtype)
    out[:, :, : old.shape[2]] = old
    return out


def _transferred(old: np.ndarray, run_kind: str, m: MethodConfig, automata: list[Automaton],
                 new: Automaton, pairs: list[list[set[int]]],
                 seen: np.ndarray | None = None) -> np.ndarray:
    """The new spec's initial Q-table from one run's trained tables ``old[K, S, Qmax, A]``.

    ``paper_code`` carries its one shared table whole; the product states of the new spec it
    never met (``seen[S, Qmax]`` false) start from the mean over the indices 0 .. K - 1 met
    at the same env state, the new spec being task K of its progression. The authors' code
    does this at a state's first meeting; here it is done when adaptation starts."""
    K = len(automata)
    if m.transfer == "paper_code":
        table = _padded(old[K - 1][None], new.n_states)[0][:, : new.n_states].copy()
        assert seen is not None
        met = _padded(seen[None], new.n_states)[0][:, : new.n_states]
        for s_ in range(table.shape[0]):
            earlier = [j for j in range(min(K, seen.shape[1])) if seen[s_, j]]
            if not earlier:
                continue
            fresh = [q for q in range(new.n_states) if not met[s_, q] and q != new.violation_sink]
            table[s_, fresh] = old[K - 1][s_, earlier].mean(axis=0)
        return table
    first = _first(run_kind, m, K)
    table = transfer_values(m.transfer, m.combine, _padded(old[first:], new.n_states),
                            [*automata[first:], new], pairs[first:])
    return table[:, : new.n_states]


def _carry(trained: TabularBatch, batch: TabularBatch, automata: list[Automaton],
           new: Automaton) -> None:
    """Every trained run's tables into its row of the adaptation batch, by its own rules."""
    from .critic import transfer_critic

    letters = trained.layout.letters()
    pairs = [correspondence(new, a, letters) for a in automata]
    K, n = len(automata), new.n_states
    for r, run in enumerate(trained.runs):
        m = run.method
        pc = int(trained.pc_pos[r])
        seen = trained.st["pc_seen"][pc] if pc >= 0 else None
        batch.st["Q"][r, 0] = _transferred(trained.st["Q"][r], m.kind, m, automata, new, pairs,
                                           seen)
        k, k_new = int(trained.critic_pos[r]), int(batch.critic_pos[r])
        if k < 0 or m.critic_transfer == "none":
            continue
        first = _first(m.kind, m, K)
        auts = [*automata[first:], new]
        C = _padded(trained.st["C"][k, first:], n)
        batch.st["C"][k_new, 0] = transfer_critic(m.critic_transfer, C, auts,
                                                  pairs[first:])[:, :n]
        learned = (_padded(trained.st["C_n"][k, first:], n) > 0).astype(np.float64)
        batch.st["C_n"][k_new, 0] = transfer_critic(
            m.critic_transfer, learned[..., None, :], auts, pairs[first:])[:, :n, 0, :] \
            .astype(np.int64)


def _adapted_name(name: str) -> str:
    return f"{name} (pretrained)" if name == CONTROL else name


def adapt(run_dir: Path, spec_file: Path, spec_name: str, episodes: int | None = None,
          *, progress: bool = False) -> dict[str, Any]:
    """Adapt every trained agent of ``run_dir`` to spec ``spec_name`` and run the control.
    Returns the adapt.json dictionary (see :func:`summary` for its tests)."""
    cfg = load_run_config(run_dir)
    new = load_new_spec(spec_file, spec_name)
    trained, automata = trained_batch(cfg, run_dir)
    if episodes is None:  # the share a fixed schedule gives each spec of the progression
        episodes = max(1, cfg.agent.episodes // len(automata))

    acfg = copy.deepcopy(cfg)
    acfg.agent.episodes = episodes
    acfg.agent.budget, acfg.agent.steps = "episodes", 0  # adaptation: N episodes each
    methods = [replace(m, name=_adapted_name(m.name)) for m in cfg.methods]
    methods.append(MethodConfig(name=CONTROL, kind="zero_shot"))
    acfg.methods = methods
    runs = [RunSpec(m, s) for m in methods for s in range(cfg.seeds)]
    batch = TabularBatch(acfg, [new], derived_seed(cfg.seed, ADAPT_STREAM), runs=runs)

    _carry(trained, batch, automata, new)

    bar = None
    if progress:
        import sys

        from tqdm import tqdm

        bar = tqdm(total=batch.R * batch.E, unit="ep", desc=f"adapt {spec_name}",
                   file=sys.stderr, mininterval=1.0)
    try:
        while not batch.finished:
            done = batch.train_step()
            if bar is not None and done:
                bar.update(done)
    finally:
        if bar is not None:
            bar.close()
    evals = batch.evaluate(cfg.eval.episodes)

    st = batch.st
    per: dict[str, dict[str, list[Any]]] = {}
    for r, run in enumerate(batch.runs):
        viol = st["viol"][r]
        ets = episodes_to_safe(viol, cfg.eval.safe_window, cfg.eval.safe_rate)
        rec = per.setdefault(run.method.name, {k: [] for k in RECORD_KEYS})
        rec["violations"].append(int(viol.sum()))
        rec["success"].append(float(evals["success_rate"][r]))
        rec["train_success"].append(float(st["success"][r].mean()))
        rec["env_steps"].append(int(st["length"][r].sum(dtype=np.int64)))
        rec["episodes_to_safe"].append(ets if ets is not None else episodes)
        rec["violations_to_safe"].append(int(viol[: ets if ets is not None else episodes].sum()))
        rec["reached_safe"].append(ets is not None)
    result: dict[str, Any] = {
        "spec": spec_name,
        "episodes": episodes,
        "spec_file": str(spec_file),
        "run_dir": str(run_dir),
        "layout": cfg.env.layout,
        "seeds": cfg.seeds,
        "trained_on": {"specs": [a.name for a in automata], "episodes": cfg.agent.episodes,
                       "env_steps": _trained_steps(trained)},
        "methods": per,
    }
    result["tests"] = summary(result)
    return result


RECORD_KEYS = ("violations", "success", "train_success", "env_steps", "episodes_to_safe",
               "violations_to_safe", "reached_safe")
# Tested against the control, lower is better for all but success.
TESTED = ("violations", "violations_to_safe", "episodes_to_safe", "success")


def _trained_steps(batch: TabularBatch) -> dict[str, float]:
    """Mean environment steps each trained method took (its prior experience)."""
    steps = batch.st["length"].sum(axis=1, dtype=np.int64)
    out: dict[str, list[int]] = {}
    for r, run in enumerate(batch.runs):
        out.setdefault(run.method.name, []).append(int(steps[r]))
    return {m: float(np.mean(v)) for m, v in out.items()}


def summary(result: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """Paired tests of each method against the control over seeds, Holm over the table."""
    from speclang.stats import holm, paired

    control = result["methods"][CONTROL]
    tests = {
        m: {k: paired(control[k], rec[k]) for k in TESTED}
        for m, rec in result["methods"].items() if m != CONTROL
    }
    adjusted = holm({(m, k): t["wilcoxon_p"] for m, row in tests.items() for k, t in row.items()})
    adjusted_t = holm({(m, k): t["t_p"] for m, row in tests.items() for k, t in row.items()})
    for (m, k), p in adjusted.items():
        tests[m][k]["wilcoxon_p_holm"] = p
        tests[m][k]["t_p_holm"] = adjusted_t[(m, k)]
    return tests


def render_table(result: dict[str, Any]) -> str:
    """The printed tables: per method mean ± 95% CI, then the paired tests."""
    from speclang.stats import mean_ci

    methods = result["methods"]
    head = (f"adapt to `{result['spec']}`: {result['seeds']} seeds, {result['episodes']} "
            f"episodes per run, layout {result['layout']}; mean ± 95% t CI")
    cols = ("violations", "violations_to_safe", "episodes_to_safe", "success", "env_steps")
    names = ("violations", "viol. to 95% safe", "episodes to 95% safe", "greedy success",
             "env steps")
    width = max(len(m) for m in methods) + 2
    lines = [head, "", "method".ljust(width) + "".join(n.rjust(22) for n in names)]
    for m, rec in methods.items():
        cells = [_fmt(*mean_ci(rec[k])) for k in cols]
        reached = sum(rec["reached_safe"])
        lines.append(m.ljust(width) + "".join(c.rjust(22) for c in cells)
                     + f"   reached safe {reached}/{len(rec['reached_safe'])}")
    lines += ["", f"paired against {CONTROL} over seed indices (method minus {CONTROL}): "
              "mean difference [95% CI]; rank-biserial r [95% bootstrap CI]; Hedges' g_z; "
              "Wilcoxon p Holm-adjusted over the table (raw); paired t p Holm-adjusted", ""]
    for m, row in result["tests"].items():
        lines.append(f"{m}:")
        for k in TESTED:
            t = row[k]
            lines.append(
                f"  {k:<20} {t['diff']:+.3g} [{t['diff_ci'][0]:.3g}, {t['diff_ci'][1]:.3g}]"
                f"  r {t['rank_biserial']:+.2f} [{t['rb_ci'][0]:+.2f}, {t['rb_ci'][1]:+.2f}]"
                f"  g {t['hedges_g']:+.2f}  Wilcoxon p {t['wilcoxon_p_holm']:.3g}"
                f" ({t['wilcoxon_p']:.3g})  t p {t['t_p_holm']:.3g}")
    trained = result["trained_on"]
    lines += ["", f"prior experience (training on {' -> '.join(trained['specs'])}, "
              f"{trained['episodes']} episodes): mean environment steps per method: "
              + ", ".join(f"{m} {v:.0f}" for m, v in trained["env_steps"].items())]
    return "\n".join(lines)


def _fmt(mean: float, half: float) -> str:
    if math.isnan(mean):
        return "n/a"
    scale = max(abs(mean), half)
    digits = 0 if scale >= 100 else 2 if scale >= 1 else 3
    return f"{mean:.{digits}f} ± {half:.{digits}f}"


def write_adapt(out: Path, result: dict[str, Any]) -> Path:
    try:
        out.mkdir(parents=True, exist_ok=True)
        path = out / "adapt.json"
        # NaN (a statistic of too few seeds) is not JSON: it is written as null.
        text = json.dumps(_finite(result), indent=1, sort_keys=True, allow_nan=False)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ExperimentError(f"{out}: cannot write adapt.json: {exc.strerror}") from None
    return path


def _finite(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_finite(v) for v in x]
    return x
