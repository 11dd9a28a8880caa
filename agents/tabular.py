"""Tabular Q-learning for every (method, seed) run of an experiment at once.

All runs advance in lock-step: one numpy operation moves every environment, steps every
monitor and updates every Q-table. Runs are independent (each has its own environment copy,
Q-tables, schedule, episode counter and random streams: see ``speclang.agents.rng``), so a
run gives the same result alone as inside any batch, and every method sees the same
environment randomness at one seed index (common random numbers).

Q-tables are one array ``Q[run, task, env_state, monitor_state, action]`` where
``env_state = cell * N_STAGES + task_stage`` and ``task`` indexes the spec progression; a
run that does not follow a progression only uses the last (final-spec) slice.

Method kinds (see ``speclang.agents.config.METHOD_KINDS``):
  progressive     safeguard = the current spec of the progression; values carried over at
                  each switch by the configured transfer (none / paper / correspondence)
  zero_shot       safeguard = the final spec, from scratch
  no_safeguard    task reward only; state = (cell, stage); violations only counted
  intrinsic_fear  zero_shot plus a learned danger model whose prediction, times lambda,
                  is subtracted from the reward (Lipton et al. 2016)

A progressive method can carry the same fear penalty (``fear``): ``shared`` keeps one danger
model over the whole progression (keyed by the automaton-state index, so after a switch it
predicts the previous spec's dangers at unrelated states: the fixed-lambda fear from T1);
``per_stage`` restarts the model at each switch, so it only ever predicts violations of the
spec being learned. For every fear run ``fear_phase_in`` (episodes, 0 = off, as before)
ramps lambda linearly from 0 at the start of each spec: a danger model that has seen
almost nothing (a handful of early violations, each counted against every state in its
window) would otherwise penalise the whole route to the goal and the agent gives up.
  pre_shield      zero_shot plus masking of actions whose slip-free next cell would drive
                  the monitor into its violation sink (a safety reference)

Transfer ``paper_code`` (progressive only) is the paper's method as its authors coded it: one
table shared by every spec of the progression, keyed by (env state, automaton-state index);
a product state met for the first time (the violation sink aside: it is never read) starts
from the mean of the table at the same env state over the indices ``0 .. task - 1`` already
met, where ``task`` is the index of the current spec in the progression (the bound the
authors' code uses). Its table lives in the current spec's slot and is carried on whole at
each switch, so the final spec's slot holds it as it does every other method's.

Any safeguarded method can add the learned safety critic of ``speclang.agents.critic``
(``critic`` = learn / explore / all): tables ``C[critic run, task, env_state, monitor_state,
h, action]`` and their visit counts ``C_n``, a shield on exploratory (and optionally greedy)
actions, an optional shaping potential, and at each switch of a progression a transfer
through the automaton-state correspondence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from speclang.compiler.automaton import Automaton

from .config import ExperimentConfig, MethodConfig
from .critic import allowed_actions, critic_targets, critic_update, transfer_critic
from .envs.layouts import (
    N_ACTIONS,
    N_STAGES,
    SAFE_STEP_REWARD,
    TASK_STEP_COST,
    TASK_SUCCESS_REWARD,
    advance_stage,
    get_layout,
)
from .envs.minecraft_fast import FastMinecraft
from .monitors import MonitorTables, correspondence
from .rng import AGENT_EVAL, AGENT_TRAIN, BlockStream, RowRandom, run_generator
from .transfer import transfer_values

# Tie-breaking noise for the greedy action; far below any value difference that matters.
_TIE_NOISE = 1e-9


@dataclass
class RunSpec:
    """Static description of one run of the batch."""

    method: MethodConfig
    seed_index: int


class TabularBatch:
    """The whole experiment's mutable state, stepped by :meth:`train_step`."""

    # Arrays saved in checkpoints (besides the environment's and the RNG state).
    STATE_KEYS = (
        "Q",
        "q",
        "qf",
        "spec",
        "ep_count",
        "active",
        "task_start",
        "ep_ret",
        "ep_viol",
        "ep_fviol",
        "ret",
        "length",
        "viol",
        "fviol",
        "success",
        "ep_spec",
        "visited_final",
        "fear_pos",
        "fear_tot",
        "fear_buf",
        "fear_ptr",
        "C",
        "C_n",
        "Cp",
        "Cp_n",
        "pc_seen",
        "ep_fsite",
        "fviol_cell",
        "fviol_q",
    )
    # Arrays added after checkpoints were first written: missing from an older checkpoint,
    # they keep their initial values (the violation sites of its earlier episodes unknown).
    OPTIONAL_KEYS = ("ep_fsite", "fviol_cell", "fviol_q")

    def __init__(
        self,
        cfg: ExperimentConfig,
        automata: list[Automaton],
        seed: int,
        runs: list[RunSpec] | None = None,
    ) -> None:
        """``runs`` defaults to every (method, seed index) of ``cfg``; a subset gives each of
        its runs exactly the result it has in the full batch."""
        self.cfg = cfg
        self.automata = automata
        self.K = len(automata)
        if runs is None:
            runs = [RunSpec(m, s) for m in cfg.methods for s in range(cfg.seeds)]
        self.runs = runs
        R = self.R = len(self.runs)
        self.seed = seed
        seed_indices = [r.seed_index for r in self.runs]
        self.agent_rng = BlockStream(
            [run_generator(seed, AGENT_TRAIN, r.seed_index, r.method.name) for r in self.runs],
            N_ACTIONS + 1,
        )
        self.layout = get_layout(cfg.env.layout)
        self.env = FastMinecraft(
            self.layout,
            R,
            RowRandom.for_runs(seed, seed_indices),
            slip=cfg.env.slip,
            jitter=cfg.env.jitter,
        )
        self.mon = MonitorTables.build(automata)
        self.S = self.layout.size * self.layout.size * N_STAGES
        self.Qmax = self.mon.max_states
        E = self.E = cfg.agent.episodes
        letters = self.layout.letters()
        # pairs[k][i][qn] = states of automaton i that automaton k's state qn co-occurs with.
        self.pairs = [
            [correspondence(automata[k], automata[i], letters) for i in range(k)]
            for k in range(self.K)
        ]

        kinds = [r.method.kind for r in self.runs]
        self.progressive = np.array([k == "progressive" for k in kinds])
        self.safeguard = np.array([k != "no_safeguard" for k in kinds])
        self.use_aut = self.safeguard.copy()
        self.shield = np.array([k == "pre_shield" for k in kinds])
        self.fear = np.array([r.method.kind == "intrinsic_fear"
                              or (r.method.kind == "progressive" and r.method.fear != "none")
                              for r in self.runs], dtype=bool)
        self.fear_lambda = np.array([r.method.fear_lambda for r in self.runs])
        self.fear_rows = np.flatnonzero(self.fear)
        self.fear_phase_in = np.array([r.method.fear_phase_in for r in self.runs])
        # Each fear run keeps its own window (a row of the buffer, as wide as the longest):
        # a run's result must not depend on which other runs share its batch.
        self.fear_horizon = np.array(
            [r.method.fear_horizon for r, f in zip(self.runs, self.fear, strict=True) if f],
            dtype=np.int64)
        self.horizon = int(self.fear_horizon.max(initial=1))
        self.rows = np.arange(R)
        self.step_budget = cfg.agent.steps if cfg.agent.budget == "steps" else 0
        # The critic's runs (rows of C, C_n): per-run settings as arrays over those rows.
        crit = [r.method for r in self.runs if r.method.critic != "none"]
        self.critic_rows = np.flatnonzero([r.method.critic != "none" for r in self.runs])
        self.critic_pos = np.full(R, -1, dtype=np.int64)
        self.critic_pos[self.critic_rows] = np.arange(len(self.critic_rows))
        # One table as deep as the longest horizon: level h only reads level h-1, so a run's
        # own levels 1..H compute the same whatever deeper levels its batch carries.
        self.critic_H = max((m.critic_horizon for m in crit), default=1)
        self.crit_level = np.array([m.critic_horizon - 1 for m in crit], dtype=np.int64)
        self.crit_thr = np.array([m.critic_threshold for m in crit])
        self.crit_alpha = np.array([m.critic_alpha for m in crit])
        self.crit_prior = np.array([m.critic_prior for m in crit], dtype=np.float64)
        self.crit_kappa = np.array([m.critic_shaping for m in crit])
        self.crit_lambda = np.array([m.critic_penalty for m in crit])
        self.crit_lambda_final = np.array([m.critic_penalty_on == "final" for m in crit],
                                          dtype=bool)
        self.crit_greedy = np.array([m.critic == "all" for m in crit], dtype=bool)
        self.crit_explore = np.array([m.critic in ("explore", "all") for m in crit], dtype=bool)
        self.crit_pool = np.array([m.critic_pool != "none" for m in crit], dtype=bool)
        # critic_pool = "target": pooled by the cell the move heads for (slot 0 of the pooled
        # table's action axis), so a hazard learned from one side is known from every side
        self.crit_target = np.array([m.critic_pool == "target" for m in crit], dtype=bool)
        self.crit_pool_prior = np.array(
            [m.critic_prior if m.critic_pool_prior < 0 else m.critic_pool_prior for m in crit],
            dtype=np.float64)
        self.cells = self.layout.size * self.layout.size
        self.pc_rows = np.flatnonzero([r.method.transfer == "paper_code" and self.progressive[i]
                                       for i, r in enumerate(self.runs)])
        self.pc_pos = np.full(R, -1, dtype=np.int64)
        self.pc_pos[self.pc_rows] = np.arange(len(self.pc_rows))

        st: dict[str, np.ndarray] = {}
        st["Q"] = np.zeros((R, self.K, self.S, self.Qmax, N_ACTIONS), dtype=np.float64)
        st["q"] = np.zeros(R, dtype=np.int64)
        st["qf"] = np.zeros(R, dtype=np.int64)
        st["spec"] = np.where(self.progressive, 0, self.K - 1).astype(np.int64)
        st["ep_count"] = np.zeros(R, dtype=np.int64)
        st["active"] = np.ones(R, dtype=bool)
        st["task_start"] = np.zeros(R, dtype=np.int64)  # episode at which the current spec began
        st["ep_ret"] = np.zeros(R)
        st["ep_viol"] = np.zeros(R, dtype=bool)
        st["ep_fviol"] = np.zeros(R, dtype=bool)
        # Where the final spec was first violated in the episode (cell; monitor state of the
        # final spec's automaton before that step), -1 where it was not: the analysis of
        # which hazards cost what (scripts/violation_sites.py).
        st["ep_fsite"] = np.full((R, 2), -1, dtype=np.int64)
        st["fviol_cell"] = np.full((R, E), -1, dtype=np.int16)
        st["fviol_q"] = np.full((R, E), -1, dtype=np.int8)
        st["ret"] = np.zeros((R, E), dtype=np.float32)
        st["length"] = np.zeros((R, E), dtype=np.int32)
        st["viol"] = np.zeros((R, E), dtype=bool)
        st["fviol"] = np.zeros((R, E), dtype=bool)
        st["success"] = np.zeros((R, E), dtype=bool)
        st["ep_spec"] = np.zeros((R, E), dtype=np.int8)
        st["visited_final"] = np.zeros((R, self.S, self.Qmax), dtype=bool)
        n_fear = len(self.fear_rows)
        st["fear_pos"] = np.zeros((n_fear, self.S * self.Qmax))
        st["fear_tot"] = np.zeros((n_fear, self.S * self.Qmax))
        st["fear_buf"] = np.full((n_fear, self.horizon), -1, dtype=np.int64)
        st["fear_ptr"] = np.zeros(n_fear, dtype=np.int64)
        n_crit = len(self.critic_rows)
        st["C"] = np.zeros((n_crit, self.K, self.S, self.Qmax, self.critic_H, N_ACTIONS))
        st["C_n"] = np.zeros((n_crit, self.K, self.S, self.Qmax, N_ACTIONS), dtype=np.int64)
        # The pooled critic of critic_pool = "cell" (a row per critic run when any has it,
        # none otherwise, so checkpoints of batches without it stay loadable).
        n_pool = n_crit if self.crit_pool.any() else 0
        st["Cp"] = np.zeros((n_pool, self.K, self.cells, self.critic_H, N_ACTIONS))
        st["Cp_n"] = np.zeros((n_pool, self.K, self.cells, N_ACTIONS), dtype=np.int64)
        st["pc_seen"] = np.zeros((len(self.pc_rows), self.S, self.Qmax), dtype=bool)
        self.st = st
        self.batch_step = 0
        self._reset_rows(self.rows)

    # --- checkpoints ------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        arrays = {k: self.st[k] for k in self.STATE_KEYS}
        arrays.update({f"env_{k}": v for k, v in self.env.state_arrays().items()})
        return {
            "arrays": arrays,
            "rng": {"agent": self.agent_rng.state_dict(), "env": self.env.rng.state_dict()},
            "batch_step": self.batch_step,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        arrays = state["arrays"]
        for k in self.STATE_KEYS:
            if k not in arrays and (self.st[k].size == 0 or k in self.OPTIONAL_KEYS):
                continue  # a checkpoint from before this array existed
            if arrays[k].shape != self.st[k].shape:
                raise ValueError(
                    f"checkpoint array {k} has shape {arrays[k].shape}, expected {self.st[k].shape}"
                )
            self.st[k] = np.array(arrays[k], dtype=self.st[k].dtype)
        self.env.load_state_arrays({k[4:]: v for k, v in arrays.items() if k.startswith("env_")})
        if not isinstance(state["rng"], dict) or "agent" not in state["rng"]:
            raise ValueError("checkpoint predates per-run random streams; start the run afresh")
        self.agent_rng.load_state_dict(state["rng"]["agent"])
        self.env.rng.load_state_dict(state["rng"]["env"])
        self.batch_step = int(state["batch_step"])

    # --- helpers ----------------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        return not bool(self.st["active"].any())

    def _local(self, q: np.ndarray, spec: np.ndarray) -> np.ndarray:
        return np.where(self.use_aut, q - self.mon.offset[spec], 0)

    def _reset_rows(self, idx: np.ndarray) -> None:
        st, mon = self.st, self.mon
        start = self.env.reset(idx)
        st["q"][idx] = mon.next_global[mon.initial[st["spec"][idx]], start]
        st["qf"][idx] = mon.next_global[mon.initial[self.K - 1], start]
        st["ep_ret"][idx] = 0.0
        st["ep_viol"][idx] = st["q"][idx] == mon.sink[st["spec"][idx]]
        st["ep_fviol"][idx] = st["qf"][idx] == mon.sink[self.K - 1]
        st["ep_fsite"][idx] = -1
        st["ep_fsite"][idx[st["ep_fviol"][idx]], 0] = self.layout.start_cell
        if len(self.pc_rows):
            pc = idx[(self.pc_pos[idx] >= 0) & st["active"][idx]]
            s = self.env.cell[pc] * N_STAGES + self.env.stage[pc]
            self._paper_code_meet(pc, s, st["q"][pc])

    def _paper_code_meet(self, runs: np.ndarray, s: np.ndarray, q: np.ndarray) -> None:
        """First meeting of product states (s, q) by paper_code runs: initialise them from
        the mean over the automaton-state indices 0 .. task - 1 met before at s."""
        st = self.st
        spec = st["spec"][runs]
        k = self.pc_pos[runs]
        ql = q - self.mon.offset[spec]
        new = ~st["pc_seen"][k, s, ql] & (q != self.mon.sink[spec])
        seen = st["pc_seen"]
        for r, kk, ss, qq, d in zip(runs[new].tolist(), k[new].tolist(), s[new].tolist(),
                                    ql[new].tolist(), spec[new].tolist(), strict=True):
            table = st["Q"][r, d, ss]
            earlier = [j for j in range(min(d, self.Qmax)) if seen[kk, ss, j]]
            if earlier:
                table[qq] = table[earlier].mean(axis=0)
            seen[kk, ss, qq] = True

    def _allowed(
        self, q: np.ndarray, spec: np.ndarray, env: FastMinecraft | None = None
    ) -> np.ndarray:
        """Actions the pre-shield permits: those whose slip-free next cell keeps the monitor
        out of its violation sink (all actions for unshielded runs)."""
        env = env or self.env
        nxt = self.mon.next_global[q[:, None], env.next_masks()]
        blocked = self.shield[:, None] & (nxt == self.mon.sink[spec][:, None])
        blocked[blocked.all(axis=1)] = False  # nothing is safe: the shield gives up
        return ~blocked

    def _critic_rows(self, spec: np.ndarray, s: np.ndarray, q: np.ndarray) -> np.ndarray:
        """Flat rows of C (viewed as [-1, H, A]) of the critic runs at product states (s, q)."""
        cr = self.critic_rows
        task = np.arange(len(cr)) * self.K + spec[cr]
        return (task * self.S + s[cr]) * self.Qmax + (q[cr] - self.mon.offset[spec[cr]])

    def _critic_at(self, spec: np.ndarray, s: np.ndarray, q: np.ndarray,
                   n_flat: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray] | None]:
        """The critic runs' danger table at product states (s, q), ``[n_critic, H, A]``, its
        flat rows of C, and (with pooling) the flat rows of the pooled critic. Where a run
        pools, an entry never updated reads the pooled value at its cell instead of 0."""
        C = self.st["C"].reshape(-1, self.critic_H, N_ACTIONS)
        c_row = self._critic_rows(spec, s, q)
        c = C[c_row]
        if not self.crit_pool.any():
            return c, c_row, None
        cr = self.critic_rows
        base = (np.arange(len(cr)) * self.K + spec[cr]) * self.cells
        cell = s[cr] // N_STAGES
        actions = np.arange(N_ACTIONS)
        # per (critic run, action): the pooled table's row and action slot
        p_row = np.where(self.crit_target[:, None], base[:, None] + self.env.moves[cell],
                         (base + cell)[:, None])
        p_slot = np.where(self.crit_target[:, None], 0, actions[None, :])
        unseen = (n_flat[c_row] == 0) & self.crit_pool[:, None]
        prior = self.st["Cp"].reshape(-1, self.critic_H, N_ACTIONS)[p_row, :, p_slot]
        prior = prior.transpose(0, 2, 1)  # [n, A, H] -> [n, H, A]
        return np.where(unseen[:, None, :], prior, c), c_row, (p_row, p_slot)

    def _critic_allowed(self, c: np.ndarray, base: np.ndarray, apply: np.ndarray) -> np.ndarray:
        """``base`` (the pre-shield's allowed actions, [R, A]) narrowed, on the critic runs
        where ``apply``, to the actions the critic ``c`` ([n_critic, H, A]) permits among
        them."""
        danger = c[np.arange(len(c)), self.crit_level]
        cr = self.critic_rows
        ok = allowed_actions(np.where(base[cr], danger, np.inf), self.crit_thr)
        out = base.copy()
        out[cr[apply]] = ok[apply]
        return out

    # --- one lock-step transition ------------------------------------------------------------

    def train_step(self) -> int:
        """Advance every run by one environment step; returns the number of episodes recorded."""
        cfg, st, mon, env = self.cfg, self.st, self.mon, self.env
        # One flat row per (run, task, env state, monitor state): a single gather is much
        # cheaper than numpy's general four-array fancy indexing.
        Q = st["Q"].reshape(-1, N_ACTIONS)
        spec, q = st["spec"], st["q"]
        base = (self.rows * self.K + spec) * self.S
        s = env.cell * N_STAGES + env.stage
        row = (base + s) * self.Qmax + self._local(q, spec)
        qv = Q[row]
        u = self.agent_rng.next()
        noise = u[:, :N_ACTIONS]
        explore = u[:, N_ACTIONS] < cfg.agent.epsilon
        score = np.where(explore[:, None], noise, qv + noise * _TIE_NOISE)
        cr = self.critic_rows
        allowed = self._allowed(q, spec) if self.shield.any() else None
        if len(cr):
            C = st["C"].reshape(-1, self.critic_H, N_ACTIONS)
            n_flat = st["C_n"].reshape(-1, N_ACTIONS)
            c_here, c_row, p_row = self._critic_at(spec, s, q, n_flat)
            apply = self.crit_greedy | (self.crit_explore & explore[cr])
            if allowed is None:
                allowed = np.ones((self.R, N_ACTIONS), dtype=bool)
            allowed = self._critic_allowed(c_here, allowed, apply)
        if allowed is not None:
            score = np.where(allowed, score, -np.inf)
        a = score.argmax(axis=1)

        mask, success = env.step(a)
        q2 = mon.next_global[q, mask]
        qf2 = mon.next_global[st["qf"], mask]
        viol = q2 == mon.sink[spec]
        if cfg.env.reward_mode == "task":
            reward = TASK_STEP_COST + success * TASK_SUCCESS_REWARD
            terminal = success.copy()
        else:
            reward = np.full(self.R, SAFE_STEP_REWARD)
            terminal = np.zeros(self.R, dtype=bool)
        stop = viol & self.safeguard
        reward = np.where(stop, cfg.env.violation_penalty, reward)
        terminal |= stop
        truncated = env.steps >= cfg.env.max_steps

        s2 = env.cell * N_STAGES + env.stage
        ql2 = self._local(q2, spec)
        if len(self.pc_rows):
            # a finished run's tables stay as they were: the batch's length is not its own
            pc = self.pc_rows[st["active"][self.pc_rows]]
            self._paper_code_meet(pc, s2[pc], q2[pc])
        learn_reward = reward
        if len(self.fear_rows):
            learn_reward = reward.copy()
            fr = self.fear_rows
            flat = s2[fr] * self.Qmax + ql2[fr]
            danger = st["fear_pos"][np.arange(len(fr)), flat] / (
                st["fear_tot"][np.arange(len(fr)), flat] + 1.0
            )
            learn_reward[fr] -= self._fear_weight(fr) * danger
            self._fear_push(flat)

        allowed2 = self._allowed(q2, spec) if self.shield.any() else None
        if len(cr):
            c_next = self._critic_at(spec, s2, q2, n_flat)[0]
            entered = viol[cr]
            ended = terminal[cr] & ~entered
            if self.crit_kappa.any():
                learn_reward = learn_reward.copy() if learn_reward is reward else learn_reward
                learn_reward[cr] += self._critic_shaping(c_here, c_next, entered, ended)
            if self.crit_lambda.any():
                learn_reward = learn_reward.copy() if learn_reward is reward else learn_reward
                n_c = np.arange(len(cr))
                lam = np.where(self.crit_lambda_final & (spec[cr] != self.K - 1), 0.0,
                               self.crit_lambda)
                learn_reward[cr] -= lam * c_here[n_c, self.crit_level, a[cr]]
            if self.crit_greedy.any():
                if allowed2 is None:
                    allowed2 = np.ones((self.R, N_ACTIONS), dtype=bool)
                allowed2 = self._critic_allowed(c_next, allowed2, self.crit_greedy)
            target = critic_targets(c_next, entered, ended)
            a_c = a[cr]
            n_c = np.arange(len(cr))
            # c_here: an unseen entry of a pooling run starts from the pooled value
            new_c, new_n = critic_update(c_here[n_c, :, a_c], n_flat[c_row, a_c], target,
                                         self.crit_alpha, self.crit_prior)
            live = st["active"][cr]
            C[c_row[live], :, a_c[live]] = new_c[live]
            n_flat[c_row[live], a_c[live]] = new_n[live]
            if p_row is not None:
                pool = live & self.crit_pool
                Cp = st["Cp"].reshape(-1, self.critic_H, N_ACTIONS)
                np_flat = st["Cp_n"].reshape(-1, N_ACTIONS)
                rows, slots = p_row
                pr = rows[pool, a_c[pool]]
                pa = slots[pool, a_c[pool]]
                new_p, new_pn = critic_update(Cp[pr, :, pa], np_flat[pr, pa], target[pool],
                                              self.crit_alpha[pool],
                                              self.crit_pool_prior[pool])
                Cp[pr, :, pa] = new_p
                np_flat[pr, pa] = new_pn

        next_values = Q[(base + s2) * self.Qmax + ql2]
        if allowed2 is not None:
            # A shielded agent can never take a blocked action, so it must not bootstrap
            # from one (their untouched zeros would lure it next to every hazard).
            next_values = np.where(allowed2, next_values, -np.inf)
        boot = next_values.max(axis=1)
        target = learn_reward + cfg.agent.gamma * boot * ~terminal
        step_size = cfg.agent.alpha * st["active"]
        old = Q[row, a]
        Q[row, a] = old + step_size * (target - old)

        final = st["active"] & (spec == self.K - 1)
        st["visited_final"][self.rows[final], s2[final], ql2[final]] = True
        st["ep_ret"] += reward
        st["ep_viol"] |= viol
        first = (qf2 == mon.sink[self.K - 1]) & ~st["ep_fviol"]
        if first.any():
            st["ep_fsite"][first, 0] = env.cell[first]
            st["ep_fsite"][first, 1] = st["qf"][first] - mon.offset[self.K - 1]
        st["ep_fviol"] |= first
        st["q"], st["qf"] = q2, qf2
        self.batch_step += 1

        done = terminal | truncated
        if not done.any():
            return 0
        return self._end_episodes(np.flatnonzero(done), success)

    def _critic_shaping(self, c_here: np.ndarray, c_next: np.ndarray, entered: np.ndarray,
                        ended: np.ndarray) -> np.ndarray:
        """gamma * Phi(s') - Phi(s) per critic run, Phi = -kappa * min_a danger (-kappa at the
        sink, whose danger is 1; 0 once the task is done)."""
        n = np.arange(len(c_here))
        phi = -self.crit_kappa * c_here[n, self.crit_level].min(axis=1)
        phi2 = -self.crit_kappa * c_next[n, self.crit_level].min(axis=1)
        phi2 = np.where(entered, -self.crit_kappa, np.where(ended, 0.0, phi2))
        return self.cfg.agent.gamma * phi2 - phi

    def _fear_weight(self, fr: np.ndarray) -> np.ndarray:
        """lambda of each fear run now: phased in over its spec's first fear_phase_in
        episodes."""
        lam = self.fear_lambda[fr]
        ramp = self.fear_phase_in[fr]
        if not ramp.any():
            return lam
        on_spec = self.st["ep_count"][fr] - self.st["task_start"][fr]
        return lam * np.where(ramp > 0, np.minimum(1.0, on_spec / np.maximum(ramp, 1)), 1.0)

    def _fear_push(self, flat: np.ndarray) -> None:
        """Danger labels: a state visited ``horizon`` steps ago with no violation since is a
        negative example; on a violation every state still in the window is a positive one."""
        st = self.st
        k = np.arange(len(self.fear_rows))
        ptr = st["fear_ptr"]
        old = st["fear_buf"][k, ptr]
        aged = old >= 0
        np.add.at(st["fear_tot"], (k[aged], old[aged]), 1.0)
        st["fear_buf"][k, ptr] = flat
        st["fear_ptr"] = (ptr + 1) % self.fear_horizon

    def _fear_close(self, row: int, violated: bool) -> None:
        st = self.st
        k = int(np.searchsorted(self.fear_rows, row))
        entries = st["fear_buf"][k][st["fear_buf"][k] >= 0]
        st["fear_tot"][k, entries] += 1.0
        if violated:
            st["fear_pos"][k, entries] += 1.0
        st["fear_buf"][k] = -1

    # --- episode ends, schedules and transfer ------------------------------------------------

    def _end_episodes(self, done: np.ndarray, success: np.ndarray) -> int:
        st = self.st
        recorded = 0
        for r in done.tolist():
            if self.fear[r]:
                self._fear_close(r, bool(st["ep_viol"][r]))
            if not st["active"][r]:
                continue
            e = int(st["ep_count"][r])
            st["ret"][r, e] = st["ep_ret"][r]
            st["length"][r, e] = self.env.steps[r]
            st["viol"][r, e] = st["ep_viol"][r]
            st["fviol"][r, e] = st["ep_fviol"][r]
            st["fviol_cell"][r, e], st["fviol_q"][r, e] = st["ep_fsite"][r]
            st["success"][r, e] = success[r]
            st["ep_spec"][r, e] = st["spec"][r]
            st["ep_count"][r] = e + 1
            recorded += 1
            # Every run takes one environment step per lock-step while it is active, and is
            # active from the start: batch_step is its own step count.
            if e + 1 >= self.E or (self.step_budget and self.batch_step >= self.step_budget):
                st["active"][r] = False
            elif self.progressive[r]:
                new = self._scheduled_spec(r, e + 1)
                if new != st["spec"][r]:
                    self._switch(r, new, e + 1)
        self._reset_rows(done)
        return recorded

    def _scheduled_spec(self, r: int, episodes_done: int) -> int:
        m = self.runs[r].method
        st = self.st
        cur = int(st["spec"][r])
        if cur == self.K - 1:
            return cur
        if m.schedule == "fixed":
            share = m.switch_every or self.E // self.K
            return min(episodes_done // share, self.K - 1)
        on_task = episodes_done - int(st["task_start"][r])
        if m.max_episodes_per_task and on_task >= m.max_episodes_per_task:
            return cur + 1
        if m.max_steps_per_task:
            start = int(st["task_start"][r])
            if int(st["length"][r, start:episodes_done].sum()) >= m.max_steps_per_task:
                return cur + 1
        if on_task < max(m.min_episodes, m.window):
            return cur
        recent = st["viol"][r, episodes_done - m.window : episodes_done]
        return cur + 1 if recent.mean() < m.threshold else cur

    def _switch(self, r: int, new: int, episodes_done: int) -> None:
        st = self.st
        m = self.runs[r].method
        first = new - 1 if m.transfer_from == "last" else 0
        if m.transfer == "paper_code":
            st["Q"][r, new] = st["Q"][r, st["spec"][r]]  # one table, carried on whole
        else:
            st["Q"][r, new] = transfer_values(
                m.transfer,
                m.combine,
                st["Q"][r, first:new],
                self.automata[first : new + 1],
                self.pairs[new][first:],
            )
        k = int(self.critic_pos[r])
        if k >= 0 and m.critic_transfer != "none":
            auts, pairs = self.automata[first : new + 1], self.pairs[new][first:]
            st["C"][k, new] = transfer_critic(m.critic_transfer, st["C"][k, first:new],
                                              auts, pairs)
            learned = (st["C_n"][k, first:new] > 0).astype(np.float64)[..., None, :]
            st["C_n"][k, new] = transfer_critic(m.critic_transfer, learned, auts,
                                                pairs)[..., 0, :].astype(np.int64)
        if k >= 0 and m.critic_pool_transfer == "carry":
            # cell-level, so no correspondence is needed: the same cells are dangerous
            cur = st["spec"][r]
            st["Cp"][k, new] = st["Cp"][k, cur]
            st["Cp_n"][k, new] = np.minimum(st["Cp_n"][k, cur], 1)
        if self.fear[r] and m.fear == "per_stage":
            # its episode was closed into the model just before: nothing is left in flight
            k = int(np.searchsorted(self.fear_rows, r))
            st["fear_pos"][k] = 0.0
            st["fear_tot"][k] = 0.0
        st["spec"][r] = new
        st["task_start"][r] = episodes_done

    # --- greedy evaluation on the final spec -----------------------------------------------

    def evaluate(self, n_episodes: int) -> dict[str, np.ndarray]:
        """Greedy (epsilon 0, no learning) episodes of every run's final-spec policy.

        A violation of the final spec ends the episode for every method (the no-safeguard
        baseline included) and counts against it; success = the task (task mode) or reaching
        the step cap without violation (paper mode). Returns per-run rates and mean return.
        """
        cfg, mon = self.cfg, self.mon
        K1 = self.K - 1
        env = FastMinecraft(
            self.layout,
            self.R,
            RowRandom.for_runs(self.seed, [r.seed_index for r in self.runs], evaluation=True),
            slip=cfg.env.slip,
            jitter=cfg.env.jitter,
        )
        tie = BlockStream(
            [run_generator(self.seed, AGENT_EVAL, r.seed_index, r.method.name) for r in self.runs],
            N_ACTIONS,
        )
        table = self.st["Q"][:, K1]
        spec = np.full(self.R, K1)
        count = np.zeros(self.R, dtype=np.int64)
        n_success = np.zeros(self.R)
        n_viol = np.zeros(self.R)
        total_ret = np.zeros(self.R)
        ep_ret = np.zeros(self.R)
        q = mon.next_global[mon.initial[K1], env.reset()]
        n_flat = self.st["C_n"].reshape(-1, N_ACTIONS)
        while (count < n_episodes).any():
            s = env.cell * N_STAGES + env.stage
            qv = table[self.rows, s, self._local(q, spec)]
            score = qv + tie.next() * _TIE_NOISE
            allowed = self._allowed(q, spec, env) if self.shield.any() else None
            if self.crit_greedy.any():
                if allowed is None:
                    allowed = np.ones((self.R, N_ACTIONS), dtype=bool)
                c_here = self._critic_at(spec, s, q, n_flat)[0]
                allowed = self._critic_allowed(c_here, allowed, self.crit_greedy)
            if allowed is not None:
                score = np.where(allowed, score, -np.inf)
            mask, success = env.step(score.argmax(axis=1))
            q = mon.next_global[q, mask]
            viol = q == mon.sink[K1]
            truncated = env.steps >= cfg.env.max_steps
            if cfg.env.reward_mode == "task":
                reward = TASK_STEP_COST + success * TASK_SUCCESS_REWARD
                won = success & ~viol
            else:
                reward = np.full(self.R, SAFE_STEP_REWARD)
                won = truncated & ~viol
            ep_ret += np.where(viol, cfg.env.violation_penalty, reward)
            done = viol | truncated | (success if cfg.env.reward_mode == "task" else False)
            if done.any():
                idx = np.flatnonzero(done & (count < n_episodes))
                n_success[idx] += won[idx]
                n_viol[idx] += viol[idx]
                total_ret[idx] += ep_ret[idx]
                count[idx] += 1
                reset = np.flatnonzero(done)
                ep_ret[reset] = 0.0
                q[reset] = mon.next_global[mon.initial[K1], env.reset(reset)]
        return {
            "success_rate": n_success / n_episodes,
            "violation_rate": n_viol / n_episodes,
            "return": total_ret / n_episodes,
        }

    # --- summary numbers ---------------------------------------------------------------------

    def start_values(self) -> np.ndarray:
        """max_a Q at the start state (un-jittered start labels) of every run's final table."""
        K1 = self.K - 1
        start_mask = int(self.layout.base_masks()[self.layout.start_cell])
        s = self.layout.start_cell * N_STAGES + advance_stage(0, start_mask)
        q0 = self.mon.next_global[self.mon.initial[K1], start_mask]
        ql = np.where(self.use_aut, q0 - self.mon.offset[K1], 0)
        return self.st["Q"][self.rows, K1, s, ql].max(axis=1)
