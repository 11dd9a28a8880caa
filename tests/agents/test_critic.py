"""The tabular safety critic: its TD rule, its transfer through the automaton-state
correspondence, its shield inside the learner, per-run reproducibility, config errors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest

from speclang.agents.builtin_specs import minecraft_progression
from speclang.agents.config import parse_config
from speclang.agents.critic import (
    allowed_actions,
    critic_targets,
    critic_update,
    transfer_critic,
)
from speclang.agents.envs.layouts import N_ACTIONS, N_STAGES, PROP_BIT, move_table
from speclang.agents.errors import ConfigError
from speclang.agents.monitors import correspondence
from speclang.agents.tabular import TabularBatch
from speclang.runtime.build import automaton_from_function

# --- the TD rule on a hand-computed case ------------------------------------------------------


class _Chain:
    """A flat critic over states x0, x1 and two actions, stepped with the learner's rule."""

    def __init__(self, horizon: int = 3, alpha: float = 0.05, prior: float = 0.0) -> None:
        self.C = np.zeros((2, horizon, 2))
        self.n = np.zeros((2, 2), dtype=np.int64)
        self.alpha, self.prior = alpha, prior

    def step(self, x: int, a: int, x2: int | None, ended: bool = False) -> None:
        """x2 None: the transition entered the violation sink."""
        sink = x2 is None
        nxt = np.zeros((1,) + self.C.shape[1:]) if sink else self.C[[x2]]
        target = critic_targets(nxt, np.array([sink]), np.array([ended]))
        c, n = critic_update(self.C[[x], :, a], self.n[[x], a], target, self.alpha,
                             self.prior)
        self.C[x, :, a], self.n[x, a] = c[0], n[0]


def test_td_rule_against_a_hand_computation() -> None:
    ch = _Chain()
    ch.step(1, 0, None)  # x1: both actions enter the sink
    ch.step(1, 1, None)
    assert np.allclose(ch.C[1], 1.0)
    ch.step(0, 0, 1)  # x0 -a0-> x1: safe now, but every continuation violates next step
    assert np.allclose(ch.C[0, :, 0], [0.0, 1.0, 1.0])
    ch.step(0, 0, 1)  # same target again: a running mean of equal targets stays put
    assert np.allclose(ch.C[0, :, 0], [0.0, 1.0, 1.0]) and ch.n[0, 0] == 2
    # x0 -a1-> x0 (stay): h=1 target 0; h=2: min_a C1(x0) = 0; h=3: min_a C2(x0) = min(1, 0)
    ch.step(0, 1, 0)
    assert np.allclose(ch.C[0, :, 1], [0.0, 0.0, 0.0])
    ch.step(0, 1, None)  # a slip into the sink: step 1/2
    assert np.allclose(ch.C[0, :, 1], [0.5, 0.5, 0.5])
    # step 1/3; targets [0, min(0, .5) = 0, min(1, .5) = .5]
    ch.step(0, 1, 0)
    assert np.allclose(ch.C[0, :, 1], [0.5 - 0.5 / 3, 0.5 - 0.5 / 3, 0.5])
    # a finished task ends all danger: targets 0 at every horizon
    ch.step(1, 0, 0, ended=True)
    assert np.allclose(ch.C[1, :, 0], 0.5)


def test_the_prior_counts_as_safe_observations() -> None:
    ch = _Chain(horizon=1, alpha=0.01, prior=10)
    ch.step(0, 0, None)  # a violation, then a safe step, then a violation: hits / (n + 10)
    assert np.isclose(ch.C[0, 0, 0], 1 / 11)
    ch.step(0, 0, 1)
    assert np.isclose(ch.C[0, 0, 0], 1 / 12)
    ch.step(0, 0, None)
    assert np.isclose(ch.C[0, 0, 0], 2 / 13)


def test_step_size_floor_takes_over_from_the_running_mean() -> None:
    c, n = np.zeros((1, 1)), np.array([99])
    c2, _ = critic_update(c, n, np.ones((1, 1)), 0.05)
    assert np.isclose(c2[0, 0], 0.05)  # 1/100 < 0.05
    c3, _ = critic_update(c, np.array([3]), np.ones((1, 1)), 0.05)
    assert np.isclose(c3[0, 0], 0.25)


def test_allowed_actions_below_threshold_or_the_safest() -> None:
    danger = np.array([[0.0, 0.2, 0.05], [0.5, 0.3, 0.3], [0.9, np.inf, 0.1]])
    ok = allowed_actions(danger, np.array([0.1, 0.1, 0.2]))
    assert ok.tolist() == [[True, False, True], [False, True, True], [False, False, True]]


# --- transfer through the correspondence -----------------------------------------------------


def _never(bad: str, memory: str | None = None):
    """G !bad; with ``memory`` a second safe state remembers having seen it."""
    props = [bad] + ([memory] if memory else [])

    def step(q: int, v: Mapping[str, bool]) -> int:
        if q == 2 or v[bad]:
            return 2
        return 1 if (memory and (q == 1 or v[memory])) else 0

    return automaton_from_function(props, 3, step, accepting=[True, True, False])


_LETTERS = [0, PROP_BIT["creeper"], PROP_BIT["wood"], PROP_BIT["creeper"] | PROP_BIT["wood"]]


def _tables(n_states: int, base: float) -> np.ndarray:
    # [env_states=2, states, H=2, A=3], values that differ per (env state, state, h, action)
    out = np.zeros((2, n_states, 2, 3))
    for s in range(2):
        for q in range(n_states):
            out[s, q] = base + 0.1 * q + 0.01 * s + np.arange(6).reshape(2, 3) * 0.001
    return out


def test_correspondence_transfer_takes_the_worst_case_over_paired_states() -> None:
    old = _never("creeper", memory="wood")  # 0: no wood yet, 1: wood seen, 2: sink
    new = _never("creeper")  # 0 safe (1 unreachable), 2 sink
    pairs = correspondence(new, old, _LETTERS)
    assert pairs[0] == {0, 1} and pairs[2] == {2}
    table = _tables(3, 0.2)
    table[:, 0, 1, 2] = 0.9  # state 0 is the worse one at one entry, state 1 elsewhere
    got = transfer_critic("correspondence", table[None], [old, new], [pairs])
    want = np.maximum(table[:, 0], table[:, 1])
    assert np.allclose(got[:, 0], want)
    assert got[0, 0, 1, 2] == 0.9 and got[0, 0, 0, 0] == table[0, 1, 0, 0]
    assert not got[:, 2].any()  # the new sink: never read, left at zero
    # index equality would have paired new 0 with old 0 only, missing old 1's danger
    assert not np.allclose(got[:, 0], table[:, 0])


def test_correspondence_transfer_copies_to_every_state_paired_with_one() -> None:
    old = _never("creeper")
    new = _never("creeper", memory="wood")
    pairs = correspondence(new, old, _LETTERS)
    assert pairs[0] == {0} and pairs[1] == {0}
    table = _tables(3, 0.4)
    got = transfer_critic("correspondence", table[None], [old, new], [pairs])
    assert np.allclose(got[:, 0], table[:, 0]) and np.allclose(got[:, 1], table[:, 0])
    assert not transfer_critic("none", table[None], [old, new], [pairs]).any()


def test_the_worst_case_runs_over_all_earlier_specs() -> None:
    a, b = _never("creeper"), _never("creeper", memory="wood")
    pairs = [correspondence(a, a, _LETTERS), correspondence(a, b, _LETTERS)]
    tables = np.stack([_tables(3, 0.1), _tables(3, 0.3)])
    got = transfer_critic("correspondence", tables, [a, b, a], pairs)
    want = np.max([tables[0, :, 0], tables[1, :, 0], tables[1, :, 1]], axis=0)
    assert np.allclose(got[:, 0], want)


# --- inside the learner ----------------------------------------------------------------------


def _cfg(methods: list[dict[str, Any]], seeds: int = 2, episodes: int = 60, **env: Any):
    return parse_config({
        "name": "t",
        "seeds": seeds,
        "env": {"max_steps": 100, "violation_penalty": -1.0, **env},
        "specs": {"source": "builtin"},
        "agent": {"episodes": episodes},
        "eval": {"episodes": 5},
        "methods": methods,
    })


def _train(batch: TabularBatch) -> TabularBatch:
    while not batch.finished:
        batch.train_step()
    return batch


def _deadly(batch: TabularBatch, k: int) -> np.ndarray:
    """bool[S, Qmax, A] of spec k: the slip-free, jitter-free move enters the sink (oracle
    from the move table, the layout's labels and the automaton, not from the learner)."""
    aut = batch.automata[k]
    layout = batch.layout
    masks = layout.base_masks()
    moves = move_table(layout.size)
    out = np.zeros((batch.S, batch.Qmax, N_ACTIONS), dtype=bool)
    letter = {m: {p for p, bit in PROP_BIT.items() if m & bit} for m in range(128)}
    for cell in range(layout.size * layout.size):
        for stage in range(N_STAGES):
            for q in range(aut.n_states):
                for a in range(N_ACTIONS):
                    nxt = aut.step(q, letter[int(masks[moves[cell, a]])])
                    out[cell * N_STAGES + stage, q, a] = nxt == aut.violation_sink
    return out


@pytest.mark.parametrize(("prior", "threshold", "tries"), [(0, 0.5, 1), (10, 0.1, 2)])
def test_without_slips_the_shield_stops_each_deadly_move_after_its_first_tries(
        prior: int, threshold: float, tries: int) -> None:
    critic = {"critic_prior": prior, "critic_threshold": threshold}
    cfg = _cfg([{"name": "c", "kind": "zero_shot", "critic": "all", **critic},
                {"name": "z", "kind": "zero_shot", "critic": "learn", **critic}],
               seeds=2, episodes=150, slip=0.0, jitter=0.0)
    b = _train(TabularBatch(cfg, minecraft_progression(), 3))
    deadly = _deadly(b, b.K - 1)
    for i, run in enumerate(b.runs):
        k = b.critic_pos[i]
        C, n = b.st["C"][k, b.K - 1], b.st["C_n"][k, b.K - 1]
        seen = n > 0
        # deterministic moves: the one-step danger of a tried move is hits / (tries + prior)
        want = np.where(deadly, n / np.maximum(n + prior, 1), 0.0)
        assert np.allclose(C[..., 0, :][seen], want[seen]), run
        violations = int(b.st["viol"][i].sum())
        assert violations == int(n[deadly].sum()) > 0  # each violation is one deadly try
        if run.method.critic == "all":
            # blocked once its danger reaches the threshold, never tried again
            assert 1 <= n[deadly].max() <= tries
        else:
            assert n[deadly].max() > 1  # learning alone does not stop the agent at once


def _creeper_moves(batch: TabularBatch) -> np.ndarray:
    """bool[cell, A]: the slip-free, jitter-free move lands on a creeper (from the move table
    and the layout's labels). Every spec of the progression forbids creepers always."""
    masks = batch.layout.base_masks()
    moves = move_table(batch.layout.size)
    return (masks[moves] & PROP_BIT["creeper"]) != 0


def test_a_pooled_critic_blocks_a_hazard_in_every_product_state_after_one_hit() -> None:
    critic = {"critic": "all", "critic_prior": 0, "critic_threshold": 0.5}
    cfg = _cfg([{"name": "pool", "kind": "zero_shot", "critic_pool": "cell", **critic},
                {"name": "own", "kind": "zero_shot", **critic}],
               seeds=2, episodes=300, slip=0.0, jitter=0.0)
    b = _train(TabularBatch(cfg, minecraft_progression(), 5))
    creeper = _creeper_moves(b)
    cells = b.layout.size * b.layout.size
    tries = {}
    for i, run in enumerate(b.runs):
        n = b.st["C_n"][b.critic_pos[i], b.K - 1]  # [S, Qmax, A]
        per_cell = n.reshape(cells, N_STAGES * b.Qmax, N_ACTIONS).sum(axis=1)
        tries[run.method.name, run.seed_index] = per_cell[creeper]
        if run.method.name == "pool":
            # one hit makes the pooled danger 1 at that (cell, move): every stage and
            # monitor state then reads it and the shield never takes the move again
            assert per_cell[creeper].max() == 1
            assert int(b.st["viol"][i].sum()) == int(n[_deadly(b, b.K - 1)].sum())
            pooled = b.st["Cp"][b.critic_pos[i], b.K - 1, ..., 0, :]
            assert np.allclose(pooled[creeper][per_cell[creeper] > 0], 1.0)
    # without pooling each product state learns the creeper on its own: some move is hit
    # in more than one of them
    assert max(int(tries["own", s].max()) for s in range(2)) > 1


def test_each_final_spec_violation_is_recorded_where_it_happened() -> None:
    cfg = _cfg([{"name": "p", "kind": "progressive", "transfer": "correspondence",
                 "switch_every": 15}, {"name": "z", "kind": "zero_shot"}],
               seeds=2, episodes=60, slip=0.0, jitter=0.0)
    b = _train(TabularBatch(cfg, minecraft_progression(), 1))
    t4, masks = b.automata[-1], b.layout.base_masks()
    letter = {m: {p for p, bit in PROP_BIT.items() if m & bit} for m in range(128)}
    for i in range(len(b.runs)):
        n = int(b.st["ep_count"][i])
        fv, cell, q = b.st["fviol"][i, :n], b.st["fviol_cell"][i, :n], b.st["fviol_q"][i, :n]
        assert fv.any() and (cell[~fv] == -1).all() and (q[~fv] == -1).all()
        # no slips, no jitter: the recorded cell's own label drives the recorded state of
        # the final spec's automaton into its sink (checked on the automaton itself)
        for c, qq in zip(cell[fv].tolist(), q[fv].tolist(), strict=True):
            assert qq != t4.violation_sink
            assert t4.step(qq, letter[int(masks[c])]) == t4.violation_sink


def test_the_penalty_is_lambda_times_the_danger_of_the_action_taken() -> None:
    def one_step(penalty: float) -> TabularBatch:
        # the same method name: the same random streams, so the same action in both batches
        m = {"name": "p", "kind": "zero_shot", "critic": "all", "critic_penalty": penalty}
        b = TabularBatch(_cfg([m], seeds=1), minecraft_progression(), 0)
        b.st["C"][:] = 0.25  # every action as dangerous: the shield allows them all
        b.st["C_n"][:] = 1
        b.train_step()
        return b

    plain, penalised = one_step(0.0), one_step(4.0)
    diff = penalised.st["Q"] - plain.st["Q"]
    changed = np.flatnonzero(diff)
    assert len(changed) == 1  # the one entry updated, by alpha * (-lambda * danger)
    assert np.isclose(diff.flat[changed[0]], -0.9 * 4.0 * 0.25)


def test_a_switch_transfers_the_critic_through_the_correspondence() -> None:
    method = {"name": "p", "kind": "progressive", "transfer": "correspondence",
              "switch_every": 20, "critic": "explore"}
    b = TabularBatch(_cfg([method], seeds=1, episodes=60), minecraft_progression(), 0)
    rng = np.random.default_rng(1)
    b.st["C"][0, 0] = rng.random(b.st["C"][0, 0].shape)
    b.st["C_n"][0, 0, :5] = 1
    b._switch(0, 1, 20)
    want = transfer_critic("correspondence", b.st["C"][0, :1], b.automata[:2], b.pairs[1][:1])
    assert np.array_equal(b.st["C"][0, 1], want) and want.any()
    assert (b.st["C_n"][0, 1, :5].max(axis=-1) == 1).any() and not b.st["C_n"][0, 1, 5:].any()
    off = {**method, "name": "q", "critic_transfer": "none"}
    b2 = TabularBatch(_cfg([off], seeds=1, episodes=60), minecraft_progression(), 0)
    b2.st["C"][0, 0] = 1.0
    b2._switch(0, 1, 20)
    assert not b2.st["C"][0, 1].any()


def test_a_stage_budget_in_steps_leaves_each_early_spec_once_it_is_spent() -> None:
    # threshold 0: the violation rate never releases a spec, only the budgets do
    method = {"name": "p", "kind": "progressive", "transfer": "correspondence",
              "schedule": "adaptive", "threshold": 0.0, "min_episodes": 1, "window": 1,
              "max_steps_per_task": 150}
    b = _train(TabularBatch(_cfg([method], seeds=2, episodes=120), minecraft_progression(), 4))
    for i in range(len(b.runs)):
        n = int(b.st["ep_count"][i])
        spec, length = b.st["ep_spec"][i, :n], b.st["length"][i, :n].astype(np.int64)
        assert spec[-1] == b.K - 1  # every early spec was left
        for k in range(b.K - 1):
            steps = length[spec == k]
            # left at the first episode end with the budget spent, not before or after
            assert steps.sum() >= 150 > steps[:-1].sum(), (i, k, steps)


def test_a_target_pooled_critic_learns_each_hazard_cell_from_one_hit() -> None:
    # on T1 (kept there), no slips or jitter: every move into lava or a creeper violates
    critic = {"kind": "progressive", "switch_every": 10_000, "critic": "all",
              "critic_prior": 0, "critic_threshold": 0.5}
    cfg = _cfg([{"name": "target", "critic_pool": "target", **critic},
                {"name": "cell", "critic_pool": "cell", **critic}],
               seeds=3, episodes=300, slip=0.0, jitter=0.0)
    b = _train(TabularBatch(cfg, minecraft_progression(), 6))
    moves = move_table(b.layout.size)
    target = np.broadcast_to(moves[np.arange(b.S) // N_STAGES][:, None, :],
                             (b.S, b.Qmax, N_ACTIONS))
    deadly = _deadly(b, 0)
    most = {}
    for i, run in enumerate(b.runs):
        n = b.st["C_n"][b.critic_pos[i], 0]
        hits = np.bincount(target[deadly], weights=n[deadly], minlength=b.cells)
        assert hits.sum() == b.st["viol"][i].sum() > 0
        most[run.method.name] = max(most.get(run.method.name, 0), int(hits.max()))
    # pooled by the cell a move heads for, one hit blocks every way into that cell; pooled
    # by (cell, move), each side of a hazard is learned on its own
    assert most["target"] == 1 and most["cell"] > 1


def test_the_pool_prior_sets_the_pooled_entries_pseudo_counts_only() -> None:
    # kept on T1 (no switch within the run), which forbids creepers in every state: every
    # move onto one is a violation
    critic = {"kind": "progressive", "switch_every": 10_000, "critic": "learn",
              "critic_pool": "cell", "critic_prior": 10}
    cfg = _cfg([{"name": "p0", "critic_pool_prior": 0, **critic},
                {"name": "p3", "critic_pool_prior": 3, **critic},
                {"name": "same", **critic}],
               seeds=1, episodes=200, slip=0.0, jitter=0.0)
    b = _train(TabularBatch(cfg, minecraft_progression(), 2))
    creeper = _creeper_moves(b)
    for i, run in enumerate(b.runs):
        k = b.critic_pos[i]
        n0 = {"p0": 0, "p3": 3, "same": 10}[run.method.name]
        pn = b.st["Cp_n"][k, 0]
        tried = creeper & (pn > 0) & (pn < 20)  # below the step-size floor's reach
        assert tried.any(), run
        # deterministic moves onto a creeper: every try is a hit, so the running mean
        # under n0 pseudo-observations of "safe" is n / (n + n0)
        got = b.st["Cp"][k, 0, ..., 0, :][tried]
        assert np.allclose(got, pn[tried] / (pn[tried] + n0)), run
        if run.method.name == "p0":
            # a product entry hit once keeps critic_prior = 10: it starts from the pooled
            # value p (0 before the move's first hit anywhere, 1 after) and moves 1/11 of
            # the way to 1
            n, C = b.st["C_n"][k, 0], b.st["C"][k, 0, ..., 0, :]
            once = C[_deadly(b, 0) & (n == 1)]
            assert np.isclose(once, 1 / 11).any()
            assert (np.isclose(once, 1 / 11) | np.isclose(once, 1.0)).all()


def test_a_carried_pool_starts_the_next_spec_from_the_last_ones() -> None:
    method = {"name": "p", "kind": "progressive", "transfer": "correspondence",
              "switch_every": 20, "critic": "all", "critic_pool": "cell"}
    for carry in ("carry", "none"):
        b = TabularBatch(_cfg([{**method, "critic_pool_transfer": carry}], seeds=1,
                              episodes=60), minecraft_progression(), 0)
        pool = np.random.default_rng(3).random(b.st["Cp"][0, 0].shape)
        b.st["Cp"][0, 0] = pool
        b.st["Cp_n"][0, 0] = np.arange(b.st["Cp_n"][0, 0].size).reshape(
            b.st["Cp_n"][0, 0].shape) % 4
        b._switch(0, 1, 20)
        if carry == "carry":
            assert np.array_equal(b.st["Cp"][0, 1], pool)
            # a learned entry counts as one earlier update, an unlearned one as none
            assert np.array_equal(b.st["Cp_n"][0, 1], np.minimum(b.st["Cp_n"][0, 0], 1))
        else:
            assert not b.st["Cp"][0, 1].any() and not b.st["Cp_n"][0, 1].any()


@pytest.mark.parametrize("on", ["all", "final"])
def test_a_final_only_penalty_is_off_before_the_final_spec(on: str) -> None:
    def one_step(penalty: float, spec: int) -> TabularBatch:
        m = {"name": "p", "kind": "progressive", "switch_every": 10, "critic": "all",
             "critic_penalty": penalty, "critic_penalty_on": on}
        b = TabularBatch(_cfg([m], seeds=1), minecraft_progression(), 0)
        if spec:
            b._switch(0, spec, 0)
            b._reset_rows(b.rows)
        b.st["C"][:] = 0.25
        b.st["C_n"][:] = 1
        b.train_step()
        return b

    for spec in (0, 3):
        diff = one_step(4.0, spec).st["Q"] - one_step(0.0, spec).st["Q"]
        active = on == "all" or spec == 3
        assert np.isclose(diff.sum(), -0.9 * 4.0 * 0.25 if active else 0.0), (on, spec)


_NEW_METHODS = [
    {"name": "prog-critic", "kind": "progressive", "transfer": "correspondence",
     "combine": "min", "switch_every": 10, "critic": "all", "critic_horizon": 2},
    {"name": "zero-critic", "kind": "zero_shot", "critic": "explore", "critic_horizon": 4,
     "critic_shaping": 0.5},
    {"name": "prog-critic-none", "kind": "progressive", "switch_every": 10, "critic": "all",
     "critic_transfer": "none", "critic_threshold": 0.2},
    {"name": "paper-code", "kind": "progressive", "transfer": "paper_code", "switch_every": 10},
    {"name": "shield-critic", "kind": "pre_shield", "critic": "all"},
    {"name": "fear-per-stage", "kind": "progressive", "transfer": "correspondence",
     "switch_every": 10, "fear": "per_stage", "fear_phase_in": 15, "fear_horizon": 3},
    {"name": "prog-critic-pool", "kind": "progressive", "transfer": "correspondence",
     "switch_every": 10, "critic": "all", "critic_pool": "cell", "critic_shaping": 0.5},
    {"name": "zero-critic-penalty", "kind": "zero_shot", "critic": "all", "critic_pool": "cell",
     "critic_penalty": 3.0},
    {"name": "prog-pool-knobs", "kind": "progressive", "transfer": "correspondence",
     "schedule": "adaptive", "min_episodes": 5, "window": 5, "max_steps_per_task": 200,
     "critic": "all", "critic_pool": "target", "critic_pool_prior": 1,
     "critic_pool_transfer": "carry", "critic_penalty": 2.0, "critic_penalty_on": "final"},
    {"name": "zero", "kind": "zero_shot"},
]


def test_new_methods_alone_equal_the_same_runs_in_a_batch() -> None:
    cfg = _cfg(_NEW_METHODS, seeds=2, episodes=50)
    auts = minecraft_progression()
    full = _train(TabularBatch(cfg, auts, 7))
    full_eval = full.evaluate(5)
    for r in range(0, len(full.runs), 2):
        alone = _train(TabularBatch(cfg, auts, 7, runs=[full.runs[r]]))
        for key in ("ret", "length", "viol", "success", "ep_spec", "Q"):
            assert np.array_equal(alone.st[key][0], full.st[key][r]), (full.runs[r], key)
        k = full.critic_pos[r]
        if k >= 0:
            h = full.runs[r].method.critic_horizon
            assert np.array_equal(alone.st["C"][0][..., :h, :], full.st["C"][k][..., :h, :])
            assert np.array_equal(alone.st["C_n"][0], full.st["C_n"][k])
            if full.runs[r].method.critic_pool != "none":
                assert np.array_equal(alone.st["Cp"][0][..., :h, :], full.st["Cp"][k][..., :h, :])
        alone_eval = alone.evaluate(5)
        for key, values in full_eval.items():
            assert alone_eval[key][0] == values[r], (full.runs[r], key)


def test_paper_code_meets_a_state_with_the_mean_of_earlier_indices() -> None:
    method = {"name": "pc", "kind": "progressive", "transfer": "paper_code", "switch_every": 10}
    b = TabularBatch(_cfg([method], seeds=1, episodes=40), minecraft_progression(), 0)
    st = b.st
    s = 123
    st["spec"][0] = 3  # T4: indices 0, 1, 2 came before
    st["Q"][0, 3, s, 0] = 1.0
    st["Q"][0, 3, s, 2] = 3.0
    st["Q"][0, 3, s, 1] = 50.0
    st["pc_seen"][0, s, [0, 2]] = True  # index 1 never met at s: not averaged
    q5 = b.mon.offset[3] + 5
    b._paper_code_meet(np.array([0]), np.array([s]), np.array([q5]))
    assert np.allclose(st["Q"][0, 3, s, 5], 2.0) and st["pc_seen"][0, s, 5]
    st["Q"][0, 3, s, 5] = 7.0
    b._paper_code_meet(np.array([0]), np.array([s]), np.array([q5]))  # met: left alone
    assert np.allclose(st["Q"][0, 3, s, 5], 7.0)
    # a switch carries the one table on whole (no transfer rule between separate tables)
    st["spec"][0] = 0
    st["Q"][0, 0] = rng_table = np.random.default_rng(0).random(st["Q"][0, 0].shape)
    b._switch(0, 1, 10)
    assert np.array_equal(st["Q"][0, 1], rng_table)


def test_per_stage_fear_restarts_its_danger_model_at_each_switch() -> None:
    methods = [{"name": f, "kind": "progressive", "switch_every": 10, "fear": f,
                "fear_lambda": 0.8, "fear_phase_in": 40} for f in ("shared", "per_stage")]
    b = TabularBatch(_cfg(methods, seeds=1, episodes=40), minecraft_progression(), 0)
    assert b.fear_rows.tolist() == [0, 1]
    b.st["fear_pos"][:] = 1.0
    b.st["fear_tot"][:] = 2.0
    for r in (0, 1):
        b._switch(r, 1, 10)
    assert (b.st["fear_pos"][0] == 1.0).all() and (b.st["fear_tot"][0] == 2.0).all()
    assert not b.st["fear_pos"][1].any() and not b.st["fear_tot"][1].any()
    # lambda phased in over each spec's first 40 episodes: 10 episodes into spec 1 -> 1/4
    b.st["ep_count"][:] = 20
    assert np.allclose(b._fear_weight(b.fear_rows), 0.8 * 10 / 40)
    b.st["ep_count"][:] = 90
    assert np.allclose(b._fear_weight(b.fear_rows), 0.8)


def test_default_intrinsic_fear_keeps_full_lambda_from_the_start() -> None:
    b = TabularBatch(_cfg([{"name": "f", "kind": "intrinsic_fear"}], seeds=1),
                     minecraft_progression(), 0)
    assert np.allclose(b._fear_weight(b.fear_rows), 0.5)


@pytest.mark.parametrize(("change", "message"), [
    ({"critic": "always"}, "critic: 'always' is not one of"),
    ({"critic": "all", "kind": "no_safeguard"}, "no monitor"),
    ({"critic": "all", "critic_horizon": 0}, "critic_horizon must be >= 1"),
    ({"critic": "all", "critic_threshold": 1.5}, "critic_threshold must be a probability"),
    ({"critic": "all", "critic_alpha": 0.0}, "critic_alpha must be in (0, 1]"),
    ({"critic": "all", "critic_prior": -1}, "critic_prior must be >= 0"),
    ({"critic": "all", "critic_shaping": -1.0}, "critic_shaping must be >= 0"),
    ({"critic_shaping": 0.5}, "critic_shaping needs a critic"),
    ({"critic": "all", "critic_transfer": "paper"}, "critic_transfer: 'paper' is not one of"),
    ({"transfer": "paper_code"}, "paper_code needs kind = progressive"),
    ({"fear": "per_stage"}, "fear is for kind = progressive"),
    ({"kind": "progressive", "fear": "always"}, "fear: 'always' is not one of"),
    ({"kind": "intrinsic_fear", "fear_phase_in": -1}, "fear_phase_in must be >= 0"),
    ({"critic": "all", "critic_horizon": 2.5}, "critic_horizon: expected int"),
    ({"critic": "all", "critic_pool": "stage"}, "critic_pool: 'stage' is not one of"),
    ({"critic_pool": "cell"}, "critic_pool needs a critic"),
    ({"critic": "all", "critic_penalty": -1.0}, "critic_penalty must be >= 0"),
    ({"critic_penalty": 1.0}, "critic_penalty needs a critic"),
    ({"critic": "all", "critic_pool_prior": 1}, "critic_pool_prior and critic_pool_transfer"),
    ({"critic": "all", "critic_pool": "cell", "critic_pool_prior": -2},
     "critic_pool_prior must be >= 0"),
    ({"critic": "all", "critic_pool": "cell", "critic_pool_transfer": "max"},
     "critic_pool_transfer: 'max' is not one of"),
    ({"critic": "all", "critic_penalty_on": "first"}, "critic_penalty_on: 'first' is not one"),
    ({"kind": "progressive", "max_steps_per_task": -1}, "max_steps_per_task must be >= 0"),
])
def test_critic_config_errors(change: dict[str, Any], message: str) -> None:
    method = {"name": "m", "kind": "zero_shot", **change}
    with pytest.raises(ConfigError) as err:
        _cfg([method])
    assert message in str(err.value)
