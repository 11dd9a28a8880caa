"""Experiment configuration: dataclasses read from a TOML file (see ``examples/experiments``)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .errors import ConfigError

METHOD_KINDS = ("progressive", "zero_shot", "no_safeguard", "intrinsic_fear", "pre_shield")
TRANSFERS = ("none", "paper", "paper_code", "correspondence")
# The safety critic's modes and transfers (agents/critic.py).
CRITIC_MODES = ("none", "learn", "explore", "all")
CRITIC_TRANSFERS = ("correspondence", "none")
CRITIC_POOLS = ("none", "cell", "target")
CRITIC_POOL_TRANSFERS = ("none", "carry")
CRITIC_PENALTY_ON = ("all", "final")
FEARS = ("none", "shared", "per_stage")
COMBINES = ("mean", "min")
SCHEDULES = ("fixed", "adaptive")
REWARD_MODES = ("paper", "task")


@dataclass
class EnvConfig:
    layout: str = "L1"
    reward_mode: str = "task"
    max_steps: int = 1000
    slip: float = 0.05
    jitter: float = 0.05
    # Added to the step's reward (replacing the safe-step reward in paper mode) when the
    # safeguard sees a violation; the episode then ends.
    violation_penalty: float = -0.1


@dataclass
class SpecConfig:
    source: str = "file"  # "file": compile `file`; "builtin": agents.builtin_specs
    file: str = "examples/minecraft.spec"
    progression: str = "minecraft"


@dataclass
class AgentConfig:
    alpha: float = 0.9
    gamma: float = 0.9
    epsilon: float = 0.1
    episodes: int = 5000
    # "episodes": every run trains `episodes` episodes. "steps": a run trains until it has
    # taken `steps` environment steps (the episode under way is finished), at most
    # `episodes` episodes: methods whose episodes are longer get fewer of them.
    budget: str = "episodes"
    steps: int = 0


@dataclass
class EvalConfig:
    episodes: int = 100
    safe_window: int = 50  # trailing window for "episodes to 95% safe"
    safe_rate: float = 0.95


@dataclass
class RunConfig:
    checkpoint_every: int = 20_000  # batch steps between checkpoints
    log_every: int = 5_000  # batch steps between metrics.jsonl / TensorBoard records


@dataclass
class MethodConfig:
    name: str
    kind: str
    transfer: str = "none"
    combine: str = "mean"
    transfer_from: str = "all"  # "all" earlier specs, or only the "last" one
    schedule: str = "fixed"
    switch_every: int = 0  # fixed schedule; 0 = equal shares, the final spec the remainder
    window: int = 50  # adaptive schedule: advance when the recent violation rate is low
    threshold: float = 0.05
    min_episodes: int = 100
    max_episodes_per_task: int = 0  # 0 = no cap before the final spec
    # A stage budget in environment steps (0 = none): a spec before the final one is left
    # once the run has taken this many steps on it, however long its episodes are. The
    # episode cap alone lets a run that wanders (long episodes, violation rate above the
    # threshold) stay on an early spec for the whole budget.
    max_steps_per_task: int = 0
    fear_lambda: float = 0.5
    fear_horizon: int = 5
    # Fear on a progressive method (agents/tabular.py): "shared" one danger model for all
    # specs, "per_stage" restarted at each switch; intrinsic_fear always has it.
    fear: str = "none"
    fear_phase_in: int = 0  # episodes of each spec over which lambda ramps up from 0
    # The learned safety critic (agents/critic.py): "learn" only learns it (for shaping or
    # to pass on), "explore" also shields exploratory actions, "all" greedy ones too.
    critic: str = "none"
    critic_threshold: float = 0.1  # an action is allowed when its danger is below this
    critic_horizon: int = 3  # steps within which reaching the violation sink counts
    critic_alpha: float = 0.02  # floor of the critic's step size (a running mean before)
    critic_prior: int = 10  # pseudo-observations of "safe" behind every critic entry
    critic_transfer: str = "correspondence"  # at each switch of a progression
    critic_shaping: float = 0.0  # kappa of the potential -kappa * danger; 0 = none
    # lambda of a penalty -lambda * danger of the action taken. Unlike the potential it is
    # not policy-invariant: risky moves (those a slip can turn into a violation) cost, so
    # the optimal route keeps its distance from hazards.
    critic_penalty: float = 0.0
    # "final": the penalty only while learning the final spec. On the strict early specs a
    # penalty near every hazard of the route can make the task not worth doing.
    critic_penalty_on: str = "all"
    # "cell": an entry never updated starts from the danger pooled over every automaton
    # state and task stage at the same cell and action (of the spec being learned), instead
    # of 0, so a hazard learned once is known in every product state that meets it.
    # "target": pooled by the cell the move heads for (its slip-free successor) instead of
    # by (cell, move), so a hazard entered from one side is known from all of them.
    critic_pool: str = "none"
    # Pseudo-observations of "safe" behind each pooled entry (-1: critic_prior). Fewer than
    # the product entries' prior: one hit then marks a (cell, move) dangerous in every
    # product state not yet met, while a state's own entry still needs its own evidence.
    critic_pool_prior: int = -1
    # "carry": at each switch the new spec's pooled critic starts from the last spec's (each
    # learned entry counting as one earlier update), so the cells where violations happened
    # stay known as a prior from the first stage on; "none": it starts empty.
    critic_pool_transfer: str = "none"


@dataclass
class ExperimentConfig:
    name: str
    seed: int = 0
    seeds: int = 10
    env: EnvConfig = field(default_factory=EnvConfig)
    specs: SpecConfig = field(default_factory=SpecConfig)
    agent: AgentConfig = field(default_factory=AgentConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    run: RunConfig = field(default_factory=RunConfig)
    methods: list[MethodConfig] = field(default_factory=list)
    base_dir: str = "."  # the config file's directory; relative spec paths start here

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


def _build(cls: type, data: dict[str, Any], where: str) -> Any:
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}")
    kwargs = {}
    for key, value in data.items():
        expected = known[key].type
        if expected in ("int", "float", "str") and not _type_ok(value, expected):
            raise ConfigError(f"{where}.{key}: expected {expected}, got {value!r}")
        kwargs[key] = float(value) if expected == "float" else value
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _type_ok(value: Any, expected: str) -> bool:
    if expected == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if expected == "float":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, str)


def _check_choice(value: str, choices: tuple[str, ...], where: str) -> None:
    if value not in choices:
        raise ConfigError(f"{where}: {value!r} is not one of {', '.join(choices)}")


def parse_config(
    data: dict[str, Any], where: str = "<config>", base_dir: str = "."
) -> ExperimentConfig:
    data = dict(data)
    # `algorithm` picks the loader (agents.registry); the gridworld experiment is "tabular".
    algorithm = data.pop("algorithm", "tabular")
    if algorithm != "tabular":
        raise ConfigError(f"{where}: algorithm {algorithm!r} is not the tabular experiment's")
    sections = {
        "env": EnvConfig,
        "specs": SpecConfig,
        "agent": AgentConfig,
        "eval": EvalConfig,
        "run": RunConfig,
    }
    built: dict[str, Any] = {}
    for key, cls in sections.items():
        sub = data.pop(key, {})
        if not isinstance(sub, dict):
            raise ConfigError(f"{where}: [{key}] must be a table")
        built[key] = _build(cls, sub, f"{where}: [{key}]")
    raw_methods = data.pop("methods", [])
    if not isinstance(raw_methods, list) or not raw_methods:
        raise ConfigError(f"{where}: at least one [[methods]] entry is required")
    methods = [
        _build(MethodConfig, m, f"{where}: [[methods]] #{i + 1}") for i, m in enumerate(raw_methods)
    ]
    if "name" not in data:
        raise ConfigError(f"{where}: missing top-level key 'name'")
    cfg: ExperimentConfig = _build(ExperimentConfig, {**data, **built, "methods": methods}, where)
    cfg.base_dir = base_dir
    _validate(cfg, where)
    return cfg


def _validate(cfg: ExperimentConfig, where: str) -> None:
    from .envs.layouts import LAYOUTS

    _check_choice(cfg.env.layout, tuple(LAYOUTS), f"{where}: env.layout")
    _check_choice(cfg.env.reward_mode, REWARD_MODES, f"{where}: env.reward_mode")
    _check_choice(cfg.specs.source, ("file", "builtin"), f"{where}: specs.source")
    _check_choice(cfg.agent.budget, ("episodes", "steps"), f"{where}: agent.budget")
    if cfg.agent.budget == "steps" and cfg.agent.steps < 1:
        raise ConfigError(f"{where}: agent.steps must be >= 1 with budget = \"steps\", "
                          f"got {cfg.agent.steps}")
    if cfg.agent.budget == "episodes" and cfg.agent.steps:
        raise ConfigError(f"{where}: agent.steps needs budget = \"steps\"")
    names = [m.name for m in cfg.methods]
    if len(set(names)) != len(names):
        raise ConfigError(f"{where}: method names must be unique")
    for m in cfg.methods:
        w = f"{where}: method {m.name!r}"
        _check_choice(m.kind, METHOD_KINDS, f"{w}.kind")
        _check_choice(m.transfer, TRANSFERS, f"{w}.transfer")
        _check_choice(m.combine, COMBINES, f"{w}.combine")
        _check_choice(m.transfer_from, ("all", "last"), f"{w}.transfer_from")
        _check_choice(m.schedule, SCHEDULES, f"{w}.schedule")
        if m.fear_horizon < 1:
            raise ConfigError(f"{w}.fear_horizon must be >= 1")
        _validate_critic(m, w)
        _check_choice(m.fear, FEARS, f"{w}.fear")
        if m.fear != "none" and m.kind != "progressive":
            raise ConfigError(f"{w}.fear is for kind = progressive (intrinsic_fear has it)")
        if m.max_steps_per_task < 0:
            raise ConfigError(f"{w}.max_steps_per_task must be >= 0, got "
                              f"{m.max_steps_per_task}")
        if m.fear_phase_in < 0:
            raise ConfigError(f"{w}.fear_phase_in must be >= 0, got {m.fear_phase_in}")
    positive = {
        "seeds": cfg.seeds,
        "agent.episodes": cfg.agent.episodes,
        "env.max_steps": cfg.env.max_steps,
        "eval.episodes": cfg.eval.episodes,
        "run.checkpoint_every": cfg.run.checkpoint_every,
        "run.log_every": cfg.run.log_every,
    }
    for key, value in positive.items():
        if value < 1:
            raise ConfigError(f"{where}: {key} must be >= 1, got {value}")
    for key, p in {
        "env.slip": cfg.env.slip,
        "env.jitter": cfg.env.jitter,
        "agent.epsilon": cfg.agent.epsilon,
    }.items():
        if not 0.0 <= p <= 1.0:
            raise ConfigError(f"{where}: {key} must be a probability, got {p}")


def _validate_critic(m: MethodConfig, w: str) -> None:
    _check_choice(m.critic, CRITIC_MODES, f"{w}.critic")
    _check_choice(m.critic_transfer, CRITIC_TRANSFERS, f"{w}.critic_transfer")
    _check_choice(m.critic_pool, CRITIC_POOLS, f"{w}.critic_pool")
    _check_choice(m.critic_pool_transfer, CRITIC_POOL_TRANSFERS, f"{w}.critic_pool_transfer")
    _check_choice(m.critic_penalty_on, CRITIC_PENALTY_ON, f"{w}.critic_penalty_on")
    if m.critic_pool == "none" and (m.critic_pool_prior != -1
                                    or m.critic_pool_transfer != "none"):
        raise ConfigError(f"{w}.critic_pool_prior and critic_pool_transfer need "
                          f"a pooled critic (critic_pool = cell or target)")
    if m.critic_pool_prior < -1:
        raise ConfigError(f"{w}.critic_pool_prior must be >= 0 (or -1: critic_prior), "
                          f"got {m.critic_pool_prior}")
    if m.critic_pool != "none" and m.critic == "none":
        raise ConfigError(f"{w}.critic_pool needs a critic (critic = learn, explore or all)")
    if m.critic != "none" and m.kind == "no_safeguard":
        raise ConfigError(f"{w}.critic: a no_safeguard run has no monitor to learn from")
    if m.critic_horizon < 1:
        raise ConfigError(f"{w}.critic_horizon must be >= 1, got {m.critic_horizon}")
    if not 0.0 <= m.critic_threshold <= 1.0:
        raise ConfigError(f"{w}.critic_threshold must be a probability, got {m.critic_threshold}")
    if not 0.0 < m.critic_alpha <= 1.0:
        raise ConfigError(f"{w}.critic_alpha must be in (0, 1], got {m.critic_alpha}")
    if m.critic_prior < 0:
        raise ConfigError(f"{w}.critic_prior must be >= 0, got {m.critic_prior}")
    if m.critic_shaping < 0.0:
        raise ConfigError(f"{w}.critic_shaping must be >= 0, got {m.critic_shaping}")
    if m.critic_penalty < 0.0:
        raise ConfigError(f"{w}.critic_penalty must be >= 0, got {m.critic_penalty}")
    if m.critic_penalty > 0.0 and m.critic == "none":
        raise ConfigError(f"{w}.critic_penalty needs a critic (critic = learn, explore or all)")
    if m.critic_shaping > 0.0 and m.critic == "none":
        raise ConfigError(f"{w}.critic_shaping needs a critic (critic = learn, explore or all)")
    if m.transfer == "paper_code" and m.kind != "progressive":
        raise ConfigError(f"{w}.transfer: paper_code needs kind = progressive")


def read_toml(path: str | Path) -> dict[str, Any]:
    """The table in ``path``; a missing file or bad TOML is a ConfigError naming the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None


def load_config(path: str | Path) -> ExperimentConfig:
    return parse_config(read_toml(path), str(path), str(Path(path).parent))
