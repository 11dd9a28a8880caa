"""RANDPOL: policy iteration with randomised networks on the Minecraft gridworld, safeguarded.

The value Q(x, a) and the policy pi(x) are each a randomised network: hidden layers drawn
once from the run's generator and never trained, and a linear output layer fitted in closed
form (ridge regression) on the hidden layer's features. x is the product state the DQN sees
(one-hot cell, task stage and monitor state). Training is generalised policy iteration:

1. act for ``iteration_steps`` environment steps, epsilon-greedy on pi, into a buffer;
2. policy evaluation: ``evaluation_sweeps`` fitted-Q sweeps, each a ridge fit per action of
   Q's output layer to r + gamma * Q(x', pi(x')) (0 after a termination);
3. policy improvement: pi's output layer is fitted by ridge to the one-hot greedy actions of
   Q on the buffer's states.

The safeguard is the DQN's: when the current spec's monitor reaches its violation sink the
episode ends with ``violation_penalty``; with ``kind = "progressive"`` a run walks the spec
progression in equal shares of its step budget, keeping both output layers (they are the
transferred values), ``"zero_shot"`` trains on the final spec alone. Only the output layers
are trained, so a run's "parameters trained" is their size.

Because the hidden layers are fixed and the inputs are one-hot product states, each
network's features are computed once for every product state (a table), and a step costs
table look-ups. Every run has its own generators (agents/rng.py): a run alone gives the
same numbers as inside an experiment with other methods and seeds.

    speclang train examples/experiments/randpol.toml --out runs/randpol
    speclang report runs/randpol
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from speclang.compiler.automaton import Automaton

from .config import _build, _check_choice
from .envs.layouts import N_ACTIONS, N_STAGES
from .envs.minecraft import MinecraftEnv, minecraft_labeler
from .errors import ConfigError, ExperimentError
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

KINDS = ("progressive", "zero_shot")
ACTIVATIONS = ("tanh", "relu")


@dataclass
class RandpolMethod:
    name: str
    kind: str = "progressive"


@dataclass
class RandpolConfig(StepRunConfig):
    name: str = "randpol"
    algorithm: str = "randpol"
    seeds: int = 10  # runs per method
    total_timesteps: int = 40_000  # environment steps per run
    value_hidden: list[int] = field(default_factory=lambda: [256])  # Q's random layers
    policy_hidden: list[int] = field(default_factory=lambda: [128])  # pi's random layers
    activation: str = "tanh"
    weight_scale: float = 1.0  # hidden weights ~ N(0, (weight_scale / sqrt(fan_in))^2)
    ridge: float = 1e-2  # lambda of every output-layer fit
    iteration_steps: int = 1_000  # environment steps between policy iterations
    evaluation_sweeps: int = 10  # fitted-Q sweeps per policy evaluation
    methods: list[RandpolMethod] = field(default_factory=list)


def load_randpol_config(path: str | Path) -> RandpolConfig:
    return parse_randpol_config(read_toml(path), str(path), str(Path(path).parent))


def parse_randpol_config(data: dict[str, Any], where: str = "<config>",
                         base_dir: str = ".") -> RandpolConfig:
    data, methods = split_methods(data, RandpolMethod, where, required=True)
    cfg: RandpolConfig = _build(RandpolConfig, {**data, "methods": methods}, where)
    cfg.base_dir = base_dir
    _validate(cfg, where)
    return cfg


def _validate(cfg: RandpolConfig, where: str) -> None:
    if cfg.algorithm != "randpol":
        raise ConfigError(f"{where}: algorithm {cfg.algorithm!r} is not RANDPOL's")
    check_env_keys(cfg, where)
    _check_choice(cfg.activation, ACTIVATIONS, f"{where}: activation")
    for m in cfg.methods:
        _check_choice(m.kind, KINDS, f"{where}: method {m.name!r}.kind")
    for key in ("value_hidden", "policy_hidden"):
        widths = getattr(cfg, key)
        if not isinstance(widths, list) or not widths or not all(
                isinstance(w, int) and not isinstance(w, bool) and w >= 1 for w in widths):
            raise ConfigError(f"{where}: {key} must be a non-empty list of layer widths >= 1, "
                              f"got {widths!r}")
    for key in ("seeds", "max_steps", "total_timesteps", "iteration_steps", "evaluation_sweeps",
                "buffer_size", "eval_episodes", "safe_window"):
        if getattr(cfg, key) < 1:
            raise ConfigError(f"{where}: {key} must be >= 1, got {getattr(cfg, key)}")
    if cfg.ridge <= 0.0:
        raise ConfigError(f"{where}: ridge must be > 0 (it keeps every fit well-posed), "
                          f"got {cfg.ridge}")
    if cfg.weight_scale <= 0.0:
        raise ConfigError(f"{where}: weight_scale must be > 0, got {cfg.weight_scale}")
    if not 0.0 <= cfg.gamma < 1.0:
        raise ConfigError(f"{where}: gamma must be in [0, 1), got {cfg.gamma}")
    for key in ("start_e", "end_e", "exploration_fraction", "safe_rate"):
        if not 0.0 <= getattr(cfg, key) <= 1.0:
            raise ConfigError(f"{where}: {key} must be in [0, 1], got {getattr(cfg, key)}")


# --- randomised networks ----------------------------------------------------------------------


class RandomNetwork:
    """Hidden layers drawn once (Gaussian weights scaled by fan-in, uniform biases) and a
    linear output layer on their features plus a constant 1. Only ``out`` is ever fitted."""

    def __init__(self, n_inputs: int, widths: list[int], n_outputs: int, activation: str,
                 scale: float, rng: np.random.Generator) -> None:
        self.hidden: list[tuple[np.ndarray, np.ndarray]] = []
        fan_in = n_inputs
        for width in widths:
            w = rng.normal(0.0, scale / np.sqrt(fan_in), size=(fan_in, width))
            b = rng.uniform(-1.0, 1.0, size=width)
            self.hidden.append((w, b))
            fan_in = width
        self.act = np.tanh if activation == "tanh" else (lambda z: np.maximum(z, 0.0))
        self.out = np.zeros((fan_in + 1, n_outputs))

    def features(self, x: np.ndarray) -> np.ndarray:
        """[n, last width + 1]: the fixed hidden layers' output with a bias column."""
        h = x
        for w, b in self.hidden:
            h = self.act(h @ w + b)
        return np.hstack([h, np.ones((h.shape[0], 1))])

    def n_fixed(self) -> int:
        return sum(w.size + b.size for w, b in self.hidden)


def ridge_fit(phi: np.ndarray, y: np.ndarray, ridge: float) -> np.ndarray:
    """argmin_beta ||phi beta - y||^2 + ridge ||beta||^2, the closed form
    (phi^T phi + ridge I)^-1 phi^T y (``y`` a vector or one column per output)."""
    gram = phi.T @ phi + ridge * np.eye(phi.shape[1])
    return np.linalg.solve(gram, phi.T @ y)


class PerActionRidge:
    """Q's output layer fitted per action on the buffer's rows that took it.

    A row's features are ``table[key]`` for its product state, so rows of one state are
    equal: each action's normal equations are summed over its distinct states, weighted by
    how often the buffer holds them (the same solution as over the rows, with hundreds of
    rows instead of the buffer's thousands). The rows stay fixed while a policy is
    evaluated, so the regularised Gram inverses are formed once and a sweep is products."""

    def __init__(self, table: np.ndarray, keys: np.ndarray, actions: np.ndarray,
                 n_actions: int, ridge: float) -> None:
        eye = ridge * np.eye(table.shape[1])
        self.parts = []
        for a in range(n_actions):
            rows = np.flatnonzero(actions == a)
            states, where, counts = np.unique(keys[rows], return_inverse=True,
                                              return_counts=True)
            phi = table[states]
            inverse = np.linalg.inv(phi.T @ (counts[:, None] * phi) + eye)
            self.parts.append((rows, where, len(states), phi, inverse))

    def fit(self, y: np.ndarray) -> np.ndarray:
        """[features, actions] for the targets ``y`` of the rows; an action no row took gets
        the ridge solution of no data, 0."""
        return np.stack([inverse @ (phi.T @ np.bincount(where, weights=y[rows], minlength=n))
                         for rows, where, n, phi, inverse in self.parts], axis=1)


# --- the product state ------------------------------------------------------------------------


class Monitors:
    """The progression's runtime monitors (:class:`~speclang.runtime.progression.ActiveSpec`,
    what ``SafeguardWrapper`` steps) reading ``info["labels"]`` through the gridworld's
    labeler: the active spec's (the safeguard) and the final spec's (the safety measure)."""

    def __init__(self, env: MinecraftEnv, automata: list[Automaton]) -> None:
        from speclang.runtime.progression import ActiveSpec

        labeler = minecraft_labeler()
        self.env = env
        self.specs = [ActiveSpec(a.name or f"spec{i}", a, labeler, None)
                      for i, a in enumerate(automata)]
        self.spec = 0
        self.q = self.q_final = 0
        self.final_violated = False

    def start(self, obs: dict[str, int], info: dict[str, Any]) -> bool:
        """Restart both monitors on the start cell's labels (the first letter)."""
        self.q = self.specs[self.spec].aut.initial
        self.q_final = self.specs[-1].aut.initial
        self.final_violated = False
        return self.advance(obs, info)

    def advance(self, obs: dict[str, int], info: dict[str, Any]) -> bool:
        """Step both on the new cell's labels; True when the active one hit its sink."""
        m, f = self.specs[self.spec], self.specs[-1]
        self.q = m.step_bits(self.q, m.bits_of(obs, info, self.env))
        self.q_final = f.step_bits(self.q_final, f.bits_of(obs, info, self.env))
        self.final_violated |= f.violated[self.q_final]
        return m.violated[self.q]


def product_inputs(n_cells: int, max_states: int) -> np.ndarray:
    """The one-hot encodings of every product state, row ``key(cell, stage, q)``."""
    n = n_cells * N_STAGES * max_states
    x = np.zeros((n, n_cells + N_STAGES + max_states))
    keys = np.arange(n)
    cell, rest = np.divmod(keys, N_STAGES * max_states)
    stage, q = np.divmod(rest, max_states)
    x[keys, cell] = 1.0
    x[keys, n_cells + stage] = 1.0
    x[keys, n_cells + N_STAGES + q] = 1.0
    return x


@dataclass
class Agent:
    value: RandomNetwork
    policy: RandomNetwork
    value_table: np.ndarray  # features of every product state, fixed for the whole run
    policy_table: np.ndarray
    greedy: np.ndarray  # pi's action per product state, refreshed at each improvement

    def q_values(self, keys: np.ndarray) -> np.ndarray:
        return self.value_table[keys] @ self.value.out

    def params_trained(self) -> int:
        return self.value.out.size + self.policy.out.size


def make_agent(cfg: RandpolConfig, n_cells: int, max_states: int,
               rng: np.random.Generator) -> Agent:
    x = product_inputs(n_cells, max_states)
    value = RandomNetwork(x.shape[1], cfg.value_hidden, N_ACTIONS, cfg.activation,
                          cfg.weight_scale, rng)
    policy = RandomNetwork(x.shape[1], cfg.policy_hidden, N_ACTIONS, cfg.activation,
                           cfg.weight_scale, rng)
    return Agent(value, policy, value.features(x), policy.features(x),
                 np.zeros(len(x), dtype=np.int64))


def policy_iteration(agent: Agent, keys: np.ndarray, actions: np.ndarray, rewards: np.ndarray,
                     next_keys: np.ndarray, dones: np.ndarray, cfg: RandpolConfig) -> float:
    """One evaluation + improvement on the buffer; returns the last sweep's Bellman residual
    (RMS over the buffer)."""
    fit = PerActionRidge(agent.value_table, keys, actions, N_ACTIONS, cfg.ridge)
    a_next = agent.greedy[next_keys]  # the policy being evaluated, fixed for the sweeps
    residual = 0.0
    for _ in range(cfg.evaluation_sweeps):
        q = agent.value_table @ agent.value.out  # every product state's Q: a small table
        target = rewards + cfg.gamma * (1.0 - dones) * q[next_keys, a_next]
        residual = float(np.sqrt(np.mean((q[keys, actions] - target) ** 2)))
        agent.value.out = fit.fit(target)
    states = np.unique(np.concatenate([keys, next_keys]))
    best = agent.q_values(states).argmax(axis=1)
    agent.policy.out = ridge_fit(agent.policy_table[states], np.eye(N_ACTIONS)[best], cfg.ridge)
    agent.greedy = (agent.policy_table @ agent.policy.out).argmax(axis=1)
    return residual


# --- one run ----------------------------------------------------------------------------------


def load_automata(cfg: RandpolConfig) -> tuple[list[str], list[Automaton]]:
    return load_progression(cfg)


def _seed_of(gen: np.random.Generator) -> int:
    return int(gen.integers(2**31 - 1))


def run_one(cfg: RandpolConfig, names: list[str], automata: list[Automaton],
            method: RandpolMethod, seed_index: int, *, progress: bool = False,
            tb: Any = None, log: Any = None) -> tuple[dict[str, Any], dict[str, np.ndarray],
                                                      Agent]:
    """Train and evaluate one (method, seed) run on its own generators. Returns its final
    record, its per-episode curves and the trained agent."""
    started = time.perf_counter()
    final = len(automata) - 1
    specs = list(range(len(automata))) if method.kind == "progressive" else [final]
    rng = run_generator(cfg.seed, AGENT_TRAIN, seed_index, method.name)
    env = MinecraftEnv(cfg.layout, reward_mode=cfg.reward_mode, max_steps=cfg.max_steps)
    mon = Monitors(env, automata)
    n_cells = env.layout.size * env.layout.size
    max_states = max(a.n_states for a in automata)
    agent = make_agent(cfg, n_cells, max_states, rng)

    def key(obs: dict[str, int], q: int) -> int:
        return (obs["cell"] * N_STAGES + obs["stage"]) * max_states + q

    n = min(cfg.buffer_size, cfg.total_timesteps)
    b_key = np.zeros(n, dtype=np.int64)
    b_next = np.zeros(n, dtype=np.int64)
    b_act = np.zeros(n, dtype=np.int64)
    b_rew = np.zeros(n)
    b_done = np.zeros(n)
    curves: dict[str, list[Any]] = {k: [] for k in ("ret", "viol", "fviol", "success", "spec",
                                                    "length")}
    visited_final: set[int] = set()
    share = cfg.total_timesteps // len(specs)
    mon.spec = specs[0]
    obs, info = env.reset(seed=_seed_of(run_generator(cfg.seed, ENV_TRAIN, seed_index)))
    mon.start(obs, info)
    k = key(obs, mon.q)
    ep_ret, ep_len = 0.0, 0
    spec_violations = [0] * len(automata)
    tag = f"{method.name}/seed{seed_index}"
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=cfg.total_timesteps, unit="step", desc=f"{cfg.name} {tag}",
                   file=sys.stderr, mininterval=1.0)
    for step in range(cfg.total_timesteps):
        if mon.spec == final:
            visited_final.add(k)
        frac = min(1.0, step / max(1, cfg.exploration_fraction * cfg.total_timesteps))
        eps = cfg.start_e + frac * (cfg.end_e - cfg.start_e)
        action = int(rng.integers(N_ACTIONS)) if rng.random() < eps else int(agent.greedy[k])
        obs, reward, terminated, truncated, info = env.step(action)
        violated = mon.advance(obs, info)
        if violated:
            reward, terminated = cfg.violation_penalty, True
        k_next = key(obs, mon.q)
        i = step % n
        b_key[i], b_next[i], b_act[i], b_rew[i], b_done[i] = k, k_next, action, reward, terminated
        k = k_next
        ep_ret += float(reward)
        ep_len += 1
        if terminated or truncated:
            success = bool(info["success"]) if cfg.reward_mode == "task" else bool(truncated)
            for name, value in (("ret", ep_ret), ("viol", violated), ("fviol", mon.final_violated),
                                ("success", success and not violated), ("spec", mon.spec),
                                ("length", ep_len)):
                curves[name].append(value)
            if log is not None:
                log.write(json.dumps({
                    "kind": "episode", "method": method.name, "seed": seed_index,
                    "step": step + 1, "episode": len(curves["ret"]) - 1,
                    "spec": names[mon.spec], "return": ep_ret, "length": ep_len,
                    "violation": bool(violated)}, sort_keys=True) + "\n")
            spec_violations[mon.spec] += int(violated)
            if tb is not None:
                tb.scalars(method.name, seed_index, {
                    "train/episodic_return": ep_ret,
                    "train/violations": float(sum(spec_violations)),
                    f"spec/{names[mon.spec]}/violations": float(spec_violations[mon.spec]),
                }, step + 1)
            ep_ret, ep_len = 0.0, 0
            mon.spec = specs[min(step // share, len(specs) - 1)]  # switches wait for an episode
            obs, info = env.reset()
            mon.start(obs, info)
            k = key(obs, mon.q)
        if (step + 1) % cfg.iteration_steps == 0:
            filled = min(step + 1, n)
            residual = policy_iteration(agent, b_key[:filled], b_act[:filled], b_rew[:filled],
                                        b_next[:filled], b_done[:filled], cfg)
            if tb is not None:
                tb.scalars(method.name, seed_index, {"train/bellman_residual": residual},
                           step + 1)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()

    evaluation = evaluate(agent, cfg, automata, seed_index, key)
    arrays = {name: np.array(values) for name, values in curves.items()}
    record = final_record(cfg, names, method, seed_index, arrays, evaluation, agent,
                          len(visited_final), specs)
    record["seconds"] = round(time.perf_counter() - started, 2)
    if tb is not None:
        tb.scalars(method.name, seed_index,
                   {f"eval/{k}": float(record[f"eval_{k}"])
                    for k in ("success_rate", "violation_rate", "return")}, cfg.total_timesteps)
    return record, arrays, agent


def evaluate(agent: Agent, cfg: RandpolConfig, automata: list[Automaton], seed_index: int,
             key: Any) -> dict[str, float]:
    """Greedy episodes of pi on the final spec, on the run's own evaluation environment; a
    violation ends the episode (with the penalty) and counts. Also Q's greedy value at the
    first evaluation episode's start state."""
    env = MinecraftEnv(cfg.layout, reward_mode=cfg.reward_mode, max_steps=cfg.max_steps)
    mon = Monitors(env, automata)
    mon.spec = len(automata) - 1
    gen_seed = _seed_of(run_generator(cfg.seed, ENV_EVAL, seed_index))
    wins = fails = 0
    returns = []
    start_value = 0.0
    for episode in range(cfg.eval_episodes):
        obs, info = env.reset(seed=gen_seed if episode == 0 else None)
        mon.start(obs, info)
        k = key(obs, mon.q)
        if episode == 0:
            start_value = float(agent.q_values(np.array([k]))[0].max())
        total = 0.0
        while True:
            obs, reward, terminated, truncated, info = env.step(int(agent.greedy[k]))
            if mon.advance(obs, info):
                total += cfg.violation_penalty
                fails += 1
                break
            total += float(reward)
            k = key(obs, mon.q)
            if terminated or truncated:
                wins += int(info["success"] if cfg.reward_mode == "task" else truncated)
                break
        returns.append(total)
    m = cfg.eval_episodes
    return {"success_rate": wins / m, "violation_rate": fails / m,
            "return": float(np.mean(returns)), "start_value": start_value}


def final_record(cfg: RandpolConfig, names: list[str], method: RandpolMethod, seed_index: int,
                 c: dict[str, np.ndarray], evaluation: dict[str, float], agent: Agent,
                 visited: int, specs: list[int]) -> dict[str, Any]:
    """The run's line of results.json: the DQN's record and RANDPOL's own keys."""
    return {**run_record(cfg, names, method.name, seed_index, c, evaluation, visited),
            "method_kind": method.kind,
            "start_value": evaluation["start_value"],
            "params_trained": agent.params_trained(),
            "params_fixed": agent.value.n_fixed() + agent.policy.n_fixed()}


# --- the experiment ---------------------------------------------------------------------------


def run_randpol(cfg: RandpolConfig, out: str | Path, *, progress: bool = True,
                tensorboard: bool = True) -> dict[str, Any]:
    """Every (method, seed) run in turn; writes config.json, metrics.jsonl, tb/METHOD/seedK,
    results.json and episodes.npz (what ``speclang report`` reads) under ``out``."""
    from .experiment import TensorBoardRuns

    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise ExperimentError(f"{out}: run directory is not empty")
    names, automata = load_automata(cfg)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(asdict(cfg), indent=1, sort_keys=True))
    tb = TensorBoardRuns(out / "tb") if tensorboard else None
    started = time.perf_counter()
    records, curves = [], []
    with open(out / "metrics.jsonl", "w", encoding="utf-8") as log:
        for method in cfg.methods:
            for s in range(cfg.seeds):
                rec, arrays, _ = run_one(cfg, names, automata, method, s, progress=progress,
                                         tb=tb, log=log)
                log.write(json.dumps(rec, sort_keys=True) + "\n")
                records.append(rec)
                curves.append(arrays)
    if tb is not None:
        tb.close()
    results = write_results(cfg, "randpol", out, names, records, curves)
    print(f"{cfg.name}: {len(records)} runs of {cfg.total_timesteps} steps in "
          f"{time.perf_counter() - started:.1f} s; results in {out}", file=sys.stderr)
    return results


__all__ = ["RandpolConfig", "RandpolMethod", "load_randpol_config", "parse_randpol_config",
           "ridge_fit", "run_one", "run_randpol"]
