"""The VizDoom PPO's safety critic: the shield on the policy's sampling, the critic's replay,
and short real runs (a few hundred steps)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("vizdoom")
torch = pytest.importorskip("torch")

from speclang.agents.errors import ConfigError  # noqa: E402
from speclang.agents.vizdoom.ppo import (  # noqa: E402
    CriticReplay,
    PixelSafetyCritic,
    PPOConfig,
    run,
    shielded_logits,
)
from speclang.agents.vizdoom.specs import DEFAULT_SPEC  # noqa: E402


def _cfg(**kw) -> PPOConfig:
    base = dict(spec_file=DEFAULT_SPEC.as_posix(), seeds=1, total_timesteps=256, num_envs=2,
                num_steps=64, num_minibatches=2, update_epochs=1, downscale=4, frame_stack=2,
                task_reward="medkits", reward_scale=1.0, automaton_input="features",
                critic_batches=2, critic_batch_size=16, critic_buffer=2)
    base.update(kw)
    return PPOConfig(**base)


def test_shielded_logits_never_sample_a_forbidden_action() -> None:
    torch.manual_seed(0)
    logits = torch.randn(3, 5)
    allowed = torch.tensor([[True, False, True, False, False],
                            [False, False, False, False, True],
                            [True] * 5])
    dist = torch.distributions.Categorical(logits=shielded_logits(logits, allowed))
    draws = dist.sample((500,))
    assert bool(allowed.gather(1, draws.T).all())
    # the allowed actions keep their odds; all allowed: the policy unchanged
    p = dist.probs
    expect = torch.softmax(logits[0, [0, 2]], dim=0)
    assert torch.allclose(p[0, [0, 2]], expect, atol=1e-6)
    assert float(p[1, 4]) == pytest.approx(1.0)
    assert torch.allclose(p[2], torch.softmax(logits[2], dim=0))
    assert torch.isfinite(dist.entropy()).all()


def test_replay_pairs_each_transition_with_its_next_inputs() -> None:
    T, N = 3, 2
    replay = CriticReplay(2, T, N, (1, 2, 2), 3, torch.device("cpu"))
    steps = torch.arange(T + 1, dtype=torch.uint8)
    obs = steps[:, None, None, None, None].expand(T + 1, N, 1, 2, 2)
    mon = torch.arange(T + 1, dtype=torch.float32)[:, None, None].expand(T + 1, N, 3)
    act = torch.tensor([[0, 1], [2, 3], [4, 0]])
    violated = np.array([[False, False], [True, False], [False, False]])
    dones = np.array([[False, True], [True, False], [False, False]])
    replay.add(obs, mon, act, violated, dones)
    x, m, a, x2, m2, sink, ended, weight = replay.sample(np.random.default_rng(0), 200)
    assert bool((weight == 1).all())  # a uniform draw
    t = x[:, 0, 0, 0].long()
    assert bool((x2[:, 0, 0, 0].long() == t + 1).all()) and bool((m2[:, 0] == m[:, 0] + 1).all())
    assert bool((m[:, 0].long() == t).all())
    # sink only at the violation, "ended" at the other episode end only
    assert set(zip(t.tolist(), sink.tolist(), ended.tolist(), strict=True)) <= {
        (0, 0.0, 0.0), (0, 0.0, 1.0), (1, 1.0, 0.0), (1, 0.0, 0.0), (2, 0.0, 0.0)}
    assert {(int(ti), int(ai)) for ti, ai in zip(t, a, strict=True)} <= {
        (0, 0), (0, 1), (1, 2), (1, 3), (2, 4), (2, 0)}
    replay.clear()
    assert replay.filled == 0


def test_violations_drawn_more_often_are_weighed_back() -> None:
    T, N = 50, 4
    replay = CriticReplay(3, T, N, (1, 1, 1), 1, torch.device("cpu"))
    rng = np.random.default_rng(1)
    for _ in range(2):
        violated = rng.random((T, N)) < 0.02
        replay.add(torch.zeros(T + 1, N, 1, 1, 1, dtype=torch.uint8), torch.zeros(T + 1, N, 1),
                   torch.zeros(T, N, dtype=torch.long), violated, violated)
    rate = float(replay.sink[:2].mean())  # the violations' share of the replay
    assert 0 < rate < 0.1
    *_, sink, _, weight = replay.sample(np.random.default_rng(2), 20_000, sink_share=0.25)
    assert float(sink.mean()) == pytest.approx(0.25 + 0.75 * rate, abs=0.01)
    # the weighted share is the uniform draw's
    assert float((weight * sink).sum() / weight.sum()) == pytest.approx(rate, rel=0.05)
    # no violations in the replay: a uniform draw
    replay.clear()
    replay.add(torch.zeros(T + 1, N, 1, 1, 1, dtype=torch.uint8), torch.zeros(T + 1, N, 1),
               torch.zeros(T, N, dtype=torch.long), np.zeros((T, N), bool), np.zeros((T, N), bool))
    *_, weight = replay.sample(np.random.default_rng(3), 100, sink_share=0.25)
    assert bool((weight == 1).all())


def test_an_untrained_critic_reports_its_prior() -> None:
    critic = PixelSafetyCritic(2, 30, 40, 7, 5, 16, 4, 0.01)
    out = critic(torch.zeros(3, 2, 30, 40, dtype=torch.uint8), torch.zeros(3, 7))
    assert out.shape == (3, 4, 5)
    # near the prior (the random trunk's output moves it a little): no action over 0.1
    assert torch.allclose(torch.sigmoid(out), torch.full((3, 4, 5), 0.01), atol=2e-3)


def test_a_shield_that_never_blocks_leaves_the_run_as_without_a_critic(tmp_path) -> None:
    # Threshold 1: no action is ever forbidden; the critic trains on its own generators, so
    # the policy's draws, and so the whole run, are those of the same method without it.
    res = run(_cfg(methods=["progressive", "progressive_critic"], critic_threshold=1.0),
              tmp_path, progress=False, tensorboard=False)
    plain, shielded = res
    assert shielded["shielded_steps"] == 0 and len(shielded["critic_losses"]) == 2
    assert plain["episode_returns"] == shielded["episode_returns"]
    a = torch.load(tmp_path / "progressive_seed0.pt")["state_dict"]
    b = torch.load(tmp_path / "progressive_critic_seed0.pt")
    assert all(torch.equal(a[k], b["state_dict"][k]) for k in a)
    assert b["critic"] is not None
    assert shielded["params_trained"] > plain["params_trained"]


def test_a_pessimistic_critic_shields_every_step(tmp_path) -> None:
    # A prior danger of 0.5 is over the threshold everywhere: at every step only the safest
    # action(s) stay allowed.
    res = run(_cfg(methods=["zero_shot_critic"], critic_init=0.5, critic_threshold=0.1),
              tmp_path, progress=False, tensorboard=False)
    (r,) = res
    assert r["steps"] == 256 and r["shielded_steps"] == 256
    assert all(np.isfinite(r["critic_losses"]))


@pytest.mark.parametrize("key, value", [("critic_threshold", 0.0), ("critic_threshold", 1.5),
                                        ("critic_init", 1.0), ("critic_horizon", 0),
                                        ("critic_buffer", 0), ("critic_sink_share", 1.0)])
def test_bad_critic_settings_are_config_errors(key, value) -> None:
    with pytest.raises(ConfigError, match=key):
        _cfg(**{key: value}).validate()


def test_runs_in_worker_processes_are_the_same_runs(tmp_path) -> None:
    cfg = _cfg(methods=["zero_shot", "zero_shot_critic"], total_timesteps=128, num_steps=64)
    alone = run(cfg, tmp_path / "one", progress=False, tensorboard=False)
    cfg.workers = 2
    pooled = run(cfg, tmp_path / "two", progress=False, tensorboard=False)
    assert [r["method"] for r in pooled] == ["zero_shot", "zero_shot_critic"]
    for a, b in zip(alone, pooled, strict=True):
        a.pop("seconds"), b.pop("seconds")
        assert a == b
