"""Stepping a compiled automaton: the one place where a state advances on a letter.

Every monitor in the project goes through this module: :class:`~speclang.compiler.automaton.
Automaton`'s own ``step``/``step_batch``/``classify``, the artifact loader's checks, the
batched runtime monitor (numpy and torch), the gym wrapper's per-step lookup, the agents'
label-mask tables and the text monitor.

A letter comes in one of three shapes:

* a bool valuation over ``aut.props`` (a vector, or a matrix ``[B, len(props)]``);
* *packed bits*: an integer whose bit ``i`` is the value of ``props[i]`` (``uint64`` words,
  word ``i // 64``, for more than 64 propositions);
* a *letter class* id: letters every state treats alike, stepped by ``delta[q, c]``.

The decision diagram (``dd_*``: node ``k`` tests ``props[var[k]]``, ``var[k] == -1`` marks a
leaf whose payload is ``lo[k]``) tests each proposition at most once along a path, so
``len(props) + 1`` rounds of vectorised gathers reach every leaf.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from speclang.compiler.automaton import Automaton

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
# Scalar stepping through Python lists (:class:`Stepper`): up to this many propositions the
# class table is tabulated, and up to this many entries class and delta are fused.
SCALAR_MAX_PROPS = 16
SCALAR_FUSED_BUDGET = 1 << 16
# Entries of the scalar memo used beyond those sizes; cleared when full.
MEMO_LIMIT = 1 << 16


# --- walking the decision diagram ----------------------------------------------------------


def leaves(
    var: np.ndarray, lo: np.ndarray, hi: np.ndarray, start: np.ndarray, valuations: np.ndarray
) -> np.ndarray:
    """Payload of the leaf each row reaches from its ``start`` node, reading bool
    ``valuations[row, prop]``."""
    node = np.array(start, dtype=np.int64)
    rows = np.arange(node.shape[0])
    for _ in range(valuations.shape[1] + 1):
        v = var[node]
        inner = v >= 0
        if not inner.any():
            break
        at = node[inner]
        node[inner] = np.where(valuations[rows[inner], v[inner]], hi[at], lo[at])
    return lo[node]


def leaves_bits(
    var: np.ndarray, lo: np.ndarray, hi: np.ndarray, start: np.ndarray, bits: np.ndarray,
    depth: int,
) -> np.ndarray:
    """:func:`leaves` for packed ``bits`` (int64, at most 63 propositions); ``depth`` is the
    number of propositions."""
    node = start.astype(np.int64, copy=True)
    for _ in range(depth + 1):
        v = var[node]
        inner = v >= 0
        if not inner.any():
            break
        bit = (bits >> np.maximum(v, 0)) & 1
        node = np.where(inner, np.where(bit == 1, hi[node], lo[node]), node)
    return lo[node]


def leaves_words(
    var: np.ndarray, lo: np.ndarray, hi: np.ndarray, start: np.ndarray, words: np.ndarray,
    depth: int,
) -> np.ndarray:
    """:func:`leaves` for valuations packed into ``uint64`` words ``[B, W]``: bit ``i % 64``
    of word ``i // 64`` is proposition ``i``."""
    node = np.array(start, dtype=np.int64)
    rows = np.arange(words.shape[0])
    for _ in range(depth + 1):
        v = var[node]
        inner = v >= 0
        if not inner.any():
            break
        vi = v[inner].astype(np.int64)
        word = words[rows[inner], vi // 64]
        bit = ((word >> (vi % 64).astype(np.uint64)) & np.uint64(1)).astype(bool)
        at = node[inner]
        node[inner] = np.where(bit, hi[at], lo[at])
    return lo[node]


def leaves_bits_torch(var: Any, lo: Any, hi: Any, start: Any, bits: Any, depth: int) -> Any:
    """:func:`leaves_bits` on torch tensors (int64), on their device."""
    import torch

    node = start
    for _ in range(depth + 1):
        v = var[node]
        inner = v >= 0
        if not bool(inner.any()):
            break
        bit = torch.bitwise_and(torch.bitwise_right_shift(bits, v.clamp(min=0)), 1)
        node = torch.where(inner, torch.where(bit == 1, hi[node], lo[node]), node)
    return lo[node]


# --- one automaton -------------------------------------------------------------------------


def step(aut: Automaton, q: int, vec: np.ndarray) -> int:
    """Successor of ``q`` on a bool valuation vector over ``aut.props``."""
    node = int(aut.roots[q])
    var, lo, hi = aut.dd_var, aut.dd_lo, aut.dd_hi
    while var[node] >= 0:
        node = int(hi[node]) if vec[var[node]] else int(lo[node])
    return int(lo[node])


def step_bits(aut: Automaton, q: int, bits: int) -> int:
    """Successor of ``q`` on the letter with packed ``bits`` (a Python int of any size)."""
    node = int(aut.roots[q])
    var, lo, hi = aut.dd_var, aut.dd_lo, aut.dd_hi
    while (v := int(var[node])) >= 0:
        node = int(hi[node]) if bits >> v & 1 else int(lo[node])
    return int(lo[node])


def step_batch(aut: Automaton, states: np.ndarray, valuations: np.ndarray) -> np.ndarray:
    """Successors of ``states`` int[B] on bool ``valuations`` [B, len(props)]."""
    states = np.asarray(states)
    if aut.delta is not None:
        return aut.delta[states, classify(aut, valuations)]
    return leaves(aut.dd_var, aut.dd_lo, aut.dd_hi, aut.roots[states], valuations)


def _class_diagram(aut: Automaton) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if aut.class_dd_var is None or aut.class_dd_lo is None or aut.class_dd_hi is None:
        raise ValueError("this automaton has no letter-class table (too many classes)")
    return aut.class_dd_var, aut.class_dd_lo, aut.class_dd_hi


def classify(aut: Automaton, valuations: np.ndarray) -> np.ndarray:
    """Letter class ids of bool valuations ``[..., len(props)]``."""
    var, lo, hi = _class_diagram(aut)
    vals = np.asarray(valuations, dtype=bool)
    # reshape(-1, 0) cannot infer the row count when there are no props (`G false`).
    flat = vals.reshape(int(np.prod(vals.shape[:-1])), len(aut.props))
    start = np.zeros(flat.shape[0], dtype=np.int64)
    return leaves(var, lo, hi, start, flat).reshape(vals.shape[:-1])


def classify_packed(aut: Automaton, bits: np.ndarray) -> np.ndarray:
    """Letter class ids of bit-packed valuations: with at most 64 props ``bits`` is
    ``uint64[...]`` (one word per valuation); with more it is
    ``uint64[..., ceil(len(props) / 64)]``."""
    var, lo, hi = _class_diagram(aut)
    words = max(1, -(-len(aut.props) // 64))
    arr = np.asarray(bits, dtype=np.uint64)
    if words == 1:
        shape = arr.shape
        flat = arr.reshape(-1, 1)
    else:
        if arr.shape[-1:] != (words,):
            raise ValueError(f"expected a trailing dimension of {words} words")
        shape = arr.shape[:-1]
        flat = arr.reshape(-1, words)
    start = np.zeros(flat.shape[0], dtype=np.int64)
    return leaves_words(var, lo, hi, start, flat, len(aut.props)).reshape(shape)


def letter_classes(aut: Automaton) -> tuple[np.ndarray, np.ndarray]:
    """``(class_of_bits[2**k], delta[n, C])`` for an automaton with ``k <= MAX_PACKED_PROPS``
    propositions, using the automaton's own class diagram when it has one and otherwise
    grouping bit patterns that lead to the same successor in every state."""
    k = len(aut.props)
    if k > MAX_PACKED_PROPS:
        raise ValueError(f"{k} propositions are too many for a packed-bits table")
    patterns = np.arange(1 << k, dtype=np.int64)
    if aut.class_dd_var is not None and aut.delta is not None:
        var, lo, hi = _class_diagram(aut)
        cls = leaves_bits(var, lo, hi, np.zeros(1 << k, dtype=np.int64), patterns, k)
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
        succ[:, q] = leaves_bits(aut.dd_var, aut.dd_lo, aut.dd_hi, start, patterns, k)
    rows, cls = np.unique(succ, axis=0, return_inverse=True)
    return cls.reshape(-1).astype(np.int32), np.ascontiguousarray(rows.T, dtype=np.int32)


def letter_table(aut: Automaton, alphabet: Sequence[str]) -> np.ndarray:
    """``int64[n_states, 2**len(alphabet)]``: the successor of every state on every letter
    packed over an environment's own ``alphabet`` (bit ``j`` = ``alphabet[j]``).
    Propositions of the automaton outside ``alphabet`` are always false; names of
    ``alphabet`` the automaton does not use do not matter."""
    letters = np.arange(1 << len(alphabet), dtype=np.int64)
    bits = np.zeros_like(letters)
    for i, p in enumerate(aut.props):
        if p in alphabet:
            bits |= ((letters >> alphabet.index(p)) & 1) << i
    n = aut.n_states
    if len(aut.props) <= MAX_PACKED_PROPS:
        cls, delta = letter_classes(aut)
        return delta[:, cls[bits]].astype(np.int64)
    starts = np.repeat(np.asarray(aut.roots, dtype=np.int64), bits.shape[0])
    out = leaves_bits(aut.dd_var, aut.dd_lo, aut.dd_hi, starts, np.tile(bits, n), len(aut.props))
    return out.astype(np.int64).reshape(n, bits.shape[0])


# --- stepping one state at a time ----------------------------------------------------------


class Stepper:
    """Steps one state at a time on packed letters through Python lists, the per-step hot
    path of the gym wrapper and the text monitor (a list index costs less than any numpy
    call): ``next[q][bits]`` when class and delta fuse into a small table, else
    ``delta[q][cls[bits]]``, else a bounded memo in front of the diagram walk."""

    def __init__(
        self,
        aut: Automaton,
        *,
        max_props: int = SCALAR_MAX_PROPS,
        fused_budget: int = SCALAR_FUSED_BUDGET,
    ) -> None:
        self.aut = aut
        self.cls: list[int] | None = None
        self.delta: list[list[int]] = []
        self.next: list[list[int]] | None = None
        self._memo: dict[tuple[int, int], int] = {}
        if len(aut.props) <= max_props:
            try:
                cls, delta = letter_classes(aut)
            except ValueError:  # no class table and too big to scan: walk instead
                return
            self.cls, self.delta = cls.tolist(), delta.tolist()
            if aut.n_states * len(self.cls) <= fused_budget:
                self.next = [[row[c] for c in self.cls] for row in self.delta]

    def step_bits(self, q: int, bits: int) -> int:
        """The successor of ``q`` on the letter with packed ``bits``."""
        if self.next is not None:
            return self.next[q][bits]
        if self.cls is not None:
            return self.delta[q][self.cls[bits]]
        key = (q, bits)
        t = self._memo.get(key)
        if t is None:
            if len(self._memo) >= MEMO_LIMIT:
                self._memo.clear()
            t = self._memo[key] = step_bits(self.aut, q, bits)
        return t


# --- stepping a batch on packed letters ----------------------------------------------------


class PackedTables:
    """The tables that step a batch on packed letters (``k <= MAX_PACKED_PROPS``) in at most
    two gathers: the class of every bit pattern (``class_of_bits[2**k]``) and a flat
    ``delta[state * n_classes + class]``; when ``n_states * 2**k`` fits ``fused_budget`` the
    two are fused into one (``fused[state << k | bits]``), a single gather."""

    def __init__(self, aut: Automaton, fused_budget: int = FUSED_TABLE_BUDGET) -> None:
        self.k = len(aut.props)
        cls, delta = letter_classes(aut)
        self.class_of_bits: np.ndarray = cls
        self.n_classes = int(delta.shape[1])
        self.delta_flat: np.ndarray = delta.reshape(-1)
        self.fused: np.ndarray | None = None
        if aut.n_states << self.k <= fused_budget:
            # fused[q << k | bits] = delta[q, cls[bits]]
            self.fused = np.ascontiguousarray(delta[:, cls].reshape(-1), dtype=np.int32)
        self._buffers: dict[str, np.ndarray] = {}
        self._torch: dict[str, Any] = {}

    def step(self, states: np.ndarray, bits: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Successors (int32, written to ``out``) of int ``states`` on packed ``bits``."""
        # Large batches go through in cache-sized chunks, with the index arithmetic in reused
        # int32 scratch buffers: a multi-megabyte temporary per operation costs more in
        # page faults and memory traffic than the gathers themselves.
        for lo in range(0, states.shape[0], CHUNK):
            hi = min(lo + CHUNK, states.shape[0])
            self._step_chunk(states[lo:hi], bits[lo:hi], out[lo:hi])
        return out

    def _step_chunk(self, states: np.ndarray, letters: np.ndarray, out: np.ndarray) -> None:
        idx = self._scratch("idx", states.shape[0])
        if self.fused is not None:
            np.left_shift(states, self.k, out=idx, casting="unsafe")
            np.bitwise_or(idx, letters, out=idx, casting="unsafe")
            np.take(self.fused, idx, out=out)
            return
        cls = np.take(self.class_of_bits, letters, out=self._scratch("cls", states.shape[0]))
        np.multiply(states, self.n_classes, out=idx, casting="unsafe")
        np.add(idx, cls, out=idx)
        np.take(self.delta_flat, idx, out=out)

    def _scratch(self, name: str, size: int) -> np.ndarray:
        buf = self._buffers.get(name)
        if buf is None or buf.shape[0] < size:
            buf = self._buffers[name] = np.empty(size, dtype=np.int32)
        return buf[:size]

    def to_torch(self, device: Any) -> None:
        """Copies the tables to ``device`` (int64: torch's index type) for :meth:`step_torch`."""
        import torch

        for name in ("fused", "class_of_bits", "delta_flat"):
            arr = getattr(self, name)
            if arr is not None:
                self._torch[name] = torch.as_tensor(arr, dtype=torch.int64, device=device)

    def step_torch(self, states: Any, bits: Any, out: Any) -> Any:
        """:meth:`step` on int64 tensors already on the tables' device."""
        # index_select is torch's fast 1-D gather on CPU (advanced indexing is several
        # times slower there); on GPUs both are single kernels, so only CPU batches are
        # chunked to stay in cache.
        batch = states.shape[0]
        chunk = CHUNK if states.device.type == "cpu" else max(batch, 1)
        for lo in range(0, batch, chunk):
            self._gather_torch(states[lo : lo + chunk], bits[lo : lo + chunk], out[lo : lo + chunk])
        return out

    def _gather_torch(self, states: Any, letters: Any, out: Any) -> None:
        import torch

        t = self._torch
        idx = self._torch_scratch("idx", states.shape[0], states.device)
        if "fused" in t:
            torch.bitwise_left_shift(states, self.k, out=idx)
            idx.bitwise_or_(letters)
            torch.index_select(t["fused"], 0, idx, out=out)
            return
        cls = self._torch_scratch("cls", states.shape[0], states.device)
        torch.index_select(t["class_of_bits"], 0, letters, out=cls)
        torch.add(cls, states, alpha=self.n_classes, out=idx)  # cls + n_classes * state
        torch.index_select(t["delta_flat"], 0, idx, out=out)

    def _torch_scratch(self, name: str, size: int, device: Any) -> Any:
        import torch

        key = "scratch_" + name
        buf = self._torch.get(key)
        if buf is None or buf.shape[0] < size:
            buf = self._torch[key] = torch.empty(size, dtype=torch.int64, device=device)
        return buf[:size]
