"""A small DQN (CleanRL-style, single file) on the Minecraft gridworld with safeguards.

It shows that progressive safeguards do not depend on the tabular learner: the network sees
the product state (one-hot cell, task stage and the monitor state) and the safeguard ends
the episode with a penalty when the current spec's monitor reaches its violation sink. With
``progressive = true`` the run walks the spec progression in equal shares of the step
budget, keeping the networks (their weights are the transferred values).

How the network sees the monitor state (``automaton_input``):

``"index"``
    a one-hot state index (as wide as the largest automaton): the index means nothing from
    one spec to the next, so what was learned about a state of T1 lands on whatever state of
    T2 has the same number.
``"features"``
    the spec-agnostic state features of :mod:`speclang.compiler.state_features` over the
    gridworld's propositions (verdict, acceptance, distance to the sink, and for each
    proposition whether making it true here leads to the sink): a T4 state in which lava
    violates looks like a T1 state in which lava violates, whatever their numbers.

``critic = true`` adds a learned safety critic: a second network (its own trunk, same
input) whose outputs ``C[h](x, a)``, ``h = 1..critic_horizon``, estimate the probability of
reaching the active monitor's violation sink within ``h`` steps after action ``a``, when
every later step takes the safest action. It is trained on the replay buffer from the
monitor's verdicts alone, by the finite-horizon TD rule of :mod:`speclang.agents.critic`
(target 1 on entering the sink, 0 after the task is done, else ``min_a' C[h-1](x', a')``
under a target copy), with a binary cross-entropy loss. Its last horizon is the danger
``D(x, a)``: exploratory actions are drawn among those with ``D < critic_threshold`` (all the
safest ones when none is), and with ``critic_greedy = true`` greedy actions too. The
output bias starts at ``logit(critic_init)`` (a small prior danger), so that an untrained
critic blocks nothing. The critic network is kept across spec switches like the Q-network:
with feature inputs, that *is* the transfer of safety from one spec to the next.

A config with ``[[methods]]`` tables is an experiment: every method (its own name,
``progressive``, ``automaton_input``, ``critic``, ``critic_greedy``) runs ``seeds`` times,
each run on its own generators derived from (``seed``, method, seed index) as in
:mod:`speclang.agents.rng` (environment streams from (``seed``, seed index) only: common
random numbers), and the run directory gets the ``results.json`` and ``episodes.npz`` that
``speclang report`` reads, rewritten after every completed seed (a stopped experiment
leaves its completed seeds ready to report). ``workers > 1`` runs them in that many
processes (same numbers, no TensorBoard logs). Without methods the config is one run,
seeded by ``seed``.

    speclang train examples/experiments/dqn.toml --out runs/dqn
    speclang train examples/experiments/dqn_methods.toml --out runs/dqn_methods
    speclang report runs/dqn_methods
"""

from __future__ import annotations

import json
import random
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from speclang.compiler.automaton import Automaton

from .config import _build, _check_choice
from .critic_net import critic_td_loss, danger, danger_layer
from .envs.layouts import N_ACTIONS, N_STAGES, PROPS
from .envs.minecraft import MinecraftEnv, minecraft_labeler
from .errors import ConfigError, ExperimentError
from .experiment import TensorBoardRuns
from .rng import AGENT_TRAIN, ENV_EVAL, ENV_TRAIN, run_generator
from .step_runs import (
    StepRunConfig,
    check_env_keys,
    load_progression,
    read_toml,
    run_record,
    split_methods,
    write_results,
)

AUTOMATON_INPUTS = ("index", "features")


@dataclass
class DQNMethod:
    """One method of an experiment: the settings that differ between methods."""

    name: str
    progressive: bool = True
    automaton_input: str = "index"
    critic: bool = False
    critic_greedy: bool = False


@dataclass
class DQNConfig(StepRunConfig):
    name: str = "dqn"
    algorithm: str = "dqn"
    seeds: int = 1  # runs per method (experiments only)
    workers: int = 1  # processes running an experiment's runs (> 1: no TensorBoard logs)
    progressive: bool = True
    automaton_input: str = "index"
    total_timesteps: int = 60_000
    learning_rate: float = 1e-3
    batch_size: int = 64
    learning_starts: int = 1_000
    train_frequency: int = 4
    target_network_frequency: int = 500
    hidden: int = 128
    critic: bool = False
    critic_greedy: bool = False
    critic_horizon: int = 5
    critic_threshold: float = 0.1
    critic_learning_rate: float = 1e-3
    critic_init: float = 0.01
    methods: list[DQNMethod] = field(default_factory=list)


def load_dqn_config(path: str | Path) -> DQNConfig:
    return parse_dqn_config(read_toml(path), str(path), str(Path(path).parent))


def parse_dqn_config(data: dict[str, Any], where: str = "<config>",
                     base_dir: str = ".") -> DQNConfig:
    data, methods = split_methods(data, DQNMethod, where, required=False)
    cfg: DQNConfig = _build(DQNConfig, {**data, "methods": methods}, where)
    cfg.base_dir = base_dir
    _validate(cfg, where)
    return cfg


def _validate(cfg: DQNConfig, where: str) -> None:
    if cfg.algorithm != "dqn":
        raise ConfigError(f"{where}: algorithm {cfg.algorithm!r} is not DQN's")
    check_env_keys(cfg, where)
    _check_choice(cfg.automaton_input, AUTOMATON_INPUTS, f"{where}: automaton_input")
    for m in cfg.methods:
        _check_choice(m.automaton_input, AUTOMATON_INPUTS,
                      f"{where}: automaton_input (method {m.name!r})")
    if cfg.total_timesteps < 1 or cfg.batch_size < 1 or cfg.buffer_size < cfg.batch_size:
        raise ConfigError(f"{where}: need total_timesteps >= 1 and buffer_size >= batch_size >= 1")
    for key in ("seeds", "workers", "critic_horizon", "eval_episodes", "safe_window"):
        if getattr(cfg, key) < 1:
            raise ConfigError(f"{where}: {key} must be >= 1, got {getattr(cfg, key)}")
    if not 0.0 < cfg.critic_threshold <= 1.0:
        raise ConfigError(f"{where}: critic_threshold must be in (0, 1], "
                          f"got {cfg.critic_threshold}")
    if not 0.0 < cfg.critic_init < 1.0:
        raise ConfigError(f"{where}: critic_init must be in (0, 1), got {cfg.critic_init}")


def _mlp(n_inputs: int, hidden: int, n_outputs: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(n_inputs, hidden),
        nn.ReLU(),
        nn.Linear(hidden, hidden),
        nn.ReLU(),
        nn.Linear(hidden, n_outputs),
    )


class QNetwork(nn.Module):
    def __init__(self, n_inputs: int, hidden: int) -> None:
        super().__init__()
        self.net = _mlp(n_inputs, hidden, N_ACTIONS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class SafetyCritic(nn.Module):
    """Logits ``[batch, horizon, actions]`` of reaching the sink within ``h + 1`` steps
    (:mod:`speclang.agents.critic_net`), on an MLP trunk."""

    def __init__(self, n_inputs: int, hidden: int, horizon: int, init: float) -> None:
        super().__init__()
        self.horizon = horizon
        # _mlp's layers in _mlp's order (the same initialisation draws as a Q-network's)
        self.net = nn.Sequential(
            nn.Linear(n_inputs, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            danger_layer(hidden, horizon, N_ACTIONS, init),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).view(-1, self.horizon, N_ACTIONS)

    def danger(self, x: torch.Tensor) -> torch.Tensor:
        """``D(x, a)``: the probability at the longest horizon, ``[batch, actions]``."""
        return danger(self(x))


def critic_loss(critic: SafetyCritic, target: SafetyCritic, x: torch.Tensor,
                actions: torch.Tensor, x_next: torch.Tensor, entered_sink: torch.Tensor,
                ended: torch.Tensor) -> torch.Tensor:
    """The TD loss of :func:`speclang.agents.critic_net.critic_td_loss` on one batch."""
    with torch.no_grad():
        next_logits = target(x_next)
    return critic_td_loss(critic(x), actions, next_logits, entered_sink, ended)


class NumpyMLP:
    """The forward pass of a ReLU MLP (:func:`_mlp`) on one input, through numpy views of
    its parameters; with ``horizon`` the output is a critic's danger ``D(x, a)``."""

    def __init__(self, net: nn.Sequential, horizon: int | None = None) -> None:
        self.layers = [(m.weight.detach().numpy(), m.bias.detach().numpy())
                       for m in net if isinstance(m, nn.Linear)]
        self.horizon = horizon

    def __call__(self, x: np.ndarray) -> np.ndarray:
        h = x
        for k, (w, b) in enumerate(self.layers):
            h = w @ h + b
            if k < len(self.layers) - 1:
                h = np.maximum(h, 0.0)
        if self.horizon is None:
            return h
        return 1.0 / (1.0 + np.exp(-h.reshape(self.horizon, N_ACTIONS)[-1]))


def select_action(rng: np.random.Generator, eps: float, x: np.ndarray,
                  q: Callable[[np.ndarray], np.ndarray],
                  danger: Callable[[np.ndarray], np.ndarray] | None, threshold: float,
                  shield_greedy: bool) -> tuple[int, bool]:
    """An epsilon-greedy action in input ``x``, shielded by the critic's ``danger(x)`` (None:
    no critic). Exploratory actions are drawn among the allowed ones (``danger < threshold``,
    or the safest when none is); greedy ones too when ``shield_greedy``. ``q`` and ``danger``
    are called only when the choice needs them. Returns the action and whether the shield
    ruled out some action at this step."""
    from .critic import allowed_actions

    if rng.random() < eps:
        if danger is None:
            return int(rng.integers(N_ACTIONS)), False
        allowed = allowed_actions(danger(x)[None, :], threshold)[0]
        choices = np.flatnonzero(allowed)
        return int(choices[rng.integers(len(choices))]), not bool(allowed.all())
    if danger is not None and shield_greedy:
        allowed = allowed_actions(danger(x)[None, :], threshold)[0]
        return int(np.where(allowed, q(x), -np.inf).argmax()), not bool(allowed.all())
    return int(q(x).argmax()), False


class ProductState:
    """Tracks the monitors next to the environment and encodes the product state.

    The monitors are the runtime's own (one :class:`~speclang.runtime.progression.ActiveSpec`
    per spec, what :class:`~speclang.runtime.SafeguardWrapper` steps), reading each letter
    from ``info["labels"]`` through the gridworld's labeler, as a user's wrapper would: the
    active spec's (the safeguard) and the final spec's (the safety measure)."""

    def __init__(self, env: MinecraftEnv, automata: list[Automaton],
                 automaton_input: str = "index") -> None:
        from speclang.compiler.state_features import state_features
        from speclang.runtime.progression import ActiveSpec

        self.env = env
        labeler = minecraft_labeler()
        self.monitors = [
            ActiveSpec(a.name or f"spec{i}", a, labeler, None) for i, a in enumerate(automata)
        ]
        self.n_cells = env.layout.size * env.layout.size
        self.max_states = max(a.n_states for a in automata)
        if automaton_input == "features":
            self.tables: list[np.ndarray] | None = [
                state_features(a, PROPS).table for a in automata]
            width = self.tables[0].shape[1]
        else:
            self.tables = None
            width = self.max_states
        self.size = self.n_cells + N_STAGES + width
        self.spec = 0
        self.q = self.q_final = 0
        self.final_violated = False

    def encode(self, obs: dict[str, int], q: int) -> np.ndarray:
        x = np.zeros(self.size, dtype=np.float32)
        x[obs["cell"]] = 1.0
        x[self.n_cells + obs["stage"]] = 1.0
        if self.tables is None:
            x[self.n_cells + N_STAGES + q] = 1.0
        else:
            x[self.n_cells + N_STAGES:] = self.tables[self.spec][q]
        return x

    def start(self, obs: dict[str, int], info: dict[str, Any]) -> None:
        """Restart the monitors and step them on the start cell's labels (the first letter)."""
        self.q = self.monitors[self.spec].aut.initial
        self.q_final = self.monitors[-1].aut.initial
        self.final_violated = False
        self.advance(obs, info)

    def advance(self, obs: dict[str, int], info: dict[str, Any]) -> bool:
        """Step the monitors on the new cell's labels; True when the active one hit its sink."""
        m, f = self.monitors[self.spec], self.monitors[-1]
        self.q = m.step_bits(self.q, m.bits_of(obs, info, self.env))
        self.q_final = f.step_bits(self.q_final, f.bits_of(obs, info, self.env))
        self.final_violated |= f.violated[self.q_final]
        return m.violated[self.q]


@dataclass
class Seeds:
    """Where one run's randomness comes from."""

    agent: np.random.Generator  # exploration and minibatches
    torch: int  # network initialisation
    env: int  # the training environment's first reset
    eval_env: int | None  # the evaluation environment's (None: go on with the training env)


@dataclass
class Trained:
    record: dict[str, Any]
    curves: dict[str, np.ndarray]
    q_net: QNetwork
    critic: SafetyCritic | None


def _tensor(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(a)


def train(cfg: DQNConfig, method: DQNMethod, names: list[str], automata: list[Automaton],
          seeds: Seeds, *, seed_index: int = 0, log: Any = None, tb: TensorBoardRuns | None = None,
          progress: bool = False) -> Trained:
    """Train and evaluate one (method, seed) run; every random draw comes from ``seeds``."""
    specs = list(range(len(automata))) if method.progressive else [len(automata) - 1]
    random.seed(seeds.torch)
    torch.manual_seed(seeds.torch)
    torch.set_num_threads(1)
    rng = seeds.agent

    env = MinecraftEnv(cfg.layout, reward_mode=cfg.reward_mode, max_steps=cfg.max_steps)
    prod = ProductState(env, automata, method.automaton_input)
    q_net = QNetwork(prod.size, cfg.hidden)
    target = QNetwork(prod.size, cfg.hidden)
    target.load_state_dict(q_net.state_dict())
    optimizer = torch.optim.Adam(q_net.parameters(), lr=cfg.learning_rate)
    critic = critic_target = critic_opt = None
    if method.critic:
        critic = SafetyCritic(prod.size, cfg.hidden, cfg.critic_horizon, cfg.critic_init)
        critic_target = SafetyCritic(prod.size, cfg.hidden, cfg.critic_horizon, cfg.critic_init)
        critic_target.load_state_dict(critic.state_dict())
        critic_opt = torch.optim.Adam(critic.parameters(), lr=cfg.critic_learning_rate)
    # Acting reads the networks through numpy views of their parameters: the optimiser
    # updates them in place, so the views stay current, and a step costs a few small
    # matrix products instead of torch's per-call overhead.
    act_q = NumpyMLP(q_net.net)
    act_c = None if critic is None else NumpyMLP(critic.net, critic.horizon)
    n = cfg.buffer_size
    rb_obs = np.zeros((n, prod.size), dtype=np.float32)
    rb_next = np.zeros_like(rb_obs)
    rb_act = np.zeros(n, dtype=np.int64)
    rb_rew = np.zeros(n, dtype=np.float32)
    rb_done = np.zeros(n, dtype=np.float32)
    rb_sink = np.zeros(n, dtype=np.float32)

    def scalars(values: dict[str, float], env_steps: int) -> None:
        if tb is not None:
            tb.scalars(method.name, seed_index, values, env_steps)

    share = cfg.total_timesteps // len(specs)
    prod.spec = specs[0]
    obs, info = env.reset(seed=seeds.env)
    prod.start(obs, info)
    x = prod.encode(obs, prod.q)
    ep_ret, ep_len = 0.0, 0
    violations = [0] * len(automata)
    curves: dict[str, list[Any]] = {k: [] for k in ("ret", "viol", "fviol", "success", "spec",
                                                    "length")}
    visited_final: set[tuple[int, int, int]] = set()
    blocked = 0
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=cfg.total_timesteps, unit="step", desc=f"{cfg.name} {method.name}",
                   file=sys.stderr, mininterval=1.0)
    started = time.perf_counter()
    for step in range(cfg.total_timesteps):
        if prod.spec == len(automata) - 1:
            visited_final.add((obs["cell"], obs["stage"], prod.q))
        frac = min(1.0, step / max(1, cfg.exploration_fraction * cfg.total_timesteps))
        eps = cfg.start_e + frac * (cfg.end_e - cfg.start_e)
        action, shielded = select_action(rng, eps, x, act_q, act_c, cfg.critic_threshold,
                                         method.critic_greedy)
        blocked += int(shielded)
        obs, reward, terminated, truncated, info = env.step(action)
        violated = prod.advance(obs, info)
        if violated:
            reward, terminated = cfg.violation_penalty, True
        x_next = prod.encode(obs, prod.q)
        i = step % n
        rb_obs[i], rb_next[i], rb_act[i], rb_rew[i] = x, x_next, action, reward
        rb_done[i], rb_sink[i] = float(terminated), float(violated)
        x = x_next
        ep_ret += float(reward)
        ep_len += 1
        if terminated or truncated:
            violations[prod.spec] += int(violated)
            success = bool(info["success"]) if cfg.reward_mode == "task" else bool(truncated)
            for key, value in (("ret", ep_ret), ("viol", violated),
                               ("fviol", prod.final_violated),
                               ("success", success and not violated), ("spec", prod.spec),
                               ("length", ep_len)):
                curves[key].append(value)
            if log is not None:
                rec = {"kind": "episode", "method": method.name, "seed": seed_index,
                       "step": step + 1, "episode": len(curves["ret"]) - 1,
                       "spec": names[prod.spec], "return": ep_ret, "length": ep_len,
                       "violation": bool(violated)}
                log.write(json.dumps(rec, sort_keys=True) + "\n")
            scalars({"train/episodic_return": ep_ret,
                     "train/violations": float(sum(violations)),
                     f"spec/{names[prod.spec]}/violations": float(violations[prod.spec])},
                    step + 1)
            ep_ret, ep_len = 0.0, 0
            prod.spec = specs[min(step // share, len(specs) - 1)]  # switches wait for an episode
            obs, info = env.reset()
            prod.start(obs, info)
            x = prod.encode(obs, prod.q)
        if step >= cfg.learning_starts and step % cfg.train_frequency == 0:
            idx = rng.integers(0, min(step + 1, n), size=cfg.batch_size)
            b_obs, b_next, b_act = _tensor(rb_obs[idx]), _tensor(rb_next[idx]), _tensor(rb_act[idx])
            b_done = _tensor(rb_done[idx])
            with torch.no_grad():
                nxt = target(b_next).max(dim=1).values
                td = _tensor(rb_rew[idx]) + cfg.gamma * nxt * (1 - b_done)
            pred = q_net(b_obs).gather(1, b_act[:, None]).squeeze(1)
            loss = nn.functional.mse_loss(pred, td)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if critic is not None and critic_target is not None and critic_opt is not None:
                sink = _tensor(rb_sink[idx])
                c_loss = critic_loss(critic, critic_target, b_obs, b_act, b_next, sink,
                                     b_done * (1 - sink))
                critic_opt.zero_grad()
                c_loss.backward()
                critic_opt.step()
            if tb is not None and step % 1000 == 0:
                scalars({"train/td_loss": loss.item()}, step + 1)
        if step % cfg.target_network_frequency == 0:
            target.load_state_dict(q_net.state_dict())
            if critic is not None and critic_target is not None:
                critic_target.load_state_dict(critic.state_dict())
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()

    if seeds.eval_env is not None:
        env = MinecraftEnv(cfg.layout, reward_mode=cfg.reward_mode, max_steps=cfg.max_steps)
        env.reset(seed=seeds.eval_env)
        prod.env = env
    evaluation = _evaluate(q_net, critic if method.critic_greedy else None, env, prod, cfg)
    arrays = {k: np.array(v) for k, v in curves.items()}
    record = run_record(cfg, names, method.name, seed_index, arrays, evaluation, len(visited_final))
    record["shielded_steps"] = blocked
    record["seconds"] = round(time.perf_counter() - started, 2)
    return Trained(record, arrays, q_net, critic)


def _evaluate(q_net: QNetwork, critic: SafetyCritic | None, env: MinecraftEnv,
              prod: ProductState, cfg: DQNConfig) -> dict[str, float]:
    """Greedy episodes on the final spec (shielded by ``critic`` when given); a violation
    ends the episode and counts. The first episode continues ``env``'s stream."""
    from .critic import allowed_actions

    act_q = NumpyMLP(q_net.net)
    act_c = None if critic is None else NumpyMLP(critic.net, critic.horizon)
    prod.spec = len(prod.monitors) - 1
    wins = fails = 0
    returns = []
    for _ in range(cfg.eval_episodes):
        obs, info = env.reset()
        prod.start(obs, info)
        total = 0.0
        while True:
            x = prod.encode(obs, prod.q)
            q = act_q(x)
            if act_c is not None:
                ok = allowed_actions(act_c(x)[None, :], cfg.critic_threshold)[0]
                q = np.where(ok, q, -np.inf)
            obs, reward, terminated, truncated, info = env.step(int(q.argmax()))
            if prod.advance(obs, info):
                total += cfg.violation_penalty
                fails += 1
                break
            total += float(reward)
            if terminated or truncated:
                wins += int(info["success"] if cfg.reward_mode == "task" else truncated)
                break
        returns.append(total)
    m = max(1, cfg.eval_episodes)
    return {"success_rate": wins / m, "violation_rate": fails / m,
            "return": float(np.mean(returns)) if returns else 0.0}


def single_method(cfg: DQNConfig) -> DQNMethod:
    """The one method of a config without ``[[methods]]``."""
    return DQNMethod(cfg.name, cfg.progressive, cfg.automaton_input, cfg.critic,
                     cfg.critic_greedy)


def _seed_of(gen: np.random.Generator) -> int:
    return int(gen.integers(2**31 - 1))


def experiment_seeds(cfg: DQNConfig, method: DQNMethod, seed_index: int) -> Seeds:
    """The streams of run (``method``, ``seed_index``) of an experiment: derived from the base
    seed, the method and the seed index only, so a run alone is the same run in any batch."""
    agent = run_generator(cfg.seed, AGENT_TRAIN, seed_index, method.name)
    return Seeds(agent=agent, torch=_seed_of(agent),
                 env=_seed_of(run_generator(cfg.seed, ENV_TRAIN, seed_index)),
                 eval_env=_seed_of(run_generator(cfg.seed, ENV_EVAL, seed_index)))


def run_one(cfg: DQNConfig, method: DQNMethod, seed_index: int,
            names_automata: tuple[list[str], list[Automaton]] | None = None) -> Trained:
    """Run (``method``, ``seed_index``) of the experiment ``cfg`` on its own streams."""
    names, automata = names_automata or load_progression(cfg)
    return train(cfg, method, names, automata, experiment_seeds(cfg, method, seed_index),
                 seed_index=seed_index)


def _pool_task(task: tuple[DQNConfig, DQNMethod, int]
               ) -> tuple[dict[str, Any], dict[str, np.ndarray], str]:
    import io

    cfg, method, s = task
    names, automata = load_progression(cfg)
    log = io.StringIO()
    run = train(cfg, method, names, automata, experiment_seeds(cfg, method, s), seed_index=s,
                log=log)
    return run.record, run.curves, log.getvalue()


def run_dqn(
    cfg: DQNConfig, out: str | Path, *, progress: bool = True, tensorboard: bool = True
) -> dict[str, Any]:
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise ExperimentError(f"{out}: run directory is not empty")
    names, automata = load_progression(cfg)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(asdict(cfg), indent=1, sort_keys=True))
    if cfg.methods:
        return _run_experiment(cfg, out, names, automata, progress, tensorboard)
    # tb/NAME/seedK, as the tabular runs write, so that DQN configs (and their seeds) overlay
    # each other and the tabular methods in one `tensorboard --logdir`.
    tb = TensorBoardRuns(out / "tb") if tensorboard else None
    method = single_method(cfg)
    seeds = Seeds(np.random.default_rng(cfg.seed), cfg.seed, cfg.seed, None)
    with open(out / "metrics.jsonl", "w", encoding="utf-8") as log:
        run = train(cfg, method, names, automata, seeds, seed_index=cfg.seed, log=log, tb=tb,
                    progress=progress)
        rec = run.record
        spec_names = names if cfg.progressive else names[-1:]
        results = {
            "name": cfg.name,
            "specs": spec_names,
            "episodes": rec["episodes"],
            "steps": cfg.total_timesteps,
            "violations": [rec[f"violations_{s}"] for s in spec_names],
            "total_violations": rec["violations"],
            "eval": {"success_rate": rec["eval_success_rate"],
                     "violation_rate": rec["eval_violation_rate"]},
            "seconds": rec["seconds"],
        }
        log.write(json.dumps({"kind": "final", **results}, sort_keys=True) + "\n")
    if tb is not None:
        tb.scalars(method.name, cfg.seed, {f"eval/{k}": float(v)
                                           for k, v in results["eval"].items()},
                   cfg.total_timesteps)
        tb.close()
    torch.save(run.q_net.state_dict(), out / "q_network.pt")
    if run.critic is not None:
        torch.save(run.critic.state_dict(), out / "critic.pt")
    (out / "results.json").write_text(json.dumps(results, indent=1, sort_keys=True))
    return results


def _run_experiment(cfg: DQNConfig, out: Path, names: list[str], automata: list[Automaton],
                    progress: bool, tensorboard: bool) -> dict[str, Any]:
    """Every (method, seed) run in turn; writes metrics.jsonl (each run's final record as it
    finishes), tb/METHOD/seedK, results.json and episodes.npz."""
    tb = TensorBoardRuns(out / "tb") if tensorboard and cfg.workers == 1 else None
    started = time.perf_counter()
    # Seed-major order: an experiment stopped early still has every method at its first seeds.
    tasks = [(cfg, m, s) for s in range(cfg.seeds) for m in cfg.methods]
    records, curves = [], []
    with open(out / "metrics.jsonl", "w", encoding="utf-8") as log:

        def finished(record: dict[str, Any], arrays: dict[str, np.ndarray], lines: str) -> None:
            log.write(lines + json.dumps(record, sort_keys=True) + "\n")
            log.flush()
            records.append(record)
            curves.append(arrays)
            if len(records) % len(cfg.methods) == 0:  # every method has one more seed
                write_results(cfg, "dqn", out, names, records, curves)
            print(f"{cfg.name}: {record['method']} seed {record['seed']}: "
                  f"{record['final_spec_violations']} final-spec violations, "
                  f"greedy success {record['eval_success_rate']:.2f} "
                  f"({record['seconds']:.0f} s)", file=sys.stderr, flush=True)

        if cfg.workers == 1:
            for c, m, s in tasks:
                run = train(c, m, names, automata, experiment_seeds(c, m, s), seed_index=s,
                            log=log, tb=tb, progress=progress)
                finished(run.record, run.curves, "")
        else:
            import multiprocessing

            # Runs are independent and each has its own streams: the pool changes no number.
            # Results come back in task order, so the files are the same as one process's.
            ctx = multiprocessing.get_context("spawn")
            with ctx.Pool(min(cfg.workers, len(tasks))) as pool:
                for rec, arrays, lines in pool.imap(_pool_task, tasks):
                    finished(rec, arrays, lines)
    if tb is not None:
        tb.close()
    results = write_results(cfg, "dqn", out, names, records, curves)
    print(f"{cfg.name}: {len(records)} runs of {cfg.total_timesteps} steps in "
          f"{time.perf_counter() - started:.1f} s; results in {out}", file=sys.stderr)
    return results


__all__ = ["DQNConfig", "DQNMethod", "SafetyCritic", "load_dqn_config", "parse_dqn_config",
           "run_dqn", "run_one", "select_action", "train"]
