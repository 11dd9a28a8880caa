"""PPO from pixels in ViZDoom under compiled safeguards (CleanRL-style, one file).

The agent sees ``frame_stack`` downscaled grayscale frames and the one-hot state of the
active safeguard's monitor; a small CNN feeds an actor and a critic. Every environment is a
``runtime.SafeguardWrapper`` around :class:`speclang.agents.vizdoom.env.VizDoomEnv`; the envs of a
run are stepped in turn in one process (on two cores, worker processes only add copies).

Methods (same step budget for all):

``progressive``     the safeguard walks the progression (S0 -> S1 -> S2) in equal shares of
                    the budget; the network and optimiser carry over at each switch.
``zero_shot``       the final safeguard (S2) from the first step.
``no_safeguard``    task reward only; the monitor is hidden from the agent and only
                    counts violations (it restarts after each one).
``intrinsic_fear``  zero_shot plus a danger head trained to predict a violation within
                    ``fear_horizon`` steps, whose probability times ``fear_lambda`` is
                    subtracted from the reward (Lipton et al. 2016).
``progressive_critic``, ``zero_shot_critic``
                    progressive and zero_shot with a learned safety critic that shields
                    the policy's sampling (below).

The safety critic (:mod:`speclang.agents.critic_net`, the DQN's) is a network of its own (the
policy's CNN and hidden layer, drawn apart from the policy's) whose logits ``C[h](x, a)``,
``h = 1..critic_horizon``, estimate the probability of reaching the active monitor's
violation sink within ``h`` steps after action ``a`` in input ``x`` (frames and monitor
input), when every later step takes the safest action. It is trained from the monitor's
verdicts alone: after each rollout, ``critic_batches`` minibatches of the finite-horizon TD
rule of :mod:`speclang.agents.critic` from a replay of the last ``critic_buffer`` rollouts of
the active spec (target 1 on a violation, 0 after another episode end, else
``min_a' C[h-1](x', a')`` under a target copy refreshed after every rollout). PPO explores
by sampling its policy, so the shield acts there: actions with danger ``D = C[H] >=
critic_threshold`` get probability 0 (when every action is that dangerous, the safest ones
are kept), and the PPO loss uses the same masked distribution, so the ratio is that of the
policy that acted. The critic (network, optimiser) is kept across spec switches like the
policy; its replay is emptied at a switch (its verdicts were the old spec's). With
``automaton_input = "features"`` a state of the new spec looks like the states of the old
one that behave alike: that is the transfer of the critic from spec to spec.

With a safeguard, a violation ends the episode with ``-violation_penalty`` and the reward
carries the potential-based shaping term of ``speclang.compiler.shaping`` for the active monitor.

    speclang train examples/experiments/vizdoom_cpu.toml --out runs/vizdoom
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from speclang.stats import mean_ci

from ..critic import allowed_actions
from ..critic_net import critic_td_loss, danger, danger_layer
from ..errors import ConfigError
from ..experiment import TensorBoardRuns, episodes_to_safe
from .env import VizDoomEnv
from .run_config import VizDoomRunConfig, read_flat_config
from .specs import load_specs, safeguard

METHODS = (
    "progressive",
    "zero_shot",
    "no_safeguard",
    "intrinsic_fear",
    "progressive_critic",
    "zero_shot_critic",
)


def is_progressive(method: str) -> bool:
    """Whether ``method`` walks the whole progression (else it trains on the final spec)."""
    return method in ("progressive", "progressive_critic")


def has_critic(method: str) -> bool:
    return method.endswith("_critic")


@dataclass
class PPOConfig(VizDoomRunConfig):
    """The PPO's keys after the shared ones (:class:`.run_config.VizDoomRunConfig`)."""

    name: str = "vizdoom_ppo"
    algorithm: str = "vizdoom_ppo"
    methods: list[str] = field(default_factory=lambda: list(METHODS))
    num_steps: int = 128
    learning_rate: float = 2.5e-4
    gae_lambda: float = 0.95
    num_minibatches: int = 4
    update_epochs: int = 3
    clip_coef: float = 0.1
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    hidden: int = 256
    fear_lambda: float = 0.5
    fear_horizon: int = 8
    # "shared": the danger head sits on the policy's CNN; "separate": a CNN of its own (as
    # Lipton et al.'s separate fear model), so its loss and gradient clipping leave the
    # policy's features alone.
    fear_network: str = "shared"
    # Lipton et al. phase the fear penalty in: its weight rises linearly from 0 to
    # fear_lambda over this share of the budget (0: full weight from the first step, when
    # the untrained danger model says 0.5 everywhere and ending the episode looks cheap).
    fear_phase_in: float = 0.0
    # The safety critic of the *_critic methods: horizon in agent steps (frame_skip tics
    # each), the shield's threshold on the danger, and the critic's training.
    critic_horizon: int = 8
    critic_threshold: float = 0.1
    critic_learning_rate: float = 1e-3
    critic_init: float = 0.01
    critic_buffer: int = 16  # rollouts of the active spec in the critic's replay
    critic_batches: int = 8  # critic minibatches after each rollout
    critic_batch_size: int = 128
    # Violations are rare (about 1 step in 500): this share of each critic minibatch is
    # drawn among the replay's violations, importance-weighted back to the uniform draw, so
    # the estimate stays a probability while its gradient sees the violations every batch.
    critic_sink_share: float = 0.25
    device: str = "auto"
    # Processes running the (method, seed) runs: each run is seeded by (seed, seed index)
    # alone, so the numbers are the same; > 1 writes no TensorBoard logs.
    workers: int = 1

    def validate(self) -> None:
        self.validate_run(METHODS)
        for key in ("num_steps", "workers"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{key} must be >= 1, got {getattr(self, key)}")
        if self.total_timesteps < self.num_envs * self.num_steps:
            raise ConfigError("total_timesteps must cover at least one rollout")
        if (self.num_envs * self.num_steps) % self.num_minibatches:
            raise ConfigError("num_envs * num_steps must be divisible by num_minibatches")
        if not 0.0 <= self.fear_phase_in <= 1.0:
            raise ConfigError("fear_phase_in must be in [0, 1]")
        if self.fear_network not in ("shared", "separate"):
            raise ConfigError("fear_network must be shared or separate")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ConfigError("device must be auto, cpu or cuda")
        for key in ("critic_horizon", "critic_buffer", "critic_batches", "critic_batch_size"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{key} must be >= 1, got {getattr(self, key)}")
        if not 0.0 < self.critic_threshold <= 1.0:
            raise ConfigError(f"critic_threshold must be in (0, 1], got {self.critic_threshold}")
        if not 0.0 <= self.critic_sink_share < 1.0:
            raise ConfigError(f"critic_sink_share must be in [0, 1), got {self.critic_sink_share}")
        if not 0.0 < self.critic_init < 1.0:
            raise ConfigError(f"critic_init must be in (0, 1), got {self.critic_init}")


def load_config(path: str | Path) -> PPOConfig:
    raw = read_flat_config(path, PPOConfig)
    cfg = PPOConfig(**raw, base_dir=str(Path(path).resolve().parent))
    cfg.validate()
    return cfg


def monitor_tables(auts: dict[str, Any], automaton_input: str) -> dict[str, np.ndarray]:
    """Per spec, the network's monitor input of every state (row ``q``), one width for all:
    ``"index"`` the one-hot state number (as wide as the largest automaton), ``"features"``
    the state features of :mod:`speclang.compiler.state_features` over the sorted union of
    the specs' propositions."""
    if automaton_input == "features":
        from speclang.compiler.state_features import state_features

        props = sorted({p for a in auts.values() for p in a.props})
        return {name: state_features(a, props).table for name, a in auts.items()}
    width = max(a.n_states for a in auts.values())
    return {name: np.eye(width, dtype=np.float32)[: a.n_states] for name, a in auts.items()}


# --- the network ----------------------------------------------------------------------------


def encoder(
    frames: int, height: int, width: int, n_monitor: int, hidden: int
) -> tuple[nn.Module, nn.Module]:
    """The CNN over the frame stack and the hidden layer on its output and the monitor input."""
    cnn = nn.Sequential(
        nn.Conv2d(frames, 16, 8, stride=4),
        nn.ReLU(),
        nn.Conv2d(16, 32, 4, stride=2),
        nn.ReLU(),
        nn.Flatten(),
    )
    with torch.no_grad():
        n_flat = cnn(torch.zeros(1, frames, height, width)).shape[1]
    return cnn, nn.Sequential(nn.Linear(n_flat + n_monitor, hidden), nn.ReLU())


class Agent(nn.Module):
    """CNN over the frame stack; the monitor's one-hot joins after the convolutions."""

    def __init__(
        self,
        frames: int,
        height: int,
        width: int,
        n_monitor: int,
        n_actions: int,
        hidden: int = 256,
        fear_network: str = "shared",
    ) -> None:
        super().__init__()
        self.cnn, self.fc = encoder(frames, height, width, n_monitor, hidden)
        self.actor = nn.Linear(hidden, n_actions)
        self.critic = nn.Linear(hidden, 1)
        self.fear = nn.Linear(hidden, 1)
        self.fear_encoder: nn.ModuleList | None = None
        if fear_network == "separate":
            self.fear_encoder = nn.ModuleList(encoder(frames, height, width, n_monitor, hidden))
        nn.init.orthogonal_(self.actor.weight, 0.01)
        nn.init.zeros_(self.actor.bias)

    def features(self, frames: torch.Tensor, monitor: torch.Tensor) -> torch.Tensor:
        x = self.cnn(frames.float() / 255.0)
        return self.fc(torch.cat([x, monitor], dim=1))

    def forward(self, frames: torch.Tensor, monitor: torch.Tensor) -> tuple[torch.Tensor, ...]:
        h = self.features(frames, monitor)
        if self.fear_encoder is None:
            fear_h = h
        else:
            cnn, fc = self.fear_encoder
            fear_h = fc(torch.cat([cnn(frames.float() / 255.0), monitor], dim=1))
        return self.actor(h), self.critic(h).squeeze(-1), self.fear(fear_h).squeeze(-1)

    def fear_parameters(self) -> list[nn.Parameter]:
        """The parameters that only the danger head's loss trains (empty when shared)."""
        if self.fear_encoder is None:
            return []
        return [*self.fear_encoder.parameters(), *self.fear.parameters()]


class PixelSafetyCritic(nn.Module):
    """The safety critic: logits ``[batch, horizon, actions]`` (:mod:`..critic_net`) on a
    trunk of its own shaped like the policy's."""

    def __init__(self, frames: int, height: int, width: int, n_monitor: int, n_actions: int,
                 hidden: int, horizon: int, init: float) -> None:
        super().__init__()
        self.horizon, self.n_actions = horizon, n_actions
        self.cnn, self.fc = encoder(frames, height, width, n_monitor, hidden)
        self.out = danger_layer(hidden, horizon, n_actions, init)

    def forward(self, frames: torch.Tensor, monitor: torch.Tensor) -> torch.Tensor:
        h = self.fc(torch.cat([self.cnn(frames.float() / 255.0), monitor], dim=1))
        return self.out(h).view(-1, self.horizon, self.n_actions)


# Masked logits: finite, so that the entropy of a masked distribution stays a number.
MASKED = -1e9


def shielded_logits(logits: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    """The policy's logits with the actions the shield forbids (``allowed`` False) at
    probability 0."""
    return logits.masked_fill(~allowed, MASKED)


class CriticReplay:
    """The last ``size`` rollouts of one spec: frames and monitor inputs ``[T + 1, N]`` (the
    last row the inputs after the rollout), actions, violations and other episode ends."""

    def __init__(self, size: int, T: int, N: int, frame_shape: tuple[int, ...],
                 n_monitor: int, device: torch.device) -> None:
        self.size, self.T, self.N = size, T, N
        self.obs = torch.zeros((size, T + 1, N, *frame_shape), dtype=torch.uint8, device=device)
        self.mon = torch.zeros((size, T + 1, N, n_monitor), device=device)
        self.act = torch.zeros((size, T, N), dtype=torch.long, device=device)
        self.sink = torch.zeros((size, T, N), device=device)
        self.ended = torch.zeros((size, T, N), device=device)
        self.filled = self.next = 0

    def clear(self) -> None:
        self.filled = self.next = 0

    def add(self, obs: torch.Tensor, mon: torch.Tensor, act: torch.Tensor,
            violated: np.ndarray, dones: np.ndarray) -> None:
        j = self.next
        self.obs[j], self.mon[j], self.act[j] = obs, mon, act
        self.sink[j] = torch.as_tensor(violated, dtype=torch.float32)
        # Any other end (death, the timeout) counts as "no violation after this": the
        # autoreset leaves no next frame of the same episode to bootstrap from.
        self.ended[j] = torch.as_tensor(dones & ~violated, dtype=torch.float32)
        self.next = (j + 1) % self.size
        self.filled = min(self.filled + 1, self.size)

    def sample(self, rng: np.random.Generator, n: int,
               sink_share: float = 0.0) -> tuple[torch.Tensor, ...]:
        """``n`` transitions: inputs, actions, next inputs, sink, ended, and importance
        weights. A share ``sink_share`` of them is drawn among the violations (when there are
        any), the rest uniformly; the weights (p / q, the uniform draw's probability over
        the mixture's) make a weighted mean over the batch estimate the uniform one."""
        r = rng.integers(0, self.filled, n)
        t = rng.integers(0, self.T, n)
        i = rng.integers(0, self.N, n)
        weight = np.ones(n)
        hits = torch.nonzero(self.sink[: self.filled]).cpu().numpy()
        k = int(round(n * sink_share)) if len(hits) else 0
        if k:
            pick = hits[rng.integers(0, len(hits), k)]
            r[:k], t[:k], i[:k] = pick[:, 0], pick[:, 1], pick[:, 2]
            total = self.filled * self.T * self.N
            s = k / n
            uniform = (1.0 - s) / total
            is_hit = self.sink[r, t, i].cpu().numpy() > 0
            weight = (1.0 / total) / (uniform + np.where(is_hit, s / len(hits), 0.0))
        rt, tt, it = (torch.as_tensor(a) for a in (r, t, i))
        return (self.obs[rt, tt, it], self.mon[rt, tt, it], self.act[rt, tt, it],
                self.obs[rt, tt + 1, it], self.mon[rt, tt + 1, it], self.sink[rt, tt, it],
                self.ended[rt, tt, it],
                torch.as_tensor(weight, dtype=torch.float32, device=self.sink.device))


def pick_device(name: str) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device = cuda but torch sees no CUDA device")
    return torch.device(name)


# --- environments ---------------------------------------------------------------------------


class Envs:
    """``num_envs`` safeguarded environments with autoreset, plus a monitor of the final
    spec on every env (violations of S2 are what all methods are compared on)."""

    def __init__(self, cfg: VizDoomRunConfig, method: str, seed: int) -> None:
        from speclang.runtime.progression import ActiveSpec

        path = Path(cfg.spec_file)
        if not path.is_absolute():
            path = Path(cfg.base_dir) / path
        from speclang.diagnostics import SpecErrors

        try:
            module, auts = load_specs(path, progression=cfg.progression)
        except (ValueError, SpecErrors) as exc:
            raise ConfigError(str(exc)) from None
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
        self.spec_names = list(auts)
        self.final = self.spec_names[-1]
        self.method = method
        self.guarded = method != "no_safeguard"
        chosen = auts if is_progressive(method) else {self.final: auts[self.final]}
        self.monitor_tables = monitor_tables(auts, cfg.automaton_input)
        self.n_monitor = next(iter(self.monitor_tables.values())).shape[1]
        self.envs = []
        self.final_monitors = []
        for _ in range(cfg.num_envs):
            env = VizDoomEnv(
                cfg.scenario,
                frame_skip=cfg.frame_skip,
                frame_stack=cfg.frame_stack,
                downscale=cfg.downscale,
                reward_scale=cfg.reward_scale,
                task_reward=cfg.task_reward,
                episode_timeout=cfg.episode_timeout,
            )
            w = safeguard(
                env,
                module,
                chosen,
                observation="dict",
                reward="shaping" if (cfg.shaping and self.guarded) else "env",
                on_violation="terminate" if self.guarded else "reset_monitor",
                gamma=cfg.gamma,
                potential=cfg.potential,
                explain=False,
            )
            self.envs.append(w)
            self.final_monitors.append(
                ActiveSpec(self.final, auts[self.final], w.labeler, module.derived)
            )
        self.penalty = cfg.violation_penalty if self.guarded else 0.0
        self.seed = seed
        self.episodes = 0
        self.q_final = [0] * cfg.num_envs
        self.ep_return = np.zeros(cfg.num_envs)
        self.ep_viol = np.zeros(cfg.num_envs, dtype=np.int64)
        self.ep_fviol = np.zeros(cfg.num_envs, dtype=bool)
        self.ep_len = np.zeros(cfg.num_envs, dtype=np.int64)
        self.ep_medkits = np.zeros(cfg.num_envs, dtype=np.int64)
        # One record per finished episode: (spec index, scenario return, length, violations,
        # violated the final spec, medkits picked up)
        self.log: list[tuple[int, float, int, int, bool, int]] = []

    def set_spec(self, name: str) -> None:
        for w in self.envs:
            w.set_spec(name)

    def _reset(self, i: int) -> tuple[np.ndarray, int]:
        obs, _ = self.envs[i].reset(seed=self.seed * 100_003 + self.episodes)
        self.episodes += 1
        self.q_final[i] = self.final_monitors[i].aut.initial
        return obs["obs"], obs["monitor"]

    def _close(self, i: int, spec: str) -> None:
        self.log.append(
            (
                self.spec_names.index(spec),
                float(self.ep_return[i]),
                int(self.ep_len[i]),
                int(self.ep_viol[i]),
                bool(self.ep_fviol[i]),
                int(self.ep_medkits[i]),
            )
        )
        self.ep_medkits[i] = 0
        self.ep_return[i] = 0.0
        self.ep_viol[i] = 0
        self.ep_fviol[i] = False
        self.ep_len[i] = 0

    def reset(self) -> tuple[np.ndarray, np.ndarray]:
        # Episodes cut short by a spec switch still count, under the spec they ran with.
        for i, w in enumerate(self.envs):
            if self.ep_len[i]:
                self._close(i, w.spec_name)
        out = [self._reset(i) for i in range(len(self.envs))]
        return np.stack([o for o, _ in out]), np.array([q for _, q in out])

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, ...]:
        n = len(self.envs)
        frames, qs = [], np.zeros(n, dtype=np.int64)
        rewards = np.zeros(n, dtype=np.float32)
        dones = np.zeros(n, dtype=bool)
        violated = np.zeros(n, dtype=bool)
        for i, w in enumerate(self.envs):
            obs, r, term, trunc, info = w.step(int(actions[i]))
            sg = info["safeguard"]
            fm = self.final_monitors[i]
            self.q_final[i] = fm.step(self.q_final[i], fm.binding.labels(None, info, w.env))
            v = bool(sg["violated"])
            violated[i] = v
            rewards[i] = r - self.penalty * v
            # The scenario's own reward (+1 per tic alive), unscaled and unshaped: what
            # every method is compared on.
            self.ep_return[i] += info["scenario_reward"]
            self.ep_viol[i] += v
            self.ep_fviol[i] |= fm.violated[self.q_final[i]]
            self.ep_len[i] += 1
            self.ep_medkits[i] += bool(info["medkit"])
            done = term or trunc
            dones[i] = done
            if done:
                self._close(i, sg["spec"])
                frame, q = self._reset(i)
            else:
                frame, q = obs["obs"], obs["monitor"]
            frames.append(frame)
            qs[i] = q
        return np.stack(frames), qs, rewards, dones, violated

    def close(self) -> None:
        for w in self.envs:
            w.close()


# --- training -------------------------------------------------------------------------------


def fear_targets(violated: np.ndarray, dones: np.ndarray, horizon: int) -> tuple[np.ndarray, ...]:
    """``(target, known)`` over ``[T, N]``: whether a violation comes within ``horizon``
    steps of the same episode; unknown near the end of a rollout that did not end."""
    T, N = violated.shape
    target = np.zeros((T, N), dtype=np.float32)
    known = np.zeros((T, N), dtype=bool)
    for i in range(N):
        dist = math.inf  # steps to the next violation in this episode
        ended = False  # an episode end lies ahead within the rollout
        for t in range(T - 1, -1, -1):
            if dones[t, i]:
                dist, ended = (0 if violated[t, i] else math.inf), True
            else:
                dist = dist + 1 if dist != math.inf else math.inf
                if violated[t, i]:
                    dist = 0
            target[t, i] = float(dist < horizon)
            known[t, i] = ended or dist < horizon or (T - 1 - t) >= horizon - 1
    return target, known


def train_run(
    cfg: PPOConfig,
    method: str,
    seed: int,
    out: Path | None,
    device: torch.device,
    log: Any = None,
    tb: TensorBoardRuns | None = None,
) -> dict[str, Any]:
    """One (method, seed) run; returns its metrics (and saves its model under ``out``). With
    ``tb``, each update's scalars go to ``tb/METHOD/seedK`` against the environment steps
    taken so far (all envs together), so the methods overlay in TensorBoard."""
    rng_seed = cfg.seed * 1000 + seed
    torch.manual_seed(rng_seed)
    np.random.seed(rng_seed)
    envs = Envs(cfg, method, rng_seed)
    n_actions = int(envs.envs[0].action_space.n)
    k, h, w = envs.envs[0].env.observation_space.shape
    agent = Agent(k, h, w, envs.n_monitor, n_actions, cfg.hidden, cfg.fear_network).to(device)
    fear_params = agent.fear_parameters()
    fear_ids = {id(p) for p in fear_params}
    policy_params = [p for p in agent.parameters() if id(p) not in fear_ids]
    opt = torch.optim.Adam(agent.parameters(), lr=cfg.learning_rate, eps=1e-5)
    N, T = cfg.num_envs, cfg.num_steps
    batch = N * T
    n_updates = cfg.total_timesteps // batch
    stages = envs.spec_names if is_progressive(method) else [envs.final]
    critic = critic_target = critic_opt = replay = None
    if has_critic(method):
        # Drawn on a generator of their own, so that the policy's draws (and so a run whose
        # shield never blocks) are those of the same method without a critic.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(rng_seed + 1)
            critic, critic_target = (
                PixelSafetyCritic(k, h, w, envs.n_monitor, n_actions, cfg.hidden,
                                  cfg.critic_horizon, cfg.critic_init).to(device)
                for _ in range(2)
            )
        critic_target.load_state_dict(critic.state_dict())
        critic_opt = torch.optim.Adam(critic.parameters(), lr=cfg.critic_learning_rate)
        replay = CriticReplay(cfg.critic_buffer, cfg.num_steps, cfg.num_envs, (k, h, w),
                              envs.n_monitor, device)
    critic_rng = np.random.default_rng([rng_seed, 1])
    shielded_steps = 0
    critic_losses: list[float] = []
    stage_of_update = [min(u * len(stages) // n_updates, len(stages) - 1) for u in range(n_updates)]
    envs.set_spec(stages[0])
    frames_np, q_np = envs.reset()
    obs_buf = torch.zeros((T, N, k, h, w), dtype=torch.uint8, device=device)
    mon_buf = torch.zeros((T, N, envs.n_monitor), device=device)
    act_buf = torch.zeros((T, N), dtype=torch.long, device=device)
    logp_buf = torch.zeros((T, N), device=device)
    val_buf = torch.zeros((T, N), device=device)
    allowed_buf = torch.ones((T, N, n_actions), dtype=torch.bool, device=device)
    fear_buf = torch.zeros((T, N), device=device)
    rew = np.zeros((T, N), dtype=np.float32)
    done_np = np.zeros((T, N), dtype=bool)
    viol_np = np.zeros((T, N), dtype=bool)
    show_monitor = method != "no_safeguard"
    tables = {name: torch.as_tensor(t, device=device) for name, t in envs.monitor_tables.items()}

    def monitor_input(q: np.ndarray) -> torch.Tensor:
        if not show_monitor:
            return torch.zeros((len(q), envs.n_monitor), device=device)
        # every env follows one spec at a time (switches reset them all together)
        return tables[envs.envs[0].spec_name][torch.as_tensor(q, device=device)]

    fear_on = method == "intrinsic_fear"
    started = time.time()
    steps = 0
    for update in range(n_updates):
        stage = stages[stage_of_update[update]]
        if stage != envs.envs[0].spec_name and is_progressive(method):
            # Takes effect at each env's next reset; ending the episodes now makes the
            # switch exact at the update boundary.
            envs.set_spec(stage)
            frames_np, q_np = envs.reset()
            if replay is not None:
                replay.clear()
        for t in range(T):
            obs_t = torch.as_tensor(frames_np, device=device)
            mon_t = monitor_input(q_np)
            with torch.no_grad():
                logits, value, fear_logit = agent(obs_t, mon_t)
                if critic is not None:
                    risk = danger(critic(obs_t, mon_t)).cpu().numpy()
                    ok = allowed_actions(risk, cfg.critic_threshold)
                    shielded_steps += int((~ok.all(axis=1)).sum())
                    allowed_buf[t] = torch.as_tensor(ok, device=device)
                    logits = shielded_logits(logits, allowed_buf[t])
                dist = torch.distributions.Categorical(logits=logits)
                action = dist.sample()
            obs_buf[t], mon_buf[t], act_buf[t] = obs_t, mon_t, action
            logp_buf[t], val_buf[t] = dist.log_prob(action), value
            fear_buf[t] = torch.sigmoid(fear_logit)
            frames_np, q_np, r, d, v = envs.step(action.cpu().numpy())
            rew[t], done_np[t], viol_np[t] = r, d, v
            steps += N
        next_obs, next_mon = torch.as_tensor(frames_np, device=device), monitor_input(q_np)
        with torch.no_grad():
            _, next_value, next_fear_logit = agent(next_obs, next_mon)
        rewards = torch.as_tensor(rew, device=device)
        dones = torch.as_tensor(done_np, dtype=torch.float32, device=device)
        if fear_on:
            # Lipton et al.: the penalty falls on the step that enters a feared state.
            nxt = torch.cat([fear_buf[1:], torch.sigmoid(next_fear_logit)[None]], dim=0)
            lam = cfg.fear_lambda
            if cfg.fear_phase_in > 0:
                lam *= min(1.0, (steps - batch) / (cfg.fear_phase_in * cfg.total_timesteps))
            rewards = rewards - lam * nxt * (1.0 - dones)
        adv = torch.zeros_like(rewards)
        last = torch.zeros(N, device=device)
        for t in reversed(range(T)):
            nv = next_value if t == T - 1 else val_buf[t + 1]
            nonterm = 1.0 - dones[t]
            delta = rewards[t] + cfg.gamma * nv * nonterm - val_buf[t]
            last = delta + cfg.gamma * cfg.gae_lambda * nonterm * last
            adv[t] = last
        returns = adv + val_buf
        f_target, f_known = fear_targets(viol_np, done_np, cfg.fear_horizon)
        b_obs = obs_buf.reshape(batch, k, h, w)
        b_mon = mon_buf.reshape(batch, -1)
        b_act, b_logp = act_buf.reshape(-1), logp_buf.reshape(-1)
        b_allowed = allowed_buf.reshape(batch, n_actions)
        b_adv, b_ret = adv.reshape(-1), returns.reshape(-1)
        b_ft = torch.as_tensor(f_target.reshape(-1), device=device)
        b_fk = torch.as_tensor(f_known.reshape(-1), dtype=torch.float32, device=device)
        mb = batch // cfg.num_minibatches
        for _ in range(cfg.update_epochs):
            perm = torch.randperm(batch, device=device)
            for s in range(0, batch, mb):
                idx = perm[s : s + mb]
                logits, value, fear_logit = agent(b_obs[idx], b_mon[idx])
                if critic is not None:  # the distribution the rollout sampled from
                    logits = shielded_logits(logits, b_allowed[idx])
                dist = torch.distributions.Categorical(logits=logits)
                ratio = (dist.log_prob(b_act[idx]) - b_logp[idx]).exp()
                a = b_adv[idx]
                a = (a - a.mean()) / (a.std() + 1e-8)
                pg = torch.max(-a * ratio, -a * ratio.clamp(1 - cfg.clip_coef, 1 + cfg.clip_coef))
                loss = (
                    pg.mean()
                    + cfg.vf_coef * 0.5 * ((value - b_ret[idx]) ** 2).mean()
                    - cfg.ent_coef * dist.entropy().mean()
                )
                if fear_on:
                    bce = nn.functional.binary_cross_entropy_with_logits(
                        fear_logit, b_ft[idx], reduction="none"
                    )
                    loss = loss + (bce * b_fk[idx]).sum() / b_fk[idx].sum().clamp(min=1.0)
                opt.zero_grad()
                loss.backward()
                # A separate danger network is clipped on its own, so that its gradient
                # does not shrink the policy's under one global norm.
                nn.utils.clip_grad_norm_(policy_params, cfg.max_grad_norm)
                if fear_params:
                    nn.utils.clip_grad_norm_(fear_params, cfg.max_grad_norm)
                opt.step()
        if critic is not None and critic_target is not None and critic_opt is not None:
            assert replay is not None
            replay.add(torch.cat([obs_buf, next_obs[None]]), torch.cat([mon_buf, next_mon[None]]),
                       act_buf, viol_np, done_np)
            for _ in range(cfg.critic_batches):
                x, m, a, x2, m2, sink, ended, wt = replay.sample(
                    critic_rng, cfg.critic_batch_size, cfg.critic_sink_share)
                with torch.no_grad():
                    next_logits = critic_target(x2, m2)
                c_loss = critic_td_loss(critic(x, m), a, next_logits, sink, ended, wt)
                critic_opt.zero_grad()
                c_loss.backward()
                nn.utils.clip_grad_norm_(critic.parameters(), cfg.max_grad_norm)
                critic_opt.step()
            critic_losses.append(float(c_loss.detach()))
            critic_target.load_state_dict(critic.state_dict())
        recent = envs.log[-20:]
        mean_ret = float(np.mean([e[1] for e in recent])) if recent else float("nan")
        mean_med = float(np.mean([e[5] for e in recent])) if recent else float("nan")
        if tb is not None:
            scalars = {
                "train/episodes": float(len(envs.log)),
                "train/violations": float(sum(e[3] for e in envs.log)),
                "train/final_spec_violating_episodes": float(sum(e[4] for e in envs.log)),
            }
            if critic is not None:
                scalars["train/critic_loss"] = critic_losses[-1]
                scalars["train/shielded_steps"] = float(shielded_steps)
            if recent:  # no NaN points before the first episode ends
                scalars["train/return_last20"] = mean_ret
                scalars["train/medkits_last20"] = mean_med
            tb.scalars(method, seed, scalars, steps)
        if log is not None:
            log(
                f"{method} seed {seed} update {update + 1}/{n_updates} spec {stage} "
                f"steps {steps} episodes {len(envs.log)} return(last 20) {mean_ret:.0f} "
                f"medkits(last 20) {mean_med:.1f} "
                f"{steps / (time.time() - started):.0f} steps/s"
            )
    envs.close()
    metrics = run_metrics(cfg, envs.spec_names, envs.log, method, seed)
    metrics["steps"] = steps
    metrics["seconds"] = time.time() - started
    metrics["shielded_steps"] = shielded_steps
    metrics["critic_losses"] = critic_losses
    metrics["params_trained"] = sum(
        p.numel() for net in (agent, critic) if net is not None for p in net.parameters())
    if out is not None:
        torch.save(
            {
                "state_dict": agent.state_dict(),
                "shape": [k, h, w, envs.n_monitor, n_actions, cfg.hidden],
                "fear_network": cfg.fear_network,
                "method": method,
                "seed": seed,
                "specs": envs.spec_names,
                "show_monitor": show_monitor,
                "critic": None if critic is None else critic.state_dict(),
                "critic_shape": [cfg.critic_horizon, cfg.critic_init],
            },
            out / f"{method}_seed{seed}.pt",
        )
    return metrics


def run_metrics(
    cfg: VizDoomRunConfig, spec_names: list[str], log: list[tuple], method: str, seed: int
) -> dict[str, Any]:
    spec_ix = np.array([e[0] for e in log], dtype=np.int64)
    ret = np.array([e[1] for e in log])
    viol = np.array([e[3] for e in log], dtype=np.int64)
    fviol = np.array([e[4] for e in log], dtype=bool)
    medkits = np.array([e[5] for e in log], dtype=np.float64)
    n = len(log)
    ets = episodes_to_safe(fviol, cfg.safe_window, cfg.safe_rate)
    tail = max(1, n // 5)
    rec: dict[str, Any] = {
        "method": method,
        "seed": seed,
        "episodes": n,
        "violations": int(viol.sum()),
        "final_spec_violating_episodes": int(fviol.sum()),
        "episodes_to_safe": ets if ets is not None else n,
        "reached_safe": ets is not None,
        "return": float(ret.mean()) if n else 0.0,
        "return_last20pct": float(ret[-tail:].mean()) if n else 0.0,
        "return_first20pct": float(ret[:tail].mean()) if n else 0.0,
        "medkits": float(medkits.mean()) if n else 0.0,
        "medkits_first20pct": float(medkits[:tail].mean()) if n else 0.0,
        "medkits_last20pct": float(medkits[-tail:].mean()) if n else 0.0,
        "episode_returns": ret.tolist(),
        "episode_medkits": medkits.astype(int).tolist(),
        "episode_final_violations": fviol.astype(int).tolist(),
    }
    for k, name in enumerate(spec_names):
        rec[f"violations_{name}"] = int(viol[spec_ix == k].sum())
        rec[f"episodes_{name}"] = int((spec_ix == k).sum())
    return rec


# --- the experiment -------------------------------------------------------------------------


def run(
    cfg: PPOConfig, out: Path, *, progress: bool = True, tensorboard: bool = True
) -> list[dict[str, Any]]:
    """Every method and seed in turn; ``results.json``, ``summary.md`` and TensorBoard events
    (``tb/METHOD/seedK``) under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(cfg.torch_threads)
    device = pick_device(cfg.device)
    (out / "config.json").write_text(json.dumps(asdict(cfg), indent=2))

    def log(msg: str) -> None:
        if progress:
            print(msg, file=sys.stderr, flush=True)

    results = []
    tb = TensorBoardRuns(out / "tb") if tensorboard and cfg.workers == 1 else None
    # Seed-major, so that a run stopped early still compares every method on its seeds.
    tasks = [(cfg, method, seed, out, str(device)) for seed in range(cfg.seeds)
             for method in cfg.methods]

    def finished(rec: dict[str, Any]) -> None:
        results.append(rec)
        (out / "results.json").write_text(
            json.dumps({"config": asdict(cfg), "device": str(device), "runs": results})
        )
        log(f"{rec['method']} seed {rec['seed']}: {rec['final_spec_violating_episodes']} "
            f"episodes violating the final spec, {rec['seconds']:.0f} s")

    try:
        if cfg.workers == 1:
            for c, method, seed, o, _ in tasks:
                finished(train_run(c, method, seed, o, device, log, tb))
        else:
            import multiprocessing

            # Results come back in task order: results.json is the one process's.
            ctx = multiprocessing.get_context("spawn")
            with ctx.Pool(min(cfg.workers, len(tasks))) as pool:
                for rec in pool.imap(_pool_task, tasks):
                    finished(rec)
    finally:
        if tb is not None:
            tb.close()
    (out / "summary.md").write_text(summarise(results))
    return results


def _pool_task(task: tuple[PPOConfig, str, int, Path, str]) -> dict[str, Any]:
    cfg, method, seed, out, device = task
    torch.set_num_threads(cfg.torch_threads)
    return train_run(cfg, method, seed, out, torch.device(device))


def summarise(results: list[dict[str, Any]]) -> str:
    """A Markdown table: mean ± 95% CI over seeds per method."""
    methods = list(dict.fromkeys(r["method"] for r in results))
    stage_keys = sorted({k for r in results for k in r if k.startswith("violations_")})
    cols = [
        "violations",
        *stage_keys,
        "final_spec_violating_episodes",
        "episodes_to_safe",
        "return",
        "return_first20pct",
        "return_last20pct",
        "medkits",
        "medkits_first20pct",
        "medkits_last20pct",
        "episodes",
    ]
    lines = ["| method | seeds | " + " | ".join(cols) + " |", "|---|---|" + "---|" * len(cols)]
    for m in methods:
        rs = [r for r in results if r["method"] == m]
        cells = []
        for c in cols:
            vals = [r[c] for r in rs if c in r]
            if not vals:
                cells.append("-")
                continue
            mu, ci = mean_ci(vals)
            cells.append(f"{mu:.1f} ± {ci:.1f}")
        lines.append(f"| {m} | {len(rs)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
