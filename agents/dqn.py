"""A small DQN (CleanRL-style, single file) on the Minecraft gridworld with safeguards.

It shows that progressive safeguards do not depend on the tabular learner: the network sees
the product state (one-hot cell, task stage and monitor state) and the safeguard ends the
episode with a penalty when the current spec's monitor reaches its violation sink. With
``progressive = true`` the run walks the spec progression in equal shares of the step
budget, keeping the network (its weights are the transferred values).

    speclang train examples/experiments/dqn.toml --out runs/dqn
"""

from __future__ import annotations

import json
import random
import sys
import time
import tomllib
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from speclang.compiler.automaton import Automaton

from .config import SpecConfig
from .envs.layouts import N_ACTIONS, N_STAGES
from .envs.minecraft import MinecraftEnv, minecraft_labeler
from .errors import ConfigError, ExperimentError
from .experiment import TensorBoardRuns


@dataclass
class DQNConfig:
    name: str = "dqn"
    algorithm: str = "dqn"
    seed: int = 0
    layout: str = "L1"
    reward_mode: str = "task"
    max_steps: int = 200
    violation_penalty: float = -1.0
    specs_source: str = "file"
    spec_file: str = "../minecraft.spec"
    progression: str = "minecraft"
    progressive: bool = True
    total_timesteps: int = 60_000
    learning_rate: float = 1e-3
    buffer_size: int = 20_000
    batch_size: int = 64
    gamma: float = 0.9
    learning_starts: int = 1_000
    train_frequency: int = 4
    target_network_frequency: int = 500
    start_e: float = 1.0
    end_e: float = 0.05
    exploration_fraction: float = 0.3
    hidden: int = 128
    eval_episodes: int = 20
    base_dir: str = "."


def load_dqn_config(path: str | Path) -> DQNConfig:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    known = {f.name for f in fields(DQNConfig)} - {"base_dir"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {', '.join(unknown)}")
    cfg = DQNConfig(**data, base_dir=str(path.parent))
    if cfg.total_timesteps < 1 or cfg.batch_size < 1 or cfg.buffer_size < cfg.batch_size:
        raise ConfigError(f"{path}: need total_timesteps >= 1 and buffer_size >= batch_size >= 1")
    return cfg


class QNetwork(nn.Module):
    def __init__(self, n_inputs: int, hidden: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(n_inputs, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, N_ACTIONS),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class ProductState:
    """Tracks the monitor next to the environment and encodes the product state.

    The monitor is the runtime's own (one :class:`~speclang.runtime.progression.ActiveSpec`
    per spec, what :class:`~speclang.runtime.SafeguardWrapper` steps), reading each letter
    from ``info["labels"]`` through the gridworld's labeler, as a user's wrapper would."""

    def __init__(self, env: MinecraftEnv, automata: list[Automaton]) -> None:
        from speclang.runtime.progression import ActiveSpec

        self.env = env
        labeler = minecraft_labeler()
        self.monitors = [
            ActiveSpec(a.name or f"spec{i}", a, labeler, None) for i, a in enumerate(automata)
        ]
        self.n_cells = env.layout.size * env.layout.size
        self.max_states = max(a.n_states for a in automata)
        self.size = self.n_cells + N_STAGES + self.max_states
        self.spec = 0
        self.q = 0

    def encode(self, obs: dict[str, int], q: int) -> np.ndarray:
        x = np.zeros(self.size, dtype=np.float32)
        x[obs["cell"]] = 1.0
        x[self.n_cells + obs["stage"]] = 1.0
        x[self.n_cells + N_STAGES + q] = 1.0
        return x

    def start(self, obs: dict[str, int], info: dict[str, Any]) -> None:
        """Restart the monitor and step it on the start cell's labels (the first letter)."""
        self.q = self.monitors[self.spec].aut.initial
        self.advance(obs, info)

    def advance(self, obs: dict[str, int], info: dict[str, Any]) -> bool:
        """Step the monitor on the new cell's labels; True when it hit the violation sink."""
        m = self.monitors[self.spec]
        self.q = m.step_bits(self.q, m.bits_of(obs, info, self.env))
        return m.violated[self.q]


def _automata(cfg: DQNConfig) -> tuple[list[str], list[Automaton]]:
    from .config import ExperimentConfig
    from .experiment import load_automata

    specs = SpecConfig(source=cfg.specs_source, file=cfg.spec_file, progression=cfg.progression)
    return load_automata(ExperimentConfig(name=cfg.name, specs=specs, base_dir=cfg.base_dir))


def run_dqn(
    cfg: DQNConfig, out: str | Path, *, progress: bool = True, tensorboard: bool = True
) -> dict[str, Any]:
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise ExperimentError(f"{out}: run directory is not empty")
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(asdict(cfg), indent=1, sort_keys=True))
    names, automata = _automata(cfg)
    if not cfg.progressive:
        names, automata = names[-1:], automata[-1:]
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(1)

    env = MinecraftEnv(cfg.layout, reward_mode=cfg.reward_mode, max_steps=cfg.max_steps)
    prod = ProductState(env, automata)
    q_net = QNetwork(prod.size, cfg.hidden)
    target = QNetwork(prod.size, cfg.hidden)
    target.load_state_dict(q_net.state_dict())
    optimizer = torch.optim.Adam(q_net.parameters(), lr=cfg.learning_rate)
    rb_obs = np.zeros((cfg.buffer_size, prod.size), dtype=np.float32)
    rb_next = np.zeros_like(rb_obs)
    rb_act = np.zeros(cfg.buffer_size, dtype=np.int64)
    rb_rew = np.zeros(cfg.buffer_size, dtype=np.float32)
    rb_done = np.zeros(cfg.buffer_size, dtype=np.float32)
    # tb/NAME/seedK, as the tabular runs write, so that DQN configs (and their seeds) overlay
    # each other and the tabular methods in one `tensorboard --logdir`.
    tb = TensorBoardRuns(out / "tb") if tensorboard else None

    def scalars(values: dict[str, float], env_steps: int) -> None:
        if tb is not None:
            tb.scalars(cfg.name, cfg.seed, values, env_steps)
    log = open(out / "metrics.jsonl", "w", encoding="utf-8")  # noqa: SIM115
    share = cfg.total_timesteps // len(automata)
    rng = np.random.default_rng(cfg.seed)

    obs, info = env.reset(seed=cfg.seed)
    prod.start(obs, info)
    x = prod.encode(obs, prod.q)
    ep_ret, ep_len, episodes = 0.0, 0, 0
    violations = [0] * len(automata)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(
            total=cfg.total_timesteps, unit="step", desc=cfg.name, file=sys.stderr, mininterval=1.0
        )
    started = time.perf_counter()
    for step in range(cfg.total_timesteps):
        spec = min(step // share, len(automata) - 1)
        frac = min(1.0, step / max(1, cfg.exploration_fraction * cfg.total_timesteps))
        eps = cfg.start_e + frac * (cfg.end_e - cfg.start_e)
        if rng.random() < eps:
            action = int(rng.integers(N_ACTIONS))
        else:
            with torch.no_grad():
                action = int(q_net(torch.from_numpy(x)).argmax())
        obs, reward, terminated, truncated, info = env.step(action)
        violated = prod.advance(obs, info)
        if violated:
            reward, terminated = cfg.violation_penalty, True
        x_next = prod.encode(obs, prod.q)
        i = step % cfg.buffer_size
        rb_obs[i], rb_next[i], rb_act[i], rb_rew[i], rb_done[i] = (
            x,
            x_next,
            action,
            reward,
            float(terminated),
        )
        x = x_next
        ep_ret += float(reward)
        ep_len += 1
        if terminated or truncated:
            violations[prod.spec] += int(violated)
            rec = {
                "kind": "episode",
                "step": step + 1,
                "episode": episodes,
                "spec": names[prod.spec],
                "return": ep_ret,
                "length": ep_len,
                "violation": bool(violated),
            }
            log.write(json.dumps(rec, sort_keys=True) + "\n")
            scalars(
                {
                    "train/episodic_return": ep_ret,
                    "train/violations": float(sum(violations)),
                    f"spec/{names[prod.spec]}/violations": float(violations[prod.spec]),
                },
                step + 1,
            )
            episodes += 1
            ep_ret, ep_len = 0.0, 0
            prod.spec = spec  # spec switches wait for an episode boundary
            obs, info = env.reset()
            prod.start(obs, info)
            x = prod.encode(obs, prod.q)
        if step >= cfg.learning_starts and step % cfg.train_frequency == 0:
            idx = rng.integers(0, min(step + 1, cfg.buffer_size), size=cfg.batch_size)
            with torch.no_grad():
                nxt = target(torch.from_numpy(rb_next[idx])).max(dim=1).values
                td = torch.from_numpy(rb_rew[idx]) + cfg.gamma * nxt * (
                    1 - torch.from_numpy(rb_done[idx])
                )
            pred = (
                q_net(torch.from_numpy(rb_obs[idx]))
                .gather(1, torch.from_numpy(rb_act[idx])[:, None])
                .squeeze(1)
            )
            loss = nn.functional.mse_loss(pred, td)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if tb is not None and step % 1000 == 0:
                scalars({"train/td_loss": loss.item()}, step + 1)
        if step % cfg.target_network_frequency == 0:
            target.load_state_dict(q_net.state_dict())
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()

    evaluation = _evaluate(q_net, env, prod, cfg)
    results = {
        "name": cfg.name,
        "specs": names,
        "episodes": episodes,
        "steps": cfg.total_timesteps,
        "violations": violations,
        "total_violations": sum(violations),
        "eval": evaluation,
        "seconds": round(time.perf_counter() - started, 1),
    }
    log.write(json.dumps({"kind": "final", **results}, sort_keys=True) + "\n")
    log.close()
    scalars({f"eval/{key}": value for key, value in evaluation.items()}, cfg.total_timesteps)
    if tb is not None:
        tb.close()
    torch.save(q_net.state_dict(), out / "q_network.pt")
    (out / "results.json").write_text(json.dumps(results, indent=1, sort_keys=True))
    return results


def _evaluate(
    q_net: QNetwork, env: MinecraftEnv, prod: ProductState, cfg: DQNConfig
) -> dict[str, float]:
    """Greedy episodes on the final spec; a violation ends the episode and counts."""
    prod.spec = len(prod.monitors) - 1
    wins = fails = 0
    for _ in range(cfg.eval_episodes):
        obs, info = env.reset()
        prod.start(obs, info)
        while True:
            with torch.no_grad():
                action = int(q_net(torch.from_numpy(prod.encode(obs, prod.q))).argmax())
            obs, _, terminated, truncated, info = env.step(action)
            if prod.advance(obs, info):
                fails += 1
                break
            if terminated or truncated:
                wins += int(info["success"] if cfg.reward_mode == "task" else truncated)
                break
    n = max(1, cfg.eval_episodes)
    return {"success_rate": wins / n, "violation_rate": fails / n}
