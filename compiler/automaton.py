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
The compiler does not build them: there can be exponentially many classes for a few states
(``F(p1 & F(p2 & .. F p16))``: 65,536 for 17 states, four fifths of that compilation), and
most uses of an automaton (a summary, one state at a time, the artifact's edges) never read
them. They are built the first time one of the four fields is read
(:func:`defer_letter_classes`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from speclang.compiler.ir import Formula

from speclang.compiler import kernel
from speclang.compiler.verdict import Verdict

__all__ = ["Automaton", "Valuation", "Verdict", "defer_letter_classes", "register_pictures"]

# Pictures are drawn by speclang.compiler.viz, a module above this one (it reads automata).
# The package registers viz's entry points here when an automaton first draws itself
# (speclang/compiler/__init__.connect_pictures), so that an automaton still draws itself
# (``to_dot``, Jupyter's SVG display) while this module imports nothing that depends on it.
_pictures: dict[str, Callable[..., Any]] = {}


def register_pictures(dot: Callable[..., str], svg: Callable[..., str | None]) -> None:
    """Set the drawers behind :meth:`Automaton.to_dot` (``dot(aut, *, hide_sink, title)``)
    and the Jupyter display (``svg(aut)``: the SVG text, or None without Graphviz)."""
    _pictures.update(dot=dot, svg=svg)


def _drawer(kind: str) -> Callable[..., Any]:
    if kind not in _pictures:
        from speclang.compiler import connect_pictures  # the package, not a module above

        connect_pictures()
    return _pictures[kind]


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
    # The compiled formula itself, kept by the compiler (not by artifacts, which keep the
    # text): explanations analyse it without parsing ``formula`` back.
    formula_ir: Formula | None = field(default=None, repr=False)
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
    def letter_classes_built(self) -> bool:
        """Whether the letter classes are known (built, given, or known to be too many):
        reading them then costs nothing."""
        return "_build_classes" not in self.__dict__

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
        return kernel.step(self, state, vec)

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
        return kernel.step_batch(self, states, valuations)

    def classify(self, valuations: np.ndarray) -> np.ndarray:
        """Letter class ids of bool valuations ``[..., len(props)]``."""
        return kernel.classify(self, valuations)

    def classify_packed(self, bits: np.ndarray) -> np.ndarray:
        """Letter class ids of bit-packed valuations: bit ``i`` of word ``i // 64`` is
        ``props[i]``. With at most 64 props ``bits`` is ``uint64[...]`` (one word per
        valuation); with more it is ``uint64[..., ceil(len(props) / 64)]``."""
        return kernel.classify_packed(self, bits)

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

    # --- pictures (drawn by what register_pictures set: speclang.compiler.viz) -------------

    def to_dot(self, *, hide_sink: bool = False, title: str | None = None) -> str:
        return _drawer("dot")(self, hide_sink=hide_sink, title=title)

    def _repr_svg_(self) -> str | None:
        return _drawer("svg")(self)  # None: Jupyter falls back to the text repr

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        label = self.name or self.formula or ""
        text = f"<Automaton {label}: {self.n_states} states over {self.props}>"
        bundle = {"text/plain": text, "text/vnd.graphviz": self.to_dot()}
        # Without Graphviz the notebook still gets the DOT text and the plain repr.
        svg = self._repr_svg_()
        if svg is not None:
            bundle["image/svg+xml"] = svg
        return bundle

    # --- construction from an explicit table --------------------------------------------

    @classmethod
    def from_table(
        cls,
        props: Sequence[str],
        table: np.ndarray | Sequence[Sequence[int]],
        accepting: np.ndarray | Sequence[bool],
        **options: Any,
    ) -> Automaton:
        """An automaton from an explicit transition table ``table[q, letter]`` where the letter
        index has bit ``i`` set iff ``props[i]`` is true (so ``2**len(props)`` columns).

        Meant for tests, examples and small hand-written monitors: the state numbering is kept
        as given (no minimisation, no BFS renumbering) and verdicts are derived from the
        structure. Options: those of :func:`speclang.compiler.tables.table_fields`."""
        from speclang.compiler.tables import table_fields

        return cls(**table_fields(props, table, accepting, **options))


# --- letter classes built on first use --------------------------------------------------------

_CLASS_FIELDS = ("class_dd_var", "class_dd_lo", "class_dd_hi", "delta")
# One automaton may be read from several threads (a vectorised environment): its classes are
# built once.
_CLASS_LOCK = threading.Lock()


def defer_letter_classes(aut: Automaton, build: Callable[[Automaton], object]) -> None:
    """Leave ``aut``'s letter classes to ``build(aut)`` (which sets the four class fields),
    called the first time one of them is read. Setting a field by hand cancels it."""
    aut.__dict__["_build_classes"] = build


def _class_field(name: str) -> property:
    slot = "_" + name

    def get(self: Automaton) -> np.ndarray | None:
        if "_build_classes" in self.__dict__:
            with _CLASS_LOCK:
                build = self.__dict__.pop("_build_classes", None)
                if build is not None:
                    build(self)
        return self.__dict__.get(slot)

    def set_(self: Automaton, value: np.ndarray | None) -> None:
        self.__dict__.pop("_build_classes", None)
        self.__dict__[slot] = value

    return property(get, set_, doc=f"``{name}``, built on first read (defer_letter_classes)")


# The dataclass keeps the four as constructor arguments (its __init__ assigns them, through
# the setter); reading them goes through the getter.
for _name in _CLASS_FIELDS:
    setattr(Automaton, _name, _class_field(_name))


# --- residual texts written on first read -----------------------------------------------------

_RESIDUALS_LOCK = threading.Lock()


def defer_residuals(aut: Automaton, write: Callable[[], Sequence[str]]) -> None:
    """Leave ``aut.residuals`` to ``write()`` (one text per state), called the first time
    they are read: a compositional build has up to millions of states, and compiling,
    stepping and summarising never read their texts. Setting them by hand cancels it."""
    aut.__dict__["_write_residuals"] = write


def _get_residuals(self: Automaton) -> tuple[str, ...]:
    if "_write_residuals" in self.__dict__:
        with _RESIDUALS_LOCK:
            write = self.__dict__.pop("_write_residuals", None)
            if write is not None:
                self.__dict__["_residuals"] = tuple(write())
    return self.__dict__["_residuals"]


def _set_residuals(self: Automaton, value: tuple[str, ...]) -> None:
    self.__dict__.pop("_write_residuals", None)
    self.__dict__["_residuals"] = value


# As for the class fields: the constructor argument is assigned through the setter.
Automaton.residuals = property(  # type: ignore[assignment]
    _get_residuals, _set_residuals, doc="per state: remaining obligation (defer_residuals)")
