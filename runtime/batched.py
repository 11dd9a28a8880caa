"""Stepping many copies of one automaton at once, in numpy or in torch.

A letter is given either as *packed proposition bits* (an integer whose bit ``i`` is the
value of ``aut.props[i]``) or as a bool matrix ``[B, len(props)]``. With packed bits and few
propositions a step is at most two gathers: the letter class of every possible bit pattern
is precomputed (``class_of_bits[2**k]``), and the successor is read from a flat
``delta[state * n_classes + class]`` table. When ``n_states * 2**k`` is small enough the two
tables are fused into one (``table[state << k | bits]``), which is a single gather.

With more propositions than fit a table, the symbolic decision diagram is walked level by
level, which is still fully vectorised (one gather per proposition).

The torch backend keeps every table on the tensors' device, so GPU rollouts never copy
monitor state back to the host.

>>> import numpy as np
>>> from speclang.runtime.build import automaton_from_function
>>> aut = automaton_from_function(["hazard"], 2, lambda q, v: 1 if q or v["hazard"] else 0,
...                               accepting=[True, False])
>>> mon = BatchedMonitor(aut)
>>> states = mon.initial_states(3)
>>> states = mon.step(states, np.array([0, 1, 0]))
>>> states.tolist(), mon.violated(states).tolist()
([0, 1, 0], [False, True, False])
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from speclang.compiler import kernel
from speclang.compiler.automaton import Automaton, Verdict
from speclang.compiler.kernel import FUSED_TABLE_BUDGET, MAX_PACKED_PROPS

Backend = Literal["numpy", "torch"]


class BatchedMonitor:
    """Steps ``B`` copies of ``aut`` in lock-step; stateless: the caller holds the states.

    ``backend="torch"`` accepts and returns torch tensors and keeps all tables on ``device``
    (default CPU). States are int32 (numpy) or int64 (torch, its native index type).
    """

    def __init__(
        self,
        aut: Automaton,
        *,
        backend: Backend = "numpy",
        device: Any = None,
        fused_budget: int = FUSED_TABLE_BUDGET,
    ) -> None:
        if backend not in ("numpy", "torch"):
            raise ValueError(f"backend must be 'numpy' or 'torch', not {backend!r}")
        self.aut = aut
        self.backend: Backend = backend
        self.props = aut.props
        self.k = len(aut.props)
        self.n_states = aut.n_states
        self._accepting = np.asarray(aut.accepting, dtype=bool)
        self._verdicts = np.asarray(aut.verdicts, dtype=np.int8)
        self.packed = self.k <= MAX_PACKED_PROPS
        self.tables = kernel.PackedTables(aut, fused_budget) if self.packed else None
        self._torch: dict[str, Any] = {}
        self.device = device
        if backend == "torch":
            import torch

            dev = torch.device(device if device is not None else "cpu")
            self.device = dev
            if self.tables is not None:
                self.tables.to_torch(dev)
            for name in ("dd_var", "dd_lo", "dd_hi", "roots"):
                self._torch[name] = torch.as_tensor(
                    getattr(aut, name), dtype=torch.int64, device=dev
                )
            self._torch["accepting"] = torch.as_tensor(self._accepting, device=dev)
            self._torch["verdicts"] = torch.as_tensor(self._verdicts, device=dev)

    @property
    def fused(self) -> np.ndarray | None:
        return None if self.tables is None else self.tables.fused

    @property
    def n_classes(self) -> int | None:
        return None if self.tables is None else self.tables.n_classes

    # --- letters ---------------------------------------------------------------------------

    def pack(self, valuations: Any) -> Any:
        """Packed bits (int64) from bool valuations ``[B, len(props)]`` (numpy or torch)."""
        if self.k > 62:
            raise ValueError("more than 62 propositions cannot be packed; pass bool valuations")
        if self.backend == "torch":
            import torch

            v = torch.as_tensor(valuations, device=self.device)
            weights = torch.bitwise_left_shift(
                torch.ones(self.k, dtype=torch.int64, device=v.device),
                torch.arange(self.k, device=v.device),
            )
            return (v.to(torch.int64) * weights).sum(-1)
        vals = np.asarray(valuations, dtype=bool)
        powers = np.left_shift(np.int64(1), np.arange(self.k, dtype=np.int64))
        return vals.astype(np.int64) @ powers

    # --- stepping --------------------------------------------------------------------------

    def initial_states(self, batch: int) -> Any:
        if self.backend == "torch":
            import torch

            return torch.full((batch,), self.aut.initial, dtype=torch.int64, device=self.device)
        return np.full(batch, self.aut.initial, dtype=np.int32)

    def step(self, states: Any, letters: Any, out: Any = None) -> Any:
        """Successor states. ``letters``: packed bits ``[B]`` (any integer dtype) or bool
        valuations ``[B, len(props)]``. ``out`` (int32 array, or int64 tensor for torch;
        ``states`` itself is fine) receives the result in place."""
        if self.backend == "torch":
            return self._step_torch(states, letters, out)
        states = np.asarray(states)
        letters = np.asarray(letters)
        if letters.dtype == np.bool_:
            if letters.ndim != 2 or letters.shape[1] != self.k:
                raise ValueError(
                    f"bool valuations must have shape [B, {self.k}], got {letters.shape}"
                )
            if not self.packed:
                aut = self.aut
                return kernel.leaves(
                    aut.dd_var, aut.dd_lo, aut.dd_hi, aut.roots[states], letters
                ).astype(np.int32)
            letters = self.pack(letters)
        if letters.shape != states.shape:
            raise ValueError(f"{letters.shape[0]} letters for {states.shape[0]} states")
        if self.tables is None:
            aut = self.aut
            return kernel.leaves_bits(
                aut.dd_var, aut.dd_lo, aut.dd_hi, aut.roots[states],
                letters.astype(np.int64, copy=False), self.k,
            ).astype(np.int32)
        if out is None:
            out = np.empty(states.shape[0], dtype=np.int32)
        return self.tables.step(states, letters, out)

    def _step_torch(self, states: Any, letters: Any, out: Any = None) -> Any:
        import torch

        t = self._torch
        states = torch.as_tensor(states, device=self.device)
        letters = torch.as_tensor(letters, device=self.device)
        if letters.dtype == torch.bool:
            if letters.ndim != 2 or letters.shape[1] != self.k:
                raise ValueError(
                    f"bool valuations must have shape [B, {self.k}], got {tuple(letters.shape)}"
                )
            letters = self.pack(letters)
        if letters.dtype not in (torch.int32, torch.int64):  # index types of index_select
            letters = letters.to(torch.int64)
        if states.dtype != torch.int64:
            states = states.to(torch.int64)
        if letters.shape != states.shape:
            raise ValueError(f"{letters.shape[0]} letters for {states.shape[0]} states")
        if self.tables is not None:
            if out is None:
                out = torch.empty(states.shape[0], dtype=torch.int64, device=states.device)
            return self.tables.step_torch(states, letters, out)
        return kernel.leaves_bits_torch(
            t["dd_var"], t["dd_lo"], t["dd_hi"], t["roots"][states], letters, self.k
        )

    # --- reading states --------------------------------------------------------------------

    def accepting(self, states: Any) -> Any:
        if self.backend == "torch":
            return self._torch["accepting"][states]
        return self._accepting[np.asarray(states)]

    def verdicts(self, states: Any) -> Any:
        """Verdict codes (see :class:`speclang.compiler.automaton.Verdict`)."""
        if self.backend == "torch":
            return self._torch["verdicts"][states]
        return self._verdicts[np.asarray(states)]

    def violated(self, states: Any) -> Any:
        return self.verdicts(states) == int(Verdict.VIOLATED)
