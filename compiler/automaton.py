"""The compiled automaton: the one data structure every monitor, picture and agent runs on.

An :class:`Automaton` is a complete, minimal DFA over letters = valuations of ``props``.
States are numbered ``0..n-1`` in BFS order from the initial state ``0``.

Transitions are stored *symbolically* as one shared, ordered decision diagram (an MTBDD):
node ``k`` with ``dd_var[k] >= 0`` tests proposition ``props[dd_var[k]]`` and continues at
``dd_lo[k]`` (proposition false) or ``dd_hi[k]`` (true); a node with ``dd_var[k] == -1`` is a
leaf whose target state is ``dd_lo[k]``. Along every path the tested proposition index
strictly increases. ``roots[q]`` is the node where state ``q``'s transition function starts.
This never enumerates 2**len(props) letters.

Letter classes partition the valuations into sets that behave identically in *every* state.
``class_dd_*`` is a decision diagram of the same shape whose leaves are class ids, and
``delta[q, c]`` is the dense successor table. Both are optional (``None``) when the number of
classes makes the dense table exceed its budget; stepping then walks the symbolic diagram.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


class Verdict(enum.IntEnum):
    """Four-valued runtime-verification verdict of a state."""

    SATISFIED = 0  # accepting, and every continuation is accepted
    PRESUMABLY_SATISFIED = 1  # accepting now, can still be lost
    PRESUMABLY_VIOLATED = 2  # not accepting now, can still be met
    VIOLATED = 3  # no continuation is accepted (the violation sink)

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Verdict:
        return cls[text.upper()]


Valuation = Mapping[str, bool] | Iterable[str]


@dataclass(eq=False)
class Automaton:
    props: tuple[str, ...]
    accepting: np.ndarray  # bool[n]
    verdicts: np.ndarray  # int8[n], Verdict codes
    residuals: tuple[str, ...]  # per state: remaining obligation, in speclang syntax
    # (past specs: followed by what the state remembers, compiler.memory.REMEMBERS)
    dd_var: np.ndarray  # int32[m]; -1 marks a leaf
    dd_lo: np.ndarray  # int32[m]; child when false, or the target state of a leaf
    dd_hi: np.ndarray  # int32[m]; child when true (unused for leaves)
    roots: np.ndarray  # int32[n]
    initial: int = 0
    class_dd_var: np.ndarray | None = None
    class_dd_lo: np.ndarray | None = None
    class_dd_hi: np.ndarray | None = None
    delta: np.ndarray | None = None  # int32[n, n_classes]
    name: str | None = None
    formula: str | None = None  # the compiled formula, in speclang syntax
    source_hash: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    # --- basic facts ---------------------------------------------------------------------

    @property
    def n_states(self) -> int:
        return int(self.accepting.shape[0])

    @property
    def n_classes(self) -> int | None:
        return None if self.delta is None else int(self.delta.shape[1])

    @property
    def prop_index(self) -> dict[str, int]:
        return {p: i for i, p in enumerate(self.props)}

    def verdict(self, state: int) -> Verdict:
        return Verdict(int(self.verdicts[state]))

    @property
    def violation_sink(self) -> int | None:
        """The unique violated state (minimal DFAs have at most one), if reachable."""
        idx = np.flatnonzero(self.verdicts == Verdict.VIOLATED)
        return int(idx[0]) if idx.size else None

    # --- letters -------------------------------------------------------------------------

    def valuation_vector(self, letter: Valuation, *, strict: bool = True) -> np.ndarray:
        """A bool vector over ``props`` from a set of true names or a ``{name: bool}`` map.
        Unknown names raise ``KeyError`` when ``strict``; names not given are false."""
        vec = np.zeros(len(self.props), dtype=bool)
        index = self.prop_index
        items = letter.items() if isinstance(letter, Mapping) else ((p, True) for p in letter)
        for name, value in items:
            i = index.get(name)
            if i is None:
                if strict:
                    raise KeyError(name)
                continue
            vec[i] = bool(value)
        return vec

    # --- stepping ------------------------------------------------------------------------

    def step(self, state: int, letter: Valuation | np.ndarray) -> int:
        """Successor of ``state`` on one letter (a bool vector over ``props``, a set of true
        proposition names, or a ``{name: bool}`` map). Names outside ``props`` are ignored:
        ``props`` holds only the propositions the formula uses, and the others (declared in
        the spec file, or present in a shared trace) cannot change its state."""
        vec = (
            letter
            if isinstance(letter, np.ndarray)
            else self.valuation_vector(letter, strict=False)
        )
        node = int(self.roots[state])
        var, lo, hi = self.dd_var, self.dd_lo, self.dd_hi
        while var[node] >= 0:
            node = int(hi[node]) if vec[var[node]] else int(lo[node])
        return int(lo[node])

    def run(self, trace: Iterable[Valuation | np.ndarray], state: int | None = None) -> list[int]:
        """States after each step of ``trace`` (not including the start state)."""
        q = self.initial if state is None else state
        out = []
        for letter in trace:
            q = self.step(q, letter)
            out.append(q)
        return out

    def accepts(self, trace: Sequence[Valuation | np.ndarray]) -> bool:
        states = self.run(trace)
        return bool(self.accepting[states[-1] if states else self.initial])

    def step_batch(self, states: np.ndarray, valuations: np.ndarray) -> np.ndarray:
        """Vectorised step: ``states`` int[B], ``valuations`` bool[B, len(props)]."""
        states = np.asarray(states)
        if self.delta is not None:
            return self.delta[states, self.classify(valuations)]
        leaves = _walk(self.dd_var, self.dd_lo, self.dd_hi, self.roots[states], valuations)
        return self.dd_lo[leaves]

    def classify(self, valuations: np.ndarray) -> np.ndarray:
        """Letter class ids of bool valuations ``[..., len(props)]``."""
        if self.class_dd_var is None:
            raise ValueError("this automaton has no letter-class table (too many classes)")
        assert self.class_dd_lo is not None and self.class_dd_hi is not None
        vals = np.asarray(valuations, dtype=bool)
        # reshape(-1, 0) cannot infer the row count when there are no props (`G false`).
        flat = vals.reshape(int(np.prod(vals.shape[:-1])), len(self.props))
        start = np.zeros(flat.shape[0], dtype=np.int64)
        leaves = _walk(self.class_dd_var, self.class_dd_lo, self.class_dd_hi, start, flat)
        return self.class_dd_lo[leaves].reshape(vals.shape[:-1])

    # --- symbolic edges --------------------------------------------------------------------

    def cubes(self, state: int) -> list[tuple[dict[str, bool], int]]:
        """The transition function of ``state`` as disjoint cubes: (partial valuation, target).
        One cube per root-to-leaf path of the diagram; together they cover every letter."""
        out: list[tuple[dict[str, bool], int]] = []
        stack: list[tuple[int, dict[str, bool]]] = [(int(self.roots[state]), {})]
        while stack:
            node, cube = stack.pop()
            v = int(self.dd_var[node])
            if v < 0:
                out.append((cube, int(self.dd_lo[node])))
                continue
            name = self.props[v]
            stack.append((int(self.dd_hi[node]), {**cube, name: True}))
            stack.append((int(self.dd_lo[node]), {**cube, name: False}))
        return out

    def successors(self, state: int) -> list[int]:
        """Distinct successor states in first-reached order (false branch before true)."""
        seen: dict[int, None] = {}
        for _, t in self.cubes(state):
            seen.setdefault(t, None)
        return list(seen)

    # --- pictures (Jupyter display; compiler.viz is imported lazily) -----------------------

    def to_dot(self, *, hide_sink: bool = False, title: str | None = None) -> str:
        from speclang.compiler.viz import to_dot

        return to_dot(self, hide_sink=hide_sink, title=title)

    def _repr_svg_(self) -> str | None:
        from speclang.compiler.viz import RenderUnavailable, to_svg

        try:
            return to_svg(self)
        except RenderUnavailable:
            return None  # Jupyter then falls back to the text repr

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        from speclang.compiler.viz import dot_available, to_svg

        label = self.name or self.formula or ""
        text = f"<Automaton {label}: {self.n_states} states over {self.props}>"
        bundle = {"text/plain": text, "text/vnd.graphviz": self.to_dot()}
        # Without Graphviz the notebook still gets the DOT text and the plain repr.
        if dot_available():
            bundle["image/svg+xml"] = to_svg(self)
        return bundle

    # --- construction from explicit tables, packed letters (additive helpers) -------------

    @classmethod
    def from_table(
        cls,
        props: Sequence[str],
        table: np.ndarray | Sequence[Sequence[int]],
        accepting: np.ndarray | Sequence[bool],
        *,
        residuals: Sequence[str] | None = None,
        initial: int = 0,
        name: str | None = None,
        formula: str | None = None,
        letter_classes: bool = True,
    ) -> Automaton:
        """An automaton from an explicit transition table ``table[q, letter]`` where the letter
        index has bit ``i`` set iff ``props[i]`` is true (so ``2**len(props)`` columns).

        Meant for tests, examples and small hand-written monitors: the state numbering is kept
        as given (no minimisation, no BFS renumbering) and verdicts are derived from the
        structure with :func:`structural_verdicts`."""
        props = tuple(props)
        if list(props) != sorted(set(props)):
            raise ValueError(f"props must be sorted and distinct, got {props!r}")
        tbl = np.asarray(table, dtype=np.int64)
        acc = np.asarray(accepting, dtype=bool)
        n = acc.shape[0]
        if tbl.shape != (n, 1 << len(props)):
            raise ValueError(f"table must have shape ({n}, {1 << len(props)}), got {tbl.shape}")
        if tbl.size and (tbl.min() < 0 or tbl.max() >= n):
            raise ValueError("table contains a target outside 0..n-1")
        if not 0 <= initial < n:
            raise ValueError(f"initial state {initial} is not in 0..{n - 1}")
        var, lo, hi, roots = _dd_from_columns(list(tbl), len(props))
        succ = [np.unique(row).tolist() for row in tbl]
        kwargs: dict[str, Any] = {}
        if letter_classes:
            _, rep, class_of = np.unique(tbl.T, axis=0, return_index=True, return_inverse=True)
            # Number classes by their first letter so ids do not depend on np.unique's sort.
            order = np.argsort(rep)
            renumber = np.empty_like(order)
            renumber[order] = np.arange(order.size)
            class_of = renumber[np.asarray(class_of).reshape(-1)]
            cvar, clo, chi, _ = _dd_from_columns([class_of], len(props))
            kwargs.update(
                class_dd_var=cvar,
                class_dd_lo=clo,
                class_dd_hi=chi,
                delta=tbl[:, np.sort(rep)].astype(np.int32),
            )
        return cls(
            props=props,
            accepting=acc.copy(),
            verdicts=structural_verdicts(acc, succ),
            residuals=tuple(residuals) if residuals is not None else tuple("" for _ in range(n)),
            dd_var=var,
            dd_lo=lo,
            dd_hi=hi,
            roots=roots,
            initial=initial,
            name=name,
            formula=formula,
            **kwargs,
        )

    def classify_packed(self, bits: np.ndarray) -> np.ndarray:
        """Letter class ids of bit-packed valuations: bit ``i`` of word ``i // 64`` is
        ``props[i]``. With at most 64 props ``bits`` is ``uint64[...]`` (one word per
        valuation); with more it is ``uint64[..., ceil(len(props) / 64)]``."""
        if self.class_dd_var is None:
            raise ValueError("this automaton has no letter-class table (too many classes)")
        assert self.class_dd_lo is not None and self.class_dd_hi is not None
        words = max(1, -(-len(self.props) // 64))
        arr = np.asarray(bits, dtype=np.uint64)
        if words == 1:
            shape = arr.shape
            flat = arr.reshape(-1, 1)
        else:
            if arr.shape[-1:] != (words,):
                raise ValueError(f"expected a trailing dimension of {words} words")
            shape = arr.shape[:-1]
            flat = arr.reshape(-1, words)
        node = np.zeros(flat.shape[0], dtype=np.int64)
        rows = np.arange(flat.shape[0])
        for _ in range(len(self.props) + 1):
            var = self.class_dd_var[node]
            inner = var >= 0
            if not inner.any():
                break
            v = var[inner].astype(np.int64)
            word = flat[rows[inner], v // 64]
            bit = ((word >> (v % 64).astype(np.uint64)) & np.uint64(1)).astype(bool)
            at = node[inner]
            node[inner] = np.where(bit, self.class_dd_hi[at], self.class_dd_lo[at])
        return self.class_dd_lo[node].reshape(shape)


def structural_verdicts(accepting: np.ndarray, successors: Sequence[Sequence[int]]) -> np.ndarray:
    """Verdict codes implied by the graph alone: VIOLATED where no accepting state is
    reachable, SATISFIED where every reachable state (itself included) accepts, otherwise
    PRESUMABLY_SATISFIED / PRESUMABLY_VIOLATED by the state's own acceptance."""
    acc = np.asarray(accepting, dtype=bool)
    n = acc.shape[0]
    preds: list[list[int]] = [[] for _ in range(n)]
    for q, targets in enumerate(successors):
        for t in targets:
            preds[int(t)].append(q)

    def backward(seeds: np.ndarray) -> np.ndarray:
        mark = seeds.copy()
        stack = [int(q) for q in np.flatnonzero(seeds)]
        while stack:
            t = stack.pop()
            for p in preds[t]:
                if not mark[p]:
                    mark[p] = True
                    stack.append(p)
        return mark

    can_accept = backward(acc)
    can_reject = backward(~acc)
    out = np.where(acc, Verdict.PRESUMABLY_SATISFIED, Verdict.PRESUMABLY_VIOLATED).astype(np.int8)
    out[~can_accept] = Verdict.VIOLATED
    out[acc & ~can_reject] = Verdict.SATISFIED
    return out


def _dd_from_columns(
    columns: Sequence[np.ndarray], n_vars: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One shared reduced ordered diagram for several functions given as value vectors over
    all ``2**n_vars`` letters (bit ``i`` of the letter index = variable ``i``); returns
    ``(var, lo, hi, roots)``."""
    var: list[int] = []
    lo: list[int] = []
    hi: list[int] = []
    unique: dict[tuple[int, int, int], int] = {}

    def node(key: tuple[int, int, int]) -> int:
        k = unique.get(key)
        if k is None:
            k = unique[key] = len(var)
            var.append(key[0])
            lo.append(key[1])
            hi.append(key[2])
        return k

    def build(values: np.ndarray, i: int) -> int:
        if i == n_vars or (values == values[0]).all():
            return node((-1, int(values[0]), 0))
        # Bit i is the lowest remaining bit of the letter index: even entries have it clear.
        a, b = build(values[0::2], i + 1), build(values[1::2], i + 1)
        return a if a == b else node((i, a, b))

    roots = [build(np.asarray(col), 0) for col in columns]
    # Children are created before parents; reversing the numbering puts the last root at
    # node 0, which is where ``classify`` starts walking a single-function class diagram.
    m = len(var)
    flip = lambda k: m - 1 - k  # noqa: E731
    v = np.asarray(var[::-1], dtype=np.int32)
    lo_a = np.asarray(lo[::-1], dtype=np.int32)
    hi_a = np.asarray(hi[::-1], dtype=np.int32)
    inner = v >= 0
    lo_a[inner] = flip(lo_a[inner])
    hi_a[inner] = flip(hi_a[inner])
    return v, lo_a, hi_a, np.asarray([flip(r) for r in roots], dtype=np.int32)


def _walk(
    var: np.ndarray, lo: np.ndarray, hi: np.ndarray, start: np.ndarray, valuations: np.ndarray
) -> np.ndarray:
    """Leaf node reached by each row, from its ``start`` node of an ordered decision
    diagram, reading bool ``valuations[row, prop]``. Every path tests each proposition at
    most once, so ``valuations.shape[1] + 1`` rounds of gathers reach all leaves."""
    node = np.array(start, dtype=np.int64)
    rows = np.arange(node.shape[0])
    for _ in range(valuations.shape[1] + 1):
        v = var[node]
        inner = v >= 0
        if not inner.any():
            break
        at = node[inner]
        node[inner] = np.where(valuations[rows[inner], v[inner]], hi[at], lo[at])
    return node
