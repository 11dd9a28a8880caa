"""Potential-based reward shaping from a compiled monitor (Ng, Harada & Russell 1999).

A potential ``phi[q]`` is attached to every automaton state and the shaping term for a step
``q -> q2`` is ``F(q, q2) = gamma * phi[q2] - phi[q]``. Because ``F`` telescopes, adding it
to the environment reward never changes which policies are optimal.

Sign convention (every kind below obeys it; see docs/shaping.md):

* all potentials lie in ``[0, 1]``; the violation sink has ``phi = 0`` and states from which
  violation is impossible (for ``violation_distance``) or which are satisfied for good (for
  ``progress`` / ``value_iteration``) have ``phi = 1``;
* a step toward violation lowers ``phi`` and is therefore negative for every ``gamma <= 1``;
* a step toward acceptance raises ``phi`` and is positive as long as the rise exceeds
  ``(1 - gamma) * phi[q2]`` (always for ``gamma = 1``; for the default ``gamma = 0.99`` as
  long as the automaton has fewer than ~100 distance levels);
* dwelling in a state gives ``(gamma - 1) * phi[q] <= 0``: neutral or slightly negative,
  never rewarded.

Distances are counted on the automaton's transition graph (an edge exists when *some* letter
moves between the two states); the environment decides which letters are possible, the
monitor does not know it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from speclang.compiler import graph
from speclang.compiler.automaton import Automaton, Verdict

if TYPE_CHECKING:
    from speclang.compiler.diagram_sweep import DiagramSweep

PotentialKind = Literal["violation_distance", "progress", "value_iteration"]
KINDS: tuple[PotentialKind, ...] = ("violation_distance", "progress", "value_iteration")
DEFAULT_GAMMA = 0.99
# Discount of the value-iteration potential itself (how far ahead it looks); independent of
# the RL discount used in the shaping term.
DEFAULT_VI_GAMMA = 0.9


def _edge_limit(aut: Automaton) -> int:
    """Above this many diagram paths the potentials are swept over the decision diagram
    instead of the edge lists (same distances; value iteration equal up to rounding)."""
    return max(100_000, 4 * len(aut.dd_var))


def _sweep(aut: Automaton) -> DiagramSweep:
    from speclang.compiler.diagram_sweep import DiagramSweep

    return DiagramSweep(aut)


def _dense(aut: Automaton) -> DiagramSweep | None:
    """The diagram sweep when the graph may have more edges than :func:`_edge_limit` (its
    paths, never fewer than its edges, are counted by one sweep), else None: the edge lists
    are then short and give exactly the results they always gave."""
    sweep = _sweep(aut)
    return sweep if float(sweep.paths().sum()) > _edge_limit(aut) else None


def _distance_to(aut: Automaton, goal: np.ndarray,
                 successors: Sequence[Sequence[int]] | None) -> np.ndarray:
    if successors is None:
        sweep = _dense(aut)
        if sweep is not None:
            return sweep.distance_to(goal)
        successors = graph.successor_lists(aut)
    return graph.distance_to(successors, goal)


def violation_distance(
    aut: Automaton, successors: Sequence[Sequence[int]] | None = None
) -> np.ndarray:
    """``phi = d / (D + 1)`` where ``d`` is the fewest steps to a violated state and ``D`` the
    largest finite such distance; ``phi = 1`` where violation cannot be reached."""
    return _violation_phi(_distance_to(aut, aut.verdicts == Verdict.VIOLATED, successors))


def _violation_phi(dist: np.ndarray) -> np.ndarray:
    phi = np.ones(len(dist), dtype=np.float64)
    finite = dist >= 0
    if finite.any():
        phi[finite] = dist[finite] / (dist[finite].max() + 1)
    return phi


def progress(aut: Automaton, successors: Sequence[Sequence[int]] | None = None) -> np.ndarray:
    """``phi = 1 - d / (D + 1)`` where ``d`` is the fewest steps to an accepting state and
    ``D`` the largest finite such distance; accepting states get 1, states that can never
    accept again (the violation sink) get 0."""
    return _progress_phi(_distance_to(aut, np.asarray(aut.accepting, dtype=bool), successors))


def _progress_phi(dist: np.ndarray) -> np.ndarray:
    phi = np.zeros(len(dist), dtype=np.float64)
    finite = dist >= 0
    if finite.any():
        phi[finite] = 1.0 - dist[finite] / (dist[finite].max() + 1)
    return phi


def _p_true(aut: Automaton, p_true: np.ndarray | Sequence[float] | None) -> np.ndarray:
    p = np.full(len(aut.props), 0.5) if p_true is None else np.asarray(p_true, dtype=np.float64)
    if p.shape != (len(aut.props),) or (p < 0).any() or (p > 1).any():
        raise ValueError("p_true needs one probability in [0, 1] per proposition")
    return p


def letter_distribution(
    aut: Automaton, p_true: np.ndarray | Sequence[float] | None = None
) -> list[dict[int, float]]:
    """For every state, the probability of each successor when every proposition is true
    independently with probability ``p_true[i]`` (default 1/2: an uninformed environment)."""
    p = _p_true(aut, p_true)
    var, lo, hi = aut.dd_var, aut.dd_lo, aut.dd_hi
    memo: dict[int, dict[int, float]] = {}

    def dist(root: int) -> dict[int, float]:
        stack = [root]
        while stack:
            k = stack[-1]
            if k in memo:
                stack.pop()
                continue
            if var[k] < 0:
                memo[k] = {int(lo[k]): 1.0}
                stack.pop()
                continue
            a, b = int(lo[k]), int(hi[k])
            missing = [c for c in (a, b) if c not in memo]
            if missing:
                stack.extend(missing)
                continue
            pt = float(p[var[k]])
            out: dict[int, float] = {}
            for t, w in memo[a].items():
                out[t] = out.get(t, 0.0) + (1.0 - pt) * w
            for t, w in memo[b].items():
                out[t] = out.get(t, 0.0) + pt * w
            memo[k] = out
            stack.pop()
        return memo[root]

    return [dist(int(r)) for r in aut.roots]


def value_iteration(
    aut: Automaton,
    *,
    vi_gamma: float = DEFAULT_VI_GAMMA,
    p_true: np.ndarray | Sequence[float] | None = None,
    policy: Literal["random", "best"] = "random",
    tol: float = 1e-10,
    max_iter: int = 10_000,
    dense: bool | DiagramSweep | None = None,
) -> np.ndarray:
    """Normalised discounted acceptance: ``V(q) = (1 - g) * accepting(q) + g * V'(q)`` with
    ``g = vi_gamma``, where ``V'(q)`` is, for ``policy="random"``, ``E[V(q')]`` over the
    successor on a letter drawn as in :func:`letter_distribution` (an uninformed
    environment), and for ``policy="best"``, ``max V(q')`` over the successors (the automaton
    as an MDP whose actions pick the next letter: what a perfect agent could still get).
    So ``V`` is the ``g``-discounted fraction of future steps spent accepting: 1 on satisfied
    states, 0 on the violation sink, in between elsewhere. ``dense=True`` sweeps the
    decision diagram instead of listing the edges (equal up to rounding), ``False`` lists
    them, None (default) decides by the diagram's path count; a DiagramSweep is used as is."""
    if not 0.0 < vi_gamma < 1.0:
        raise ValueError("vi_gamma must be in (0, 1)")
    if policy not in ("random", "best"):
        raise ValueError(f"unknown policy {policy!r}; expected 'random' or 'best'")
    n = aut.n_states
    reward = (1.0 - vi_gamma) * np.asarray(aut.accepting, dtype=np.float64)
    v = np.asarray(aut.accepting, dtype=np.float64).copy()
    if isinstance(dense, bool):
        sweep = _sweep(aut) if dense else None
    else:
        sweep = _dense(aut) if dense is None else dense
    ahead: Callable[[np.ndarray], np.ndarray]
    if sweep is not None:
        p = _p_true(aut, p_true)
        ahead = ((lambda v: sweep.expectation(v, p)) if policy == "random"
                 else sweep.maximum)
    else:
        dists = letter_distribution(aut, p_true)
        src = np.fromiter((q for q, d in enumerate(dists) for _ in d), dtype=np.int64)
        dst = np.fromiter((t for d in dists for t in d), dtype=np.int64)
        w = np.fromiter((x for d in dists for x in d.values()), dtype=np.float64)

        def ahead(v: np.ndarray) -> np.ndarray:
            if policy == "random":
                return np.bincount(src, weights=w * v[dst], minlength=n)
            best = np.full(n, -np.inf)
            np.maximum.at(best, src, v[dst])
            return best

    for _ in range(max_iter):
        nxt = reward + vi_gamma * ahead(v)
        done = np.max(np.abs(nxt - v), initial=0.0) < tol
        v = nxt
        if done:
            break
    return _exact_ends(aut, v)


def _exact_ends(aut: Automaton, v: np.ndarray) -> np.ndarray:
    """Exact endpoints (iteration leaves them a rounding error away)."""
    v[aut.verdicts == Verdict.VIOLATED] = 0.0
    v[aut.verdicts == Verdict.SATISFIED] = 1.0
    return np.clip(v, 0.0, 1.0)


def potentials(
    aut: Automaton,
    kind: PotentialKind = "violation_distance",
    gamma: float = DEFAULT_VI_GAMMA,
    *,
    p_true: np.ndarray | Sequence[float] | None = None,
    policy: Literal["random", "best"] = "random",
) -> np.ndarray:
    """Potentials in ``[0, 1]`` for every state; ``gamma``, ``p_true`` and ``policy`` only
    matter for ``value_iteration`` (see there)."""
    if kind == "violation_distance":
        return violation_distance(aut)
    if kind == "progress":
        return progress(aut)
    if kind == "value_iteration":
        return value_iteration(aut, vi_gamma=gamma, p_true=p_true, policy=policy)
    raise ValueError(f"unknown potential kind {kind!r}; expected one of {', '.join(KINDS)}")


def all_potentials(aut: Automaton, vi_gamma: float = DEFAULT_VI_GAMMA) -> dict[str, np.ndarray]:
    """The three kinds at once, sharing the successor computation (or, for a dense graph,
    the diagram sweep)."""
    sweep = _dense(aut)
    if sweep is not None:
        return {
            "violation_distance": _violation_phi(
                sweep.distance_to(aut.verdicts == Verdict.VIOLATED)),
            "progress": _progress_phi(sweep.distance_to(np.asarray(aut.accepting, dtype=bool))),
            "value_iteration": value_iteration(aut, vi_gamma=vi_gamma, dense=sweep),
        }
    succ = graph.successor_lists(aut)
    return {
        "violation_distance": violation_distance(aut, succ),
        "progress": progress(aut, succ),
        "value_iteration": value_iteration(aut, vi_gamma=vi_gamma, dense=False),
    }


def shaping_reward(
    phi: np.ndarray, q: int | np.ndarray, q_next: int | np.ndarray, gamma: float = DEFAULT_GAMMA
) -> float | np.ndarray:
    """``F(q, q_next) = gamma * phi[q_next] - phi[q]``, elementwise for arrays of states."""
    out = gamma * phi[q_next] - phi[q]
    return float(out) if np.ndim(out) == 0 else out


@dataclass(frozen=True)
class ShapingTable:
    """Everything a runtime wrapper needs to add shaping to a monitored environment.

    ``by_class[q, c]`` is ``F(q, delta[q, c])``, so the shaping term of a batch is the same
    gather as the monitor step (present when the automaton has a dense table). ``src``,
    ``dst`` and ``values`` list ``F`` on every edge of the transition graph."""

    kind: str
    gamma: float
    phi: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    values: np.ndarray
    by_class: np.ndarray | None

    @classmethod
    def build(
        cls,
        aut: Automaton,
        kind: PotentialKind = "violation_distance",
        gamma: float = DEFAULT_GAMMA,
        *,
        phi: np.ndarray | None = None,
    ) -> ShapingTable:
        if not 0.0 < gamma <= 1.0:
            raise ValueError("gamma must be in (0, 1]")
        pot = potentials(aut, kind) if phi is None else np.asarray(phi, dtype=np.float64)
        if pot.shape != (aut.n_states,):
            raise ValueError(f"phi must have one value per state ({aut.n_states})")
        succ = graph.successor_lists(aut)
        src = np.fromiter((q for q, ts in enumerate(succ) for _ in ts), dtype=np.int64)
        dst = np.fromiter((t for ts in succ for t in ts), dtype=np.int64)
        by_class = None
        if aut.delta is not None:
            by_class = gamma * pot[aut.delta] - pot[:, None]
        return cls(
            kind=kind,
            gamma=gamma,
            phi=pot,
            src=src,
            dst=dst,
            values=gamma * pot[dst] - pot[src],
            by_class=by_class,
        )

    def reward(self, q: int | np.ndarray, q_next: int | np.ndarray) -> float | np.ndarray:
        return shaping_reward(self.phi, q, q_next, self.gamma)
