"""Per-run random streams: a run alone == the same run in a batch; common random numbers."""

from __future__ import annotations

from typing import Any

import numpy as np

from speclang.agents.builtin_specs import minecraft_progression
from speclang.agents.config import parse_config
from speclang.agents.rng import AGENT_TRAIN, BlockStream, run_generator
from speclang.agents.tabular import RunSpec, TabularBatch


def _cfg(methods: list[dict[str, Any]], seeds: int = 3, episodes: int = 40):
    return parse_config(
        {
            "name": "t",
            "seeds": seeds,
            "env": {"max_steps": 60, "violation_penalty": -1.0},
            "specs": {"source": "builtin"},
            "agent": {"episodes": episodes},
            "eval": {"episodes": 5},
            "methods": methods,
        }
    )


_METHODS = [
    {"name": "prog", "kind": "progressive", "transfer": "correspondence", "switch_every": 8},
    {"name": "zero", "kind": "zero_shot"},
    {"name": "shield", "kind": "pre_shield"},
    {"name": "fear", "kind": "intrinsic_fear"},
]


def _train(batch: TabularBatch) -> TabularBatch:
    while not batch.finished:
        batch.train_step()
    return batch


def test_a_run_alone_equals_the_same_run_in_the_batch() -> None:
    cfg = _cfg(_METHODS)
    auts = minecraft_progression()
    full = _train(TabularBatch(cfg, auts, 7))
    full_eval = full.evaluate(5)
    for r in (1, 5, 10, 11):  # prog/1, zero/2, fear/1 (its own fear state), fear/2
        alone = _train(TabularBatch(cfg, auts, 7, runs=[full.runs[r]]))
        for key in ("ret", "length", "viol", "success", "ep_spec", "Q"):
            assert np.array_equal(alone.st[key][0], full.st[key][r]), (full.runs[r], key)
        alone_eval = alone.evaluate(5)
        for key, values in full_eval.items():
            assert alone_eval[key][0] == values[r], (full.runs[r], key)


def test_methods_share_environment_randomness_at_each_seed_index() -> None:
    cfg = _cfg(_METHODS[:2], seeds=2)
    batch = TabularBatch(cfg, minecraft_progression(), 3)
    runs = [(r.method.name, r.seed_index) for r in batch.runs]
    prog0, prog1 = runs.index(("prog", 0)), runs.index(("prog", 1))
    zero0, zero1 = runs.index(("zero", 0)), runs.index(("zero", 1))
    # the first episode's jittered layout and the slips: equal across methods, per seed index
    masks = batch.env.masks
    assert np.array_equal(masks[prog0], masks[zero0]) and np.array_equal(masks[prog1], masks[zero1])
    slips = batch.env.rng.slip_uniforms()
    assert np.array_equal(slips[prog0], slips[zero0])
    assert not np.array_equal(slips[prog0], slips[prog1])
    # the agents' exploration streams differ between methods
    explore = batch.agent_rng.next()
    assert not np.array_equal(explore[prog0], explore[zero0])


def test_block_reads_equal_single_draws_of_each_run_generator() -> None:
    names = [("a", 0), ("b", 0), ("a", 1)]
    stream = BlockStream([run_generator(11, AGENT_TRAIN, s, m) for m, s in names], 3)
    oracle = [run_generator(11, AGENT_TRAIN, s, m) for m, s in names]
    for _ in range(600):  # crosses two block boundaries
        got = stream.next()
        want = np.array([g.random(3) for g in oracle])
        assert np.array_equal(got, want)


def test_resume_from_a_checkpoint_mid_block_continues_identically() -> None:
    cfg = _cfg(_METHODS[:2], seeds=2)
    auts = minecraft_progression()
    ref = _train(TabularBatch(cfg, auts, 5))
    part = TabularBatch(cfg, auts, 5)
    for _ in range(300):  # 300 is not a multiple of the block size
        part.train_step()
    state = part.state_dict()
    import json

    state["rng"] = json.loads(json.dumps(state["rng"]))  # what a checkpoint file stores
    resumed = TabularBatch(cfg, auts, 5)
    resumed.load_state_dict(state)
    _train(resumed)
    for key in ("ret", "length", "viol", "Q"):
        assert np.array_equal(resumed.st[key], ref.st[key]), key


def test_unlisted_runs_keep_their_results_when_the_batch_changes() -> None:
    # adding a method to the experiment leaves the other methods' runs unchanged
    auts = minecraft_progression()
    small = _train(TabularBatch(_cfg(_METHODS[1:2], seeds=2), auts, 9))
    big = _train(TabularBatch(_cfg(_METHODS[:3], seeds=2), auts, 9))
    rows = [i for i, r in enumerate(big.runs) if r.method.name == "zero"]
    assert np.array_equal(small.st["ret"], big.st["ret"][rows])
    assert isinstance(big.runs[0], RunSpec)


def test_fear_runs_with_different_horizons_keep_their_own_window() -> None:
    # The fear buffer was sized to the batch's longest horizon and every run's pointer
    # wrapped there: a horizon-2 run learned from a 9-step window when it shared a batch
    # with a horizon-9 run (found comparing the Ray backend's small batches with local ones).
    methods = [{"name": "fear2", "kind": "intrinsic_fear", "fear_horizon": 2},
               {"name": "fear9", "kind": "intrinsic_fear", "fear_horizon": 9}]
    cfg = _cfg(methods, seeds=2, episodes=30)
    auts = minecraft_progression()
    full = _train(TabularBatch(cfg, auts, 4))
    for r in range(len(full.runs)):
        alone = _train(TabularBatch(cfg, auts, 4, runs=[full.runs[r]]))
        for key in ("ret", "length", "viol", "success", "Q"):
            assert np.array_equal(alone.st[key][0], full.st[key][r]), (full.runs[r], key)
