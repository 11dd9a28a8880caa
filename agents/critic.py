"""A tabular safety critic on the product (environment state x monitor state).

``C[h][s, q, a]`` estimates the probability that taking action ``a`` in product state
``(s, q)`` drives the monitor into its violation sink within ``h`` steps, ``h = 1..H``
(``H = critic_horizon``), when every later step takes the *safest* action. It is learned
from the monitor's verdicts alone, by a finite-horizon TD rule on each observed transition
``(s, q, a) -> (s', q')``::

    target_1 = 1                              if q' is the sink
    target_h = 1                              if q' is the sink
             = 0                              if the episode ended otherwise (task done)
             = min_a' C[h-1][s', q', a']      else                        (h = 2..H)
    C[h][s, q, a] += step * (target_h - C[h][s, q, a])   for every h at once
    step = max(1 / (n + 1 + n0), critic_alpha),  n = earlier updates of (s, q, a)

The expectation of ``target_h`` over the environment's randomness (slips, jitter) is the
Bellman operator of "reach the sink within h steps under the safest continuation", so the
fixed point of the rule is that probability: a *lower* bound on the danger under the
agent's actual (exploring) policy, and the right quantity for a shield, which asks "is
there a way on from here that stays safe?". A step cap (truncation) is not a terminal: the
danger beyond it is the same. The step size starts as the posterior mean of a
frequency under ``n0 = critic_prior`` pseudo-observations of "safe" (for a stationary
target ``C[1]`` is then hits / (n + n0)), and keeps a floor so later ``h``, whose targets
move as ``C[h-1]`` is learned, can track them. The prior matters because a shield never
retries what it blocks: with ``n0 = 0`` a single unlucky slip on the first try of a move
would block it for good, and a blocked passage traps the agent until the step cap (seen on
layout 1: whole runs stuck at 1,000-step episodes); with ``n0 = 10`` and a 0.1 threshold a
move is blocked after two violations in its first tries, or a violation rate above 0.1.

Pooling (``critic_pool = "cell"``): every transition also updates, by the same rule, a
pooled critic ``P[h][cell, a]`` of the spec being learned, over every task stage and monitor
state at that cell; an entry ``C[.][s, q, a]`` never updated reads ``P`` at its cell instead
of 0, and its first update starts from that value. The hazards are labelled cells, so a move
into lava learned in one product state is known, as a prior, in all the others (without it
each (stage, monitor state) pays its own violations to learn the same move).
``critic_pool = "target"`` keys the pooled critic by the cell the move heads for (its
slip-free successor) instead of by (cell, move): a hazard is a place, so one entered from
one side is then known from every side. ``critic_pool_prior`` gives the pooled entries
their own pseudo-count (a weaker prior there lets one hit warn every product state not yet
met, while each state's own entry still needs its own evidence), and
``critic_pool_transfer = "carry"`` starts each new spec's pooled critic from the last one's.

Uses of ``D(s, q, a) = C[H][s, q, a]``:

* shield: an action is allowed when ``D < critic_threshold``; when none is, the safest
  (minimum ``D``) ones are (:func:`allowed_actions`);
* shaping: the potential ``Phi(s, q) = -kappa * min_a D(s, q, a)`` (the danger of the state
  under its safest action), with ``Phi = -kappa`` at the sink (its danger is 1) and 0 after
  the task is done;
* penalty: ``-lambda * D(s, q, a)`` of the action taken added to the learning reward
  (``critic_penalty``); not a potential, so it changes the optimal policy: a move a slip can
  turn into a violation costs, and routes keep their distance from hazards;
* transfer (:func:`transfer_critic`): a new spec's critic starts from the earlier specs'
  critics through the automaton-state correspondence, worst case (max) over the old states
  paired with each new one. Entries of an unvisited state stay at 0 (no known danger). An
  inherited entry that was learned from at least one visit counts as one earlier update, so
  the first real verdict is averaged with it rather than replacing it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from speclang.compiler.automaton import Automaton


def critic_targets(next_c: np.ndarray, entered_sink: np.ndarray,
                   ended: np.ndarray) -> np.ndarray:
    """TD targets ``[n, H]`` of one transition per row.

    ``next_c``: ``[n, H, A]``, the critic at the next product state; ``entered_sink``: the
    transition drove the monitor into its sink; ``ended``: the episode ended there for
    another reason (task done), after which nothing can be violated."""
    n, horizon, _ = next_c.shape
    out = np.empty((n, horizon))
    out[:, 0] = entered_sink
    if horizon > 1:
        onward = np.where(ended[:, None], 0.0, next_c[:, :-1, :].min(axis=2))
        out[:, 1:] = np.where(entered_sink[:, None], 1.0, onward)
    return out


def critic_update(c_rows: np.ndarray, n_rows: np.ndarray, target: np.ndarray,
                  alpha: np.ndarray | float,
                  prior: np.ndarray | float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """New ``(C, n)`` of the taken actions: ``c_rows`` ``[n, H]``, counts ``n_rows`` ``[n]``,
    ``target`` ``[n, H]``, ``alpha`` the step-size floor and ``prior`` the pseudo-count
    (per row or one value)."""
    step = np.maximum(1.0 / (n_rows + 1.0 + prior), alpha)
    return c_rows + step[:, None] * (target - c_rows), n_rows + 1


def allowed_actions(danger: np.ndarray, threshold: np.ndarray | float) -> np.ndarray:
    """bool ``[n, A]``: actions with danger below ``threshold``; where there is none, the
    safest actions (ties all allowed), so a shield never leaves the agent without a move."""
    thr = np.asarray(threshold, dtype=np.float64)
    ok = danger < (thr[:, None] if thr.ndim else thr)
    none = ~ok.any(axis=1)
    if none.any():
        safest = danger[none] <= danger[none].min(axis=1, keepdims=True)
        ok[none] = safest
    return ok


def transfer_critic(kind: str, old_tables: np.ndarray, automata: Sequence[Automaton],
                    pairs: Sequence[Sequence[set[int]]]) -> np.ndarray:
    """Initial critic of the newest automaton ``automata[-1]``.

    ``old_tables``: ``[n_old, env_states, max_states, H, A]``, the critics of
    ``automata[:-1]``; ``pairs[i][q_new]``: states of ``automata[i]`` co-reachable with
    ``q_new`` (:func:`speclang.agents.monitors.correspondence`). Each new state takes the
    element-wise maximum over its paired old states (the old sinks excluded: episodes end
    there, their entries are never learned). Any trailing axes after the state axis are
    carried along (the learner also passes its visit counts through here).
    """
    n_old = old_tables.shape[0]
    out = np.zeros(old_tables.shape[1:], dtype=old_tables.dtype)
    if kind == "none" or n_old == 0:
        return out
    if kind != "correspondence":
        raise ValueError(f"unknown critic transfer {kind!r}")
    new = automata[-1]
    for qn in range(new.n_states):
        if qn == new.violation_sink:
            continue
        sources = [
            old_tables[i, :, qo]
            for i in range(n_old)
            for qo in sorted(pairs[i][qn])
            if qo != automata[i].violation_sink
        ]
        if sources:
            out[:, qn] = np.max(sources, axis=0)
    return out
