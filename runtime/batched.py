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

from speclang.compiler.automaton import Automaton, Verdict

Backend = Literal["numpy", "torch"]

# Packed bits index a table of 2**k entries; beyond this many propositions the table would
# stop fitting in cache (and memory), so the diagram is walked instead.
MAX_PACKED_PROPS = 20
# Above this many entries the fused state x bits table loses to two small, cache-resident
# gathers (int32 entries: 2**20 entries = 4 MiB, about the size of a shared L2/L3 slice).
FUSED_TABLE_BUDGET = 1 << 20
# Rows per chunk of a large batch: three int32 chunk arrays stay within a core's L2.
CHUNK = 1 << 15
# Computing letter classes from scratch evaluates every state on every bit pattern.
CLASS_SCAN_BUDGET = 1 << 25


def _walk(
    var: np.ndarray, lo: np.ndarray, hi: np.ndarray, start: np.ndarray, bits: np.ndarray, depth: int
) -> np.ndarray:
    """Leaves reached from ``start`` nodes on packed ``bits`` (int64), as leaf payloads."""
    node = start.astype(np.int64, copy=True)
    for _ in range(depth + 1):
        v = var[node]
        inner = v >= 0
        if not inner.any():
            break
        bit = (bits >> np.maximum(v, 0)) & 1
        node = np.where(inner, np.where(bit == 1, hi[node], lo[node]), node)
    return lo[node]


def letter_classes(aut: Automaton) -> tuple[np.ndarray, np.ndarray]:
    """``(class_of_bits[2**k], delta[n, C])`` for an automaton with ``k <= MAX_PACKED_PROPS``
    propositions, using the automaton's own class diagram when it has one and otherwise
    grouping bit patterns that lead to the same successor in every state."""
    k = len(aut.props)
    if k > MAX_PACKED_PROPS:
        raise ValueError(f"{k} propositions are too many for a packed-bits table")
    patterns = np.arange(1 << k, dtype=np.int64)
    if aut.class_dd_var is not None and aut.delta is not None:
        assert aut.class_dd_lo is not None and aut.class_dd_hi is not None
        cls = _walk(
            aut.class_dd_var, aut.class_dd_lo, aut.class_dd_hi,
            np.zeros(1 << k, dtype=np.int64), patterns, k,
        )
        return cls.astype(np.int32), np.ascontiguousarray(aut.delta, dtype=np.int32)
    n = aut.n_states
    if n * (1 << k) > CLASS_SCAN_BUDGET:
        raise ValueError(
            f"automaton {aut.name!r} has no letter-class table and {n} states x 2**{k} "
            "letters is too many to scan"
        )
    # succ[p, q] = successor of state q on bit pattern p; equal rows = same letter class.
    succ = np.empty((1 << k, n), dtype=np.int32)
    for q in range(n):
        start = np.full(1 << k, aut.roots[q], dtype=np.int64)
        succ[:, q] = _walk(aut.dd_var, aut.dd_lo, aut.dd_hi, start, patterns, k)
    rows, cls = np.unique(succ, axis=0, return_inverse=True)
    return cls.reshape(-1).astype(np.int32), np.ascontiguousarray(rows.T, dtype=np.int32)


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
        self.fused: np.ndarray | None = None
        self.class_of_bits: np.ndarray | None = None
        self.delta_flat: np.ndarray | None = None
        self.n_classes: int | None = None
        if self.packed:
            cls, delta = letter_classes(aut)
            self.class_of_bits = cls
            self.n_classes = int(delta.shape[1])
            self.delta_flat = delta.reshape(-1)
            if self.n_states << self.k <= fused_budget:
                # fused[q << k | bits] = delta[q, cls[bits]]
                self.fused = np.ascontiguousarray(delta[:, cls].reshape(-1), dtype=np.int32)
        self._torch: dict[str, Any] = {}
        self._buffers: dict[str, np.ndarray] = {}
        self.device = device
        if backend == "torch":
            import torch

            dev = torch.device(device if device is not None else "cpu")
            self.device = dev
            for name in ("fused", "class_of_bits", "delta_flat"):
                arr = getattr(self, name)
                if arr is not None:
                    self._torch[name] = torch.as_tensor(arr, dtype=torch.int64, device=dev)
            for name in ("dd_var", "dd_lo", "dd_hi", "roots"):
                self._torch[name] = torch.as_tensor(
                    getattr(aut, name), dtype=torch.int64, device=dev
                )
            self._torch["accepting"] = torch.as_tensor(self._accepting, device=dev)
            self._torch["verdicts"] = torch.as_tensor(self._verdicts, device=dev)

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
                return self._walk_bool(states, letters)
            letters = self.pack(letters)
        if letters.shape != states.shape:
            raise ValueError(f"{letters.shape[0]} letters for {states.shape[0]} states")
        if not self.packed:
            return self._walk_bits(states, letters.astype(np.int64, copy=False)).astype(np.int32)
        batch = states.shape[0]
        if out is None:
            out = np.empty(batch, dtype=np.int32)
        # Large batches go through in cache-sized chunks, with the index arithmetic in reused
        # int32 scratch buffers: a multi-megabyte temporary per operation costs more in
        # page faults and memory traffic than the gathers themselves.
        for lo in range(0, batch, CHUNK):
            hi = min(lo + CHUNK, batch)
            self._step_chunk(states[lo:hi], letters[lo:hi], out[lo:hi])
        return out

    def _step_chunk(self, states: np.ndarray, letters: np.ndarray, out: np.ndarray) -> None:
        idx = self._scratch("idx", states.shape[0])
        if self.fused is not None:
            np.left_shift(states, self.k, out=idx, casting="unsafe")
            np.bitwise_or(idx, letters, out=idx, casting="unsafe")
            np.take(self.fused, idx, out=out)
            return
        assert self.class_of_bits is not None and self.delta_flat is not None
        assert self.n_classes is not None
        cls = np.take(self.class_of_bits, letters, out=self._scratch("cls", states.shape[0]))
        np.multiply(states, self.n_classes, out=idx, casting="unsafe")
        np.add(idx, cls, out=idx)
        np.take(self.delta_flat, idx, out=out)

    def _scratch(self, name: str, size: int) -> np.ndarray:
        buf = self._buffers.get(name)
        if buf is None or buf.shape[0] < size:
            buf = self._buffers[name] = np.empty(size, dtype=np.int32)
        return buf[:size]

    def _walk_bits(self, states: np.ndarray, bits: np.ndarray) -> np.ndarray:
        aut = self.aut
        return _walk(aut.dd_var, aut.dd_lo, aut.dd_hi, aut.roots[states], bits, self.k)

    def _walk_bool(self, states: np.ndarray, valuations: np.ndarray) -> np.ndarray:
        aut = self.aut
        node = aut.roots[states].astype(np.int64)
        rows = np.arange(states.shape[0])
        for _ in range(self.k + 1):
            v = aut.dd_var[node]
            inner = v >= 0
            if not inner.any():
                break
            bit = valuations[rows, np.maximum(v, 0)]
            node = np.where(inner, np.where(bit, aut.dd_hi[node], aut.dd_lo[node]), node)
        return aut.dd_lo[node].astype(np.int32)

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
        # index_select is torch's fast 1-D gather on CPU (advanced indexing is several
        # times slower there); on GPUs both are single kernels, so only CPU batches are
        # chunked to stay in cache.
        if "fused" in t or "class_of_bits" in t:
            batch = states.shape[0]
            if out is None:
                out = torch.empty(batch, dtype=torch.int64, device=states.device)
            chunk = CHUNK if states.device.type == "cpu" else max(batch, 1)
            for lo in range(0, batch, chunk):
                self._gather_torch(
                    states[lo : lo + chunk], letters[lo : lo + chunk], out[lo : lo + chunk]
                )
            return out
        node = t["roots"][states]
        for _ in range(self.k + 1):
            v = t["dd_var"][node]
            inner = v >= 0
            if not bool(inner.any()):
                break
            bit = torch.bitwise_and(torch.bitwise_right_shift(letters, v.clamp(min=0)), 1)
            nxt = torch.where(bit == 1, t["dd_hi"][node], t["dd_lo"][node])
            node = torch.where(inner, nxt, node)
        return t["dd_lo"][node]

    def _gather_torch(self, states: Any, letters: Any, out: Any) -> None:
        import torch

        t = self._torch
        idx = self._torch_scratch("idx", states.shape[0])
        if "fused" in t:
            torch.bitwise_left_shift(states, self.k, out=idx)
            idx.bitwise_or_(letters)
            torch.index_select(t["fused"], 0, idx, out=out)
            return
        cls = self._torch_scratch("cls", states.shape[0])
        torch.index_select(t["class_of_bits"], 0, letters, out=cls)
        torch.add(cls, states, alpha=self.n_classes, out=idx)  # cls + n_classes * state
        torch.index_select(t["delta_flat"], 0, idx, out=out)

    def _torch_scratch(self, name: str, size: int) -> Any:
        import torch

        key = "scratch_" + name
        buf = self._torch.get(key)
        if buf is None or buf.shape[0] < size:
            buf = self._torch[key] = torch.empty(size, dtype=torch.int64, device=self.device)
        return buf[:size]

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
