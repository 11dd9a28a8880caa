"""RANDPOL from pixels in ViZDoom: policy iteration on fixed random features, safeguarded.

The value Q(x, a) is a randomised network: the PPO's convolutional encoder (two conv
layers, 16 8x8/4 and 32 4x4/2, ReLU) and a fully connected layer of ``hidden`` units on the
flattened conv output plus the monitor input, all drawn once with PyTorch's default
initialisation (Kaiming-uniform, ``a = sqrt(5)``, biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)))
under the run's seed and never trained. Only the linear output layer is fitted, on the
features ``[hidden units, monitor input, 1]`` (the monitor input is repeated linearly so the
head can tell monitor states apart however the random layer mixes them). Because the
features are fixed, each transition's features are computed once, when it is taken, and the
replay window stores them instead of frames.

Training is generalised policy iteration, every ``iteration_steps`` environment steps (all
envs together):

1. policy evaluation of pi, the greedy policy of the current Q: ``evaluation_sweeps``
   fitted-Q sweeps over the replay window (the last ``buffer_size`` transitions), each a
   ridge fit per action of the output layer to r + gamma * Q(x', pi(x')) (r alone when the
   episode ended, by termination or the episode timeout);
2. policy improvement: acting epsilon-greedy on the new Q (epsilon from ``start_e`` to
   ``end_e`` over ``exploration_fraction`` of the budget).

Environments, safeguard, progression and metrics are the VizDoom PPO's
(:class:`speclang.agents.vizdoom.ppo.Envs`, :func:`~speclang.agents.vizdoom.ppo.run_metrics`):
``progressive`` walks S0 -> S1 -> S2 in equal shares of the budget keeping the output layer,
``zero_shot`` trains on S2 alone, ``no_safeguard`` on the task reward with the monitor hidden.

    speclang train examples/experiments/vizdoom_randpol.toml --out runs/vizdoom_randpol
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from speclang.stats import mean_ci

from ..errors import ConfigError
from .ppo import Envs, run_metrics, summarise
from .run_config import VizDoomRunConfig, read_flat_config

METHODS = ("progressive", "zero_shot", "no_safeguard")


@dataclass
class RandpolConfig(VizDoomRunConfig):
    """RANDPOL's keys after the shared ones (:class:`.run_config.VizDoomRunConfig`, the
    PPO's environment, safeguard and monitor input), and the defaults it changes."""

    name: str = "vizdoom_randpol"
    algorithm: str = "vizdoom_randpol"
    methods: list[str] = field(default_factory=lambda: ["progressive", "zero_shot"])
    seeds: int = 3
    downscale: int = 4
    total_timesteps: int = 8192
    # The randomised network and its fits.
    hidden: int = 256
    ridge: float = 1.0  # lambda of every output-layer fit
    iteration_steps: int = 1024  # environment steps (all envs) between policy iterations
    evaluation_sweeps: int = 10  # fitted-Q sweeps per policy evaluation
    buffer_size: int = 8192  # the replay window, in transitions
    start_e: float = 1.0
    end_e: float = 0.05
    exploration_fraction: float = 0.5

    def validate(self) -> None:
        self.validate_run(METHODS)
        for key in ("hidden", "iteration_steps", "evaluation_sweeps", "buffer_size"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{key} must be >= 1, got {getattr(self, key)}")
        if self.total_timesteps < self.iteration_steps:
            raise ConfigError("total_timesteps must cover at least one policy iteration")
        if self.ridge <= 0.0:
            raise ConfigError(f"ridge must be > 0 (it keeps every fit well-posed), "
                              f"got {self.ridge}")
        if not 0.0 <= self.gamma < 1.0:
            raise ConfigError(f"gamma must be in [0, 1), got {self.gamma}")
        for key in ("start_e", "end_e", "exploration_fraction", "safe_rate"):
            if not 0.0 <= getattr(self, key) <= 1.0:
                raise ConfigError(f"{key} must be in [0, 1], got {getattr(self, key)}")


def load_randpol_config(path: str | Path) -> RandpolConfig:
    raw = read_flat_config(path, RandpolConfig)
    if raw.get("algorithm", "vizdoom_randpol") != "vizdoom_randpol":
        raise ConfigError(f"{path}: algorithm {raw['algorithm']!r} is not VizDoom RANDPOL's")
    cfg = RandpolConfig(**raw, base_dir=str(Path(path).resolve().parent))
    try:
        cfg.validate()
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return cfg


# --- the randomised network -----------------------------------------------------------------


class RandomFeatures(nn.Module):
    """The fixed random layers: the PPO's CNN and one hidden layer, never trained."""

    def __init__(self, frames: int, height: int, width: int, n_monitor: int,
                 hidden: int) -> None:
        super().__init__()
        self.cnn = nn.Sequential(
            nn.Conv2d(frames, 16, 8, stride=4),
            nn.ReLU(),
            nn.Conv2d(16, 32, 4, stride=2),
            nn.ReLU(),
            nn.Flatten(),
        )
        with torch.no_grad():
            n_flat = self.cnn(torch.zeros(1, frames, height, width)).shape[1]
        self.fc = nn.Sequential(nn.Linear(n_flat + n_monitor, hidden), nn.ReLU())
        self.requires_grad_(False)
        self.n_features = hidden + n_monitor + 1

    def forward(self, frames: torch.Tensor, monitor: torch.Tensor) -> torch.Tensor:
        """[n, hidden + n_monitor + 1]: the hidden units, the monitor input and a 1."""
        x = self.cnn(frames.float() / 255.0)
        h = self.fc(torch.cat([x, monitor], dim=1))
        return torch.cat([h, monitor, torch.ones(len(h), 1)], dim=1)

    def n_fixed(self) -> int:
        return sum(p.numel() for p in self.parameters())


def policy_iteration(out: np.ndarray, phi: np.ndarray, act: np.ndarray, rew: np.ndarray,
                     phi_next: np.ndarray, done: np.ndarray, cfg: RandpolConfig) -> float:
    """One evaluation of the greedy policy of ``out`` (updated in place, [features,
    actions]) on the window; returns the last sweep's Bellman residual (RMS)."""
    phi64, next64 = phi.astype(np.float64), phi_next.astype(np.float64)
    pi_next = np.argmax(next64 @ out, axis=1)  # the policy evaluated: fixed for the sweeps
    rows = [np.flatnonzero(act == a) for a in range(out.shape[1])]
    # The rows stay fixed while a policy is evaluated: each action's regularised solve
    # operator is formed once and a sweep is matrix products.
    solve: list[np.ndarray | None] = []
    for r in rows:
        if len(r) == 0:
            solve.append(None)
            continue
        p = phi64[r]
        gram = p.T @ p + cfg.ridge * np.eye(p.shape[1])
        solve.append(np.linalg.solve(gram, p.T))
    nonterm = cfg.gamma * (1.0 - done.astype(np.float64))
    residual = 0.0
    for _ in range(cfg.evaluation_sweeps):
        q_next = (next64 @ out)[np.arange(len(pi_next)), pi_next]
        target = rew + nonterm * q_next
        for a, (r, s) in enumerate(zip(rows, solve, strict=True)):
            if s is not None:
                out[:, a] = s @ target[r]
        q = (phi64 @ out)[np.arange(len(act)), act]
        residual = float(np.sqrt(np.mean((q - target) ** 2)))
    return residual


# --- training -------------------------------------------------------------------------------


def train_run(cfg: RandpolConfig, method: str, seed: int, out: Path | None,
              log: Any = None) -> dict[str, Any]:
    """One (method, seed) run; returns its metrics (and saves its network under ``out``)."""
    rng_seed = cfg.seed * 1000 + seed
    torch.manual_seed(rng_seed)
    rng = np.random.default_rng(rng_seed)
    envs = Envs(cfg, method, rng_seed)
    n_actions = int(envs.envs[0].action_space.n)
    k, h, w = envs.envs[0].env.observation_space.shape
    net = RandomFeatures(k, h, w, envs.n_monitor, cfg.hidden)
    head = np.zeros((net.n_features, n_actions))
    N = cfg.num_envs
    n_buf = min(cfg.buffer_size, cfg.total_timesteps)
    b_phi = np.zeros((n_buf, net.n_features), dtype=np.float32)
    b_next = np.zeros_like(b_phi)
    b_act = np.zeros(n_buf, dtype=np.int64)
    b_rew = np.zeros(n_buf)
    b_done = np.zeros(n_buf, dtype=bool)
    stages = envs.spec_names if method == "progressive" else [envs.final]
    show_monitor = method != "no_safeguard"
    tables = {name: torch.as_tensor(t) for name, t in envs.monitor_tables.items()}

    def features(frames: np.ndarray, q: np.ndarray) -> np.ndarray:
        if show_monitor:
            mon = tables[envs.envs[0].spec_name][torch.as_tensor(q)]
        else:
            mon = torch.zeros((len(q), envs.n_monitor))
        with torch.no_grad():
            return net(torch.as_tensor(frames), mon).numpy()

    envs.set_spec(stages[0])
    frames_np, q_np = envs.reset()
    phi = features(frames_np, q_np)
    started = time.time()
    steps = written = 0
    next_fit = cfg.iteration_steps
    residuals: list[float] = []
    explore_steps = max(1.0, cfg.exploration_fraction * cfg.total_timesteps)
    while steps < cfg.total_timesteps:
        stage = stages[min(steps * len(stages) // cfg.total_timesteps, len(stages) - 1)]
        if stage != envs.envs[0].spec_name:
            # As the PPO: the episodes end at the switch, so it is exact at this step.
            envs.set_spec(stage)
            frames_np, q_np = envs.reset()
            phi = features(frames_np, q_np)
        eps = cfg.start_e + (cfg.end_e - cfg.start_e) * min(1.0, steps / explore_steps)
        greedy = np.argmax(phi.astype(np.float64) @ head, axis=1)
        explore = rng.random(N) < eps
        actions = np.where(explore, rng.integers(0, n_actions, N), greedy)
        frames_np, q_np, r, d, _ = envs.step(actions)
        phi_next = features(frames_np, q_np)
        for i in range(N):
            j = written % n_buf
            b_phi[j], b_next[j], b_act[j], b_rew[j], b_done[j] = (
                phi[i], phi_next[i], actions[i], r[i], d[i])
            written += 1
        phi = phi_next
        steps += N
        if steps >= next_fit:
            next_fit += cfg.iteration_steps
            filled = min(written, n_buf)
            residuals.append(policy_iteration(head, b_phi[:filled], b_act[:filled],
                                              b_rew[:filled], b_next[:filled],
                                              b_done[:filled], cfg))
            if log is not None:
                recent = envs.log[-20:]
                mean_ret = float(np.mean([e[1] for e in recent])) if recent else float("nan")
                log(f"randpol {method} seed {seed} spec {stage} steps {steps} episodes "
                    f"{len(envs.log)} return(last 20) {mean_ret:.0f} epsilon {eps:.2f} "
                    f"residual {residuals[-1]:.3f} {steps / (time.time() - started):.0f} steps/s")
    envs.close()
    metrics = run_metrics(cfg, envs.spec_names, envs.log, method, seed)
    metrics["steps"] = steps
    metrics["seconds"] = time.time() - started
    metrics["params_trained"] = int(head.size)
    metrics["params_fixed"] = net.n_fixed()
    metrics["bellman_residuals"] = residuals
    if out is not None:
        torch.save(
            {
                "features": net.state_dict(),
                "head": torch.as_tensor(head),
                "shape": [k, h, w, envs.n_monitor, n_actions, cfg.hidden],
                "method": method,
                "seed": seed,
                "rng_seed": rng_seed,
                "specs": envs.spec_names,
            },
            out / f"{method}_seed{seed}.pt",
        )
    return metrics


def run(cfg: RandpolConfig, out: Path, *, progress: bool = True) -> list[dict[str, Any]]:
    """Every method and seed in turn (seed-major); ``results.json`` after each run and
    ``summary.md`` (the PPO's table plus wall time and parameters) under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(cfg.torch_threads)
    (out / "config.json").write_text(json.dumps(asdict(cfg), indent=2))

    def log(msg: str) -> None:
        if progress:
            print(msg, file=sys.stderr, flush=True)

    results = []
    for seed in range(cfg.seeds):
        for method in cfg.methods:
            results.append(train_run(cfg, method, seed, out, log))
            (out / "results.json").write_text(
                json.dumps({"config": asdict(cfg), "device": "cpu", "runs": results}))
    (out / "summary.md").write_text(summarise(results) + "\n" + cost_table(results))
    return results


def cost_table(results: list[dict[str, Any]]) -> str:
    """Wall time and parameters per method, mean ± 95% CI over seeds."""
    cols = ("seconds", "params_trained", "params_fixed", "steps")
    lines = ["| method | seeds | " + " | ".join(cols) + " |", "|---|---|" + "---|" * len(cols)]
    for m in dict.fromkeys(r["method"] for r in results):
        rs = [r for r in results if r["method"] == m]
        cells = []
        for c in cols:
            mu, ci = mean_ci([r[c] for r in rs])
            cells.append(f"{mu:.1f} ± {ci:.1f}")
        lines.append(f"| {m} | {len(rs)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
