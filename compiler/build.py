"""From a formula to the :class:`~compiler.automaton.Automaton` every monitor runs on:
explore derivatives, minimise, number canonically, attach verdicts and letter classes."""

from __future__ import annotations

import functools
import gc
import threading
from collections.abc import Callable
from typing import TypeVar

import numpy as np

from speclang.compiler import compose as composition
from speclang.compiler import ir, memory
from speclang.compiler.automaton import (
    Automaton,
    Verdict,
    defer_letter_classes,
    defer_residuals,
)
from speclang.compiler.budget import Budget, BudgetExceeded
from speclang.compiler.classes import attach_letter_classes
from speclang.compiler.minimise import Diagram, Minimal, minimise
from speclang.compiler.mtbdd import LEAF
from speclang.compiler.translate import Explored, explore


def diagram_from_mtbdd(var: list[int], lo: list[int], hi: list[int], value_labels: list[int],
                       roots: list[int]) -> Diagram:
    """The part of an MTBDD reachable from ``roots`` as a :class:`Diagram`; a leaf holding
    value index ``i`` gets the label ``value_labels[i]``."""
    v = np.asarray(var, dtype=np.int64)
    lo_a = np.asarray(lo, dtype=np.int64)
    hi_a = np.asarray(hi, dtype=np.int64)
    root_a = np.asarray(roots, dtype=np.int64)
    is_leaf = v == LEAF
    # Reachability, top-down one level at a time (children test later propositions).
    mark = np.zeros(v.shape[0], dtype=bool)
    mark[root_a] = True
    inner = np.flatnonzero(~is_leaf)
    order = inner[np.argsort(v[inner], kind="stable")]
    if order.size:
        cuts = np.flatnonzero(np.diff(v[order])) + 1
        for idx in np.split(order, cuts):
            live = idx[mark[idx]]
            mark[lo_a[live]] = True
            mark[hi_a[live]] = True
    keep = np.flatnonzero(mark)
    new_index = np.full(v.shape[0], -1, dtype=np.int64)
    new_index[keep] = np.arange(keep.size)
    k_leaf = is_leaf[keep]
    labels = np.zeros(keep.size, dtype=np.int64)
    if k_leaf.any():
        labels[k_leaf] = np.asarray(value_labels, dtype=np.int64)[lo_a[keep[k_leaf]]]
    k_lo = np.where(k_leaf, 0, new_index[np.where(is_leaf[keep], 0, lo_a[keep])])
    k_hi = np.where(k_leaf, 0, new_index[np.where(is_leaf[keep], 0, hi_a[keep])])
    return Diagram(k_leaf, v[keep], k_lo, k_hi, labels, new_index[root_a])


def diagram_of(aut: Automaton) -> Diagram:
    var = np.asarray(aut.dd_var, dtype=np.int64)
    is_leaf = var < 0
    lo = np.asarray(aut.dd_lo, dtype=np.int64)
    return Diagram(is_leaf, var, lo, np.asarray(aut.dd_hi, dtype=np.int64),
                   np.where(is_leaf, lo, 0), np.asarray(aut.roots, dtype=np.int64))


def automaton_from_minimal(m: Minimal, props: tuple[str, ...], residuals: list[str],
                           budget: Budget | None = None, **fields: object) -> Automaton:
    c = m.diagram
    aut = Automaton(
        props=props,
        accepting=m.accepting.astype(bool),
        verdicts=m.verdicts,
        residuals=tuple(residuals),
        dd_var=c.var,
        dd_lo=c.lo,
        dd_hi=c.hi,
        roots=c.roots,
        initial=0,
        **fields,  # type: ignore[arg-type]
    )
    # Built when first read: most automata are summarised, saved or stepped one state at a
    # time, and the class table can be exponential in the propositions (compiler.automaton).
    defer_letter_classes(aut, attach_letter_classes)
    return aut


T = TypeVar("T")

# The construction's walks recurse on the formula's nesting depth. Python-to-Python calls
# do not grow the C stack, but calls made through C (generators inside all()/any(), sort
# keys) do, and 30,000 nested `X(a & (... | b))` overflowed the main thread's 8 MiB stack
# (a segfault that kills the host process). The construction therefore runs on a thread
# with a stack large enough for the raised recursion limit (reserved, not committed), so
# the deepest formulas end in a RecursionError, reported as a budget error.
_STACK_BYTES = 1 << 30
MAX_DEPTH = 100_000
# Nesting up to this depth recurses well inside the main thread's 8 MiB C stack.
_DEPTH_ON_CALLER_STACK = 1_000


def _on_large_stack(fn: Callable[[], T]) -> T:
    box: list = []

    def run() -> None:
        try:
            box.append((True, fn()))
        except BaseException as exc:  # re-raised in the caller's thread
            box.append((False, exc))

    with _STACK_LOCK:
        old = threading.stack_size()
        threading.stack_size(_STACK_BYTES)
        try:
            worker = threading.Thread(target=run, name="speclang-compile", daemon=True)
            worker.start()
        finally:
            threading.stack_size(old)
    worker.join()
    ok, value = box[0]
    if not ok:
        raise value
    return value


_STACK_LOCK = threading.Lock()


def build_automaton(formula: ir.Formula, budget: Budget, *, name: str | None = None,
                    source_hash: str | None = None, compose: bool | None = None) -> Automaton:
    """The minimal DFA of ``formula``. A top-level conjunction or disjunction of temporal
    parts is built from its parts' DFAs (compiler.compose) when that pays
    (``compose=None``), always (True) or never (False); every way gives the same automaton
    (only residual texts may be worded differently)."""
    if formula.depth > MAX_DEPTH:
        raise BudgetExceeded(budget.spec, "max_depth", MAX_DEPTH, formula.depth,
                             "nested operators")
    if formula.depth <= _DEPTH_ON_CALLER_STACK:
        # starting a thread costs ~2 ms a compile: only formulas deep enough to need the
        # large stack pay for it
        return _build_gc_paused(formula, budget, name, source_hash, compose)
    return _on_large_stack(
        lambda: _build_gc_paused(formula, budget, name, source_hash, compose))


def _build_gc_paused(formula: ir.Formula, budget: Budget, name: str | None,
                     source_hash: str | None, compose: bool | None) -> Automaton:
    # The construction allocates millions of small tuples that stay alive in memo tables,
    # so the cyclic garbage collector keeps rescanning them (about 15% of a large
    # compilation) while finding almost nothing to free; pause it for the duration.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        with ir.deep_recursion(), ir.compilation():
            return _build(formula, budget, name, source_hash, compose)
    except RecursionError:
        _age_young_objects(gc_was_enabled)
        raise BudgetExceeded(budget.spec, "max_depth", MAX_DEPTH, formula.depth,
                             "nested operators; the construction ran out of stack") from None
    except BaseException:
        _age_young_objects(gc_was_enabled)
        raise
    finally:
        if gc_was_enabled:
            gc.enable()


def _age_young_objects(gc_was_enabled: bool) -> None:
    """Move every object the failed compilation allocated to the oldest generation (O(1):
    freeze, then unfreeze, splice the generations' lists). Otherwise the first collection
    after gc.enable() scans all of them, still alive in the error's traceback: after a
    timeout that was 0.3-0.6 s of the lateness at load 15 (past 12, ``G[0,1000] F[0,1000]
    a``: benchmarks/budget_promptness.py). Cycles among them are collected by the next full
    collection, as they would have been had they survived one young collection."""
    if gc_was_enabled:
        gc.freeze()
        gc.unfreeze()


def _build(formula: ir.Formula, budget: Budget, name: str | None, source_hash: str | None,
           compose: bool | None) -> Automaton:
    pieces = composition.split(formula) if compose is not False else None
    limit = composition.pays_from(formula)
    if pieces is not None and (compose or composition.may_pay(pieces[1], limit)):
        built = _parts(formula, pieces[0], pieces[1], budget)
        if compose or composition.pays((p for p, _ in built), limit):
            return _build_composed(formula, pieces[0], built, budget, name, source_hash)
    # With past operators a state's text folds in what it remembers (compiler.memory),
    # ~60 us a state, often more than the rest of a small compile: written when first read,
    # as a compositional build's are. (Formulas deeper than the caller's stack allows keep
    # them written at once: the writer runs on the reader's thread.)
    later = formula.has_past and formula.depth <= _DEPTH_ON_CALLER_STACK
    ex, m, residuals = _minimal(formula, budget, texts=not later)
    aut = automaton_from_minimal(
        m, ex.props, residuals, budget, name=name, formula=ir.to_text(formula, compact=True),
        formula_ir=formula, source_hash=source_hash,
        meta={"explored_states": len(ex.roots)},
    )
    if later:
        # only what the texts need: not the explored diagrams
        reps = m.representative.tolist()
        owed = [ex.residuals[r] if not t else None
                for t, r in zip(residuals, reps, strict=True)]
        defer_residuals(aut, functools.partial(
            _written_texts, formula, residuals, owed, [r == 0 for r in reps],
            [ex.past_bits[r] for r in reps], ex.temporal))
    return aut


def _written_texts(formula: ir.Formula, texts: list[str], owed: list[ir.Formula | None],
                   initial: list[bool], bits: list[tuple[bool, ...] | None],
                   temporal: list[ir.Formula]) -> list[str]:
    """``texts`` with each empty one written from its state's residual ``owed`` and past
    ``bits`` (as :func:`_minimal` writes them). Not inside ``ir.compilation()``: that state
    is global, and a compile may be running on another thread."""
    with ir.deep_recursion():
        return [t or _state_text(formula, i, f, b, temporal)  # type: ignore[arg-type]
                for t, f, i, b in zip(texts, owed, initial, bits, strict=True)]


def _state_text(formula: ir.Formula, initial: bool, residual: ir.Formula,
                bits: tuple[bool, ...] | None, temporal: list[ir.Formula]) -> str:
    """The obligation of a state that is not decided, whose representative explored state
    (the initial one when ``initial``) has ``residual`` and ``bits``."""
    if initial:
        return ir.to_text(formula, compact=True)
    if bits is not None:
        # the residual alone repeats the past subformulas whatever was seen: fold in what
        # the state remembers (compiler.memory)
        return memory.state_text(residual, bits, temporal, formula.is_pure_past)
    return ir.to_text(residual, compact=True)


def _minimal(formula: ir.Formula, budget: Budget,
             texts: bool = True) -> tuple[Explored, Minimal, list[str]]:
    """The minimal DFA of ``formula`` by derivatives, with every state's obligation (with
    ``texts=False`` only those of decided states, "true" and "false"; the others "")."""
    ex = explore(formula, budget)
    dd = ex.dd
    m = minimise(diagram_from_mtbdd(dd.var, dd.lo, dd.hi, ex.leaf_states, ex.roots),
                 np.asarray(ex.accepting, dtype=bool), budget=budget)
    budget.check_time()
    residuals = []
    for q, r in enumerate(m.representative):
        budget.check_time()  # a residual's text may take up to ~0.1 s (ir.MAX_TEXT)
        bits = ex.past_bits[int(r)]
        verdict = int(m.verdicts[q])
        if verdict == Verdict.SATISFIED:
            text = "true"  # every continuation is accepted: nothing is owed
        elif verdict == Verdict.VIOLATED:
            text = "false"
        elif not texts:
            text = ""  # the caller writes it
        else:
            text = _state_text(formula, int(r) == 0, ex.residuals[int(r)], bits, ex.temporal)
        residuals.append(text)
    return ex, m, residuals


def _parts(formula: ir.Formula, op: ir.Op, pieces: list[ir.Formula],
           budget: Budget) -> list[tuple[composition.Part, list[str]]]:
    """Each piece's minimal DFA over ``formula``'s propositions, with its states' texts as
    operands of ``op`` in the whole."""
    props = tuple(sorted(formula.atoms))
    index = {p: i for i, p in enumerate(props)}
    minimal = [_minimal(piece, budget, texts=False) for piece in pieces]
    # A pure-past whole is read at the last step: its parts' obligations join as pure-past
    # readings, unless one has none (`G false`, kept in the future form); then every part
    # is written in the future form, read at the first step.
    read_back = True
    owed: list[list[tuple[ir.Formula, list[ir.Formula]] | None]] = []
    for again in (False, True):
        owed = [[None if texts[q] in ("true", "false") else
                 _obligation(piece, ex, r, read_back)
                 for q, r in enumerate(m.representative.tolist())]
                for piece, (ex, m, texts) in zip(pieces, minimal, strict=True)]
        if again or not formula.is_pure_past or not any(
                o is not None and o[0].has_future for col in owed for o in col):
            break
        read_back = False
    built: list[tuple[composition.Part, list[str]]] = []
    for (ex, m, texts), col in zip(minimal, owed, strict=True):
        for q, o in enumerate(col):
            if o is not None:
                text = composition.parenthesised(o[0], ir.to_text(o[0], compact=True), op)
                texts[q] = memory.with_facts(text, o[0], o[1])
        local = np.asarray([index[p] for p in ex.props], dtype=np.int64)
        built.append((composition.part_of(m, local), texts))
    return built


def _obligation(piece: ir.Formula, ex: Explored, r: int,
                read_back: bool) -> tuple[ir.Formula, list[ir.Formula]]:
    """What explored state ``r`` of ``piece`` owes and remembers, as the monolithic
    construction writes it for the whole (state 0 too, which is the whole formula's initial
    state only in the whole)."""
    bits = ex.past_bits[r]
    if bits is not None:
        return memory.state_obligation(ex.residuals[r], bits, ex.temporal, piece.is_pure_past,
                                       read_back)
    if r == 0 and piece.is_pure_past and read_back:
        # the residual is the construction's future form (F(last & P)): the piece as
        # written says what is owed at the last step
        return piece, []
    return ex.residuals[r], []  # in NNF, as the monolithic construction writes a residual


def _build_composed(formula: ir.Formula, op: ir.Op,
                    built: list[tuple[composition.Part, list[str]]], budget: Budget,
                    name: str | None, source_hash: str | None) -> Automaton:
    """``formula`` = ``op`` over the parts ``built``: their products, the two smallest
    first (compiler.compose)."""
    props = tuple(sorted(formula.atoms))
    whole, explored = composition.fold([b[0] for b in built], op, budget)
    text = ir.to_text(formula, compact=True)
    assert whole.minimal is not None  # set by the last product
    aut = automaton_from_minimal(
        whole.minimal, props, [], budget, name=name, formula=text, formula_ir=formula,
        source_hash=source_hash, meta={"explored_states": explored, "parts": len(built)},
    )
    # Written when first read (an eighth of gfand 18's compile otherwise): they need only
    # every state's part states (small numbers: kept small until then) and the verdicts.
    if whole.parts.size and int(whole.parts.max()) < 1 << 15:
        whole.parts = whole.parts.astype(np.int16)
    defer_residuals(aut, functools.partial(composition.state_texts, whole,
                                           [b[1] for b in built], op, text))
    return aut


def reminimise(aut: Automaton) -> Automaton:
    """Minimise and renumber an existing automaton (a no-op on compiler output: the result
    has equal arrays)."""
    m = minimise(diagram_of(aut), np.asarray(aut.accepting, dtype=bool), aut.initial)
    residuals = [aut.residuals[int(r)] for r in m.representative]
    return automaton_from_minimal(
        m, aut.props, residuals, name=aut.name, formula=aut.formula, formula_ir=aut.formula_ir,
        source_hash=aut.source_hash, meta=dict(aut.meta),
    )
