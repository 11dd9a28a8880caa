"""Random streams for batched runs: every run its own generator, common random numbers.

A batch steps many (method, seed) runs in lock-step. If they shared one generator, a run's
draws would depend on which other runs were in the batch, so a run alone would not
reproduce the same run inside an experiment. Here each run gets its own streams, derived
with :class:`numpy.random.SeedSequence` from the base seed and

* ``("env", seed index)`` for the environment (slips, jitter): the same for every method
  at one seed index, so methods are compared under common random numbers;
* ``("agent", method name, seed index)`` for the agent's exploration and tie noise.

Per-step draws are taken in blocks per run, so a step costs one vectorised read rather than
one generator call per run. Block reads of a generator give exactly the values that the
same number of single reads would, so the block size never changes results.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np

_BLOCK = 256

# Stream tags: a tag plus the seed index (and method) form the SeedSequence's spawn key.
ENV_TRAIN, ENV_EVAL, AGENT_TRAIN, AGENT_EVAL, ENV_JITTER, ENV_EVAL_JITTER = range(6)


def _name_key(name: str) -> int:
    # A stable (not per-process salted like hash()) integer for a method name.
    return zlib.crc32(name.encode("utf-8"))


def run_generator(
    base_seed: int, tag: int, seed_index: int, method: str | None = None
) -> np.random.Generator:
    """The generator of one stream of one run; ``method`` is None for environment streams."""
    key = (tag, seed_index) if method is None else (tag, _name_key(method), seed_index)
    return np.random.default_rng(np.random.SeedSequence(base_seed, spawn_key=key))


def derived_seed(base_seed: int, tag: int) -> int:
    """A base seed of its own for a later batch of the same runs (``speclang adapt``), so
    that its streams are not a replay of the training batch's."""
    return int(np.random.SeedSequence(base_seed, spawn_key=(1000 + tag,)).generate_state(1)[0])


class BlockStream:
    """``width`` uniforms per run and step, one generator per run, read in blocks."""

    def __init__(self, generators: Sequence[np.random.Generator], width: int) -> None:
        self.gens = list(generators)
        self.width = width
        self.buf = np.zeros((len(self.gens), _BLOCK, width))
        self.pos = _BLOCK
        # Generator states before the current block was read: a checkpoint stores these and
        # the position, and rebuilds the block on load instead of storing its numbers.
        self.block_states = [g.bit_generator.state for g in self.gens]

    def next(self) -> np.ndarray:
        """float64[n_runs, width] for this step."""
        if self.pos == _BLOCK:
            self.block_states = [g.bit_generator.state for g in self.gens]
            self._fill()
            self.pos = 0
        out = self.buf[:, self.pos]
        self.pos += 1
        return out

    def _fill(self) -> None:
        for i, g in enumerate(self.gens):
            self.buf[i] = g.random((_BLOCK, self.width))

    def state_dict(self) -> dict[str, Any]:
        """JSON-serialisable."""
        return {"block_states": self.block_states, "pos": self.pos}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        states = state["block_states"]
        if len(states) != len(self.gens):
            raise ValueError(f"random state has {len(states)} runs, expected {len(self.gens)}")
        for g, s in zip(self.gens, states, strict=True):
            g.bit_generator.state = s
        self.block_states = list(states)
        self.pos = int(state["pos"])
        if self.pos < _BLOCK:
            self._fill()


class RowRandom:
    """The environment's randomness for a batch, one generator set per environment row.

    ``slip_uniforms`` gives two uniforms per row and step (slip or not, which other action);
    ``jitter_uniforms`` draws a reset row's jitter from that row's own generator.
    """

    def __init__(
        self,
        step_generators: Sequence[np.random.Generator],
        jitter_generators: Sequence[np.random.Generator],
    ) -> None:
        self.steps = BlockStream(step_generators, 2)
        self.jitter = list(jitter_generators)

    @classmethod
    def for_runs(
        cls, base_seed: int, seed_indices: Sequence[int], *, evaluation: bool = False
    ) -> RowRandom:
        step_tag, jitter_tag = (
            (ENV_EVAL, ENV_EVAL_JITTER) if evaluation else (ENV_TRAIN, ENV_JITTER)
        )
        return cls(
            [run_generator(base_seed, step_tag, s) for s in seed_indices],
            [run_generator(base_seed, jitter_tag, s) for s in seed_indices],
        )

    @classmethod
    def shared(cls, rng: np.random.Generator, n: int) -> RowRandom:
        """All rows drawn from one generator (for tools that need no per-run streams)."""
        return _SharedRowRandom(rng, n)

    def slip_uniforms(self) -> np.ndarray:
        return self.steps.next()

    def jitter_uniforms(self, rows: np.ndarray, n_obj: int) -> np.ndarray:
        """float64[len(rows), n_obj, 2]."""
        out = np.empty((len(rows), n_obj, 2))
        for i, r in enumerate(np.asarray(rows).tolist()):
            out[i] = self.jitter[r].random((n_obj, 2))
        return out

    def state_dict(self) -> dict[str, Any]:
        return {
            "steps": self.steps.state_dict(),
            "jitter": [g.bit_generator.state for g in self.jitter],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.steps.load_state_dict(state["steps"])
        for g, s in zip(self.jitter, state["jitter"], strict=True):
            g.bit_generator.state = s


class _SharedRowRandom(RowRandom):
    def __init__(self, rng: np.random.Generator, n: int) -> None:
        self.rng, self.n = rng, n

    def slip_uniforms(self) -> np.ndarray:
        return self.rng.random((self.n, 2))

    def jitter_uniforms(self, rows: np.ndarray, n_obj: int) -> np.ndarray:
        return self.rng.random((len(rows), n_obj, 2))

    def state_dict(self) -> dict[str, Any]:
        return {"shared": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state["shared"]
