"""Core formula IR: hash-consed, position-free LTLf formulas with past operators.

Every formula is a :class:`Formula` node interned in a global table, so structurally equal
formulas are the *same object*: equality and hashing are identity-based and O(1), which the
DFA construction relies on (residual formulas are dictionary keys).

Only a small core of operators exists here; every surface operator lowers onto it with the
helpers at the bottom of this module (``F``, ``G``, ``W``, ``M``, ``O``, ``H``, bounded
operators, ``last``, ``end``, ``first`` ...). The smart constructors ``And``/``Or``/``Not``
apply cheap, always-sound simplifications (flattening, ordering, duplicates, constants,
complementary pairs, double negation) so that equivalent residuals often coincide.

Core operators (``Op``):
    TRUE, FALSE, ATOM(name)
    NOT(a)
    AND(a1..an), OR(a1..an)         n-ary, flattened, sorted by ``key``, no duplicates
    NEXT(a)      strong next  X      (a next step exists and satisfies a)
    WNEXT(a)     weak next    WX/N   (no next step, or it satisfies a)
    UNTIL(a, b)  a U b (strong)
    RELEASE(a,b) a R b (weak)
    YESTERDAY(a) Y   (a previous step exists and satisfies a)
    WYESTERDAY(a) Z / WY  (no previous step, or it satisfies a)
    SINCE(a, b)  a S b (strong)
    TRIGGER(a,b) a T b (weak)
"""

from __future__ import annotations

import contextlib
import enum
import itertools
import sys
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from speclang.compiler.keywords import KEYWORDS


class Op(enum.IntEnum):
    TRUE = 0
    FALSE = 1
    ATOM = 2
    NOT = 3
    AND = 4
    OR = 5
    NEXT = 6
    WNEXT = 7
    UNTIL = 8
    RELEASE = 9
    YESTERDAY = 10
    WYESTERDAY = 11
    SINCE = 12
    TRIGGER = 13


FUTURE_OPS = frozenset({Op.NEXT, Op.WNEXT, Op.UNTIL, Op.RELEASE})
PAST_OPS = frozenset({Op.YESTERDAY, Op.WYESTERDAY, Op.SINCE, Op.TRIGGER})

# The intern table holds its nodes weakly: a node that no live formula, automaton or memo
# references is dropped, so compiling many automata in one process does not keep every
# formula ever built (2 GB after 2,335 compiles). Identity is still unique among live nodes,
# which is all that `is`-comparison needs; uids are never reused, so a memo keyed by the uid
# of a dropped node can never be hit by a later node.
_table: dict[tuple, weakref.KeyedRef] = {}
_counter = itertools.count()


# During a compilation every new node is also held here, until the compilation ends: the
# passes' memos are keyed by uid, and a residual dropped and rebuilt mid-compile would get a
# new uid and miss them all (compiles ran 2-3x slower with a purely weak table).
_pinned: list[Formula] | None = None


@contextlib.contextmanager
def compilation() -> Iterator[None]:
    """Keep every node built inside alive until the outermost compilation ends, then bound
    the memos (:func:`trim_memos`) and let the intern table drop what nothing references."""
    global _pinned
    if _pinned is not None:  # nested: the outer compilation owns the pins
        yield
        return
    _pinned = []
    try:
        yield
    finally:
        _pinned = None
        trim_memos()


def _drop(ref: weakref.KeyedRef) -> None:
    # Only remove the entry if it is still this (dead) node's: a new equal node may have
    # been interned under the same key before a deferred callback ran.
    if _table.get(ref.key) is ref:
        del _table[ref.key]


# Module-level memo tables of the compiler's passes (nnf, residuals), registered by
# :func:`memo`. They hold formulas strongly and would grow without end across compiles;
# :func:`trim_memos` clears each one that has grown past MEMO_LIMIT entries. It runs at the
# end of every compilation rather than on every insertion, so the hot paths pay nothing and
# formulas shared between consecutive compiles (specs of one file) stay warm.
MEMO_LIMIT = 1 << 14
_memos: list[dict[Any, Any]] = []


def memo() -> dict[Any, Any]:
    """A new module-level memo table, bounded between compilations by :func:`trim_memos`."""
    d: dict[Any, Any] = {}
    _memos.append(d)
    return d


def trim_memos(limit: int | None = None) -> None:
    """Clear every registered memo table larger than ``limit`` (default MEMO_LIMIT).

    Memos are pure caches of functions of immutable formulas, so clearing one only costs
    recomputation; the nodes it alone kept alive then leave the intern table."""
    limit = MEMO_LIMIT if limit is None else limit
    for d in _memos:
        if len(d) > limit:
            d.clear()


class Formula:
    """An interned formula node. Never instantiate directly: use the constructors below."""

    __slots__ = ("op", "args", "name", "uid", "depth", "has_past", "has_future", "_hash",
                 "__weakref__", "_cache")

    op: Op
    args: tuple[Formula, ...]
    name: str | None
    uid: int
    depth: int  # nesting depth (an atom is 1): bounds every recursive walk's stack
    has_past: bool  # a past operator occurs in the formula
    has_future: bool  # a future operator occurs in the formula
    _hash: int
    _cache: dict[str, Any]

    def __new__(cls, op: Op, args: tuple[Formula, ...] = (), name: str | None = None) -> Formula:
        key = (op, name, tuple(a.uid for a in args))
        ref = _table.get(key)
        node = ref() if ref is not None else None
        if node is None:
            node = object.__new__(cls)
            object.__setattr__(node, "op", op)
            object.__setattr__(node, "args", args)
            object.__setattr__(node, "name", name)
            object.__setattr__(node, "uid", next(_counter))
            # Computed from the children at construction, so that no query walks a deep
            # formula recursively (8,000 nested `X` overflowed the C stack in a recursive
            # property).
            object.__setattr__(node, "depth", 1 + max((a.depth for a in args), default=0))
            object.__setattr__(
                node, "has_past", op in PAST_OPS or any(a.has_past for a in args))
            object.__setattr__(
                node, "has_future", op in FUTURE_OPS or any(a.has_future for a in args))
            object.__setattr__(node, "_hash", hash(key))
            object.__setattr__(node, "_cache", {})
            _table[key] = weakref.KeyedRef(node, _drop, key)
            if _pinned is not None:
                _pinned.append(node)
        return node

    def __setattr__(self, key: str, value: object) -> None:
        raise AttributeError("Formula nodes are immutable")

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return self is other

    def __reduce__(self) -> tuple:
        # Pickling re-interns on load so identity semantics survive multiprocessing.
        return (Formula, (self.op, self.args, self.name))

    def __repr__(self) -> str:
        return f"Formula({to_text(self)!r})"

    def __str__(self) -> str:
        return to_text(self)

    # --- structural queries (cached: nodes are immutable) ---------------------------------

    @property
    def atoms(self) -> frozenset[str]:
        """Names of the propositions occurring in the formula."""
        c = self._cache
        if "atoms" not in c:
            for g in self.subformulas():  # children first: each step reads cached children
                gc = g._cache
                if "atoms" in gc:
                    continue
                if g.op is Op.ATOM:
                    assert g.name is not None
                    gc["atoms"] = frozenset((g.name,))
                elif len(g.args) == 1:
                    gc["atoms"] = g.args[0]._cache["atoms"]
                else:
                    gc["atoms"] = frozenset().union(*(a._cache["atoms"] for a in g.args))
        return c["atoms"]

    @property
    def is_pure_past(self) -> bool:
        """True when the formula uses past operators and no future operator."""
        return self.has_past and not self.has_future

    @property
    def size(self) -> int:
        """Number of nodes of the formula as a tree (shared subformulas counted each time)."""
        c = self._cache
        if "size" not in c:
            for g in self.subformulas():
                if "size" not in g._cache:
                    g._cache["size"] = 1 + sum(a._cache["size"] for a in g.args)
        return c["size"]

    def subformulas(self) -> Iterator[Formula]:
        """Every distinct subformula, children before parents."""
        seen: set[int] = set()
        stack: list[tuple[Formula, bool]] = [(self, False)]
        while stack:
            node, done = stack.pop()
            if done:
                yield node
                continue
            if node.uid in seen:
                continue
            seen.add(node.uid)
            stack.append((node, True))
            for a in reversed(node.args):
                if a.uid not in seen:
                    stack.append((a, False))


@contextlib.contextmanager
def deep_recursion(limit: int = 200_000) -> Iterator[None]:
    """Raise the recursion limit for a formula walk, then restore it.

    Walks recurse on the nesting depth, and lowering or unrolling makes deep formulas
    (``F[0,1000] b`` is 1000 nested ``X``; chains of definitions nest too). CPython 3.11+
    runs Python-to-Python calls without growing the C stack, so a high limit is safe."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, limit))
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


# Whether compare() and the residuals' implication test decide unrolled bounded chains by
# their lengths (:func:`chain`) instead of walking them link by link; both ways give the same
# answers (tests/compiler/test_bounded_chains.py compiles with and without).
CHAIN_SHORTCUTS = True


@contextlib.contextmanager
def chain_shortcuts(enabled: bool) -> Iterator[None]:
    global CHAIN_SHORTCUTS
    saved = CHAIN_SHORTCUTS
    CHAIN_SHORTCUTS = enabled
    try:
        yield
    finally:
        CHAIN_SHORTCUTS = saved


def compare(f: Formula, g: Formula, poll: Callable[[], None] | None = None) -> int:
    """-1, 0 or 1: the deterministic structural order of formulas (by operator, then name,
    then the arguments lexicographically), independent of construction order.

    Hash-consing makes structurally equal subformulas the same object, so only the first
    non-identical pair of arguments can decide: the walk follows one path down, in a loop,
    however deep the formulas are (nested key tuples cost quadratic time in the depth,
    because every tuple comparison first tests its items for equality all the way down).
    ``poll`` is called once per level (a budget's deadline check).

    Two unrolled bounded chains of one body (:func:`chain`) are ordered without the walk:
    their first differing arguments are always their next-links, so the walk would descend
    to ``compare(phi, F[0,d] phi)`` (d the difference of the bounds), whose answer is the
    same for every d >= 1 (below). Sorting the residuals of ``G(a -> F[1,k] b)`` otherwise
    walks O(k) levels per comparison: seconds at k = 1000."""
    while f is not g:
        if poll is not None:
            poll()
        if f.op != g.op:
            return -1 if f.op < g.op else 1
        if CHAIN_SHORTCUTS and (f.op is Op.OR or f.op is Op.AND):
            cf = chain(f)
            if cf is not None:
                cg = chain(g)
                if cg is not None and cf[0] == cg[0] and cf[2] is cg[2]:
                    sign = 1 if cf[1] < cg[1] else -1
                    return sign * compare(cf[2], _first_link(cf[0], cf[2]), poll)
        fn, gn = f.name or "", g.name or ""
        if fn != gn:
            return -1 if fn < gn else 1
        fa, ga = f.args, g.args
        for x, y in zip(fa, ga, strict=False):
            if x is not y:
                f, g = x, y
                break
        else:
            return (len(fa) > len(ga)) - (len(fa) < len(ga))
    return 0


class _Key:
    __slots__ = ("f",)

    def __init__(self, f: Formula) -> None:
        self.f = f

    def __lt__(self, other: _Key) -> bool:
        return compare(self.f, other.f) < 0

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Key) and self.f is other.f

    def __hash__(self) -> int:
        return hash(self.f)


def key(f: Formula) -> _Key:
    """A sort key for :func:`compare`'s order (``sorted(formulas, key=key)``)."""
    return _Key(f)


# Nested tuples compare in C, several times faster than :func:`compare`'s Python loop, and
# their quadratic cost in the depth is small for shallow formulas; so shallow formulas are
# sorted by them and only deep ones by the path walk. Both give the same order.
_TUPLE_KEY_DEPTH = 64


def tuple_key(f: Formula) -> tuple:
    """:func:`compare`'s order as a nested tuple (cached); only for shallow formulas."""
    c = f._cache
    k = c.get("key")
    if k is None:
        k = c["key"] = (int(f.op), f.name or "", tuple(tuple_key(a) for a in f.args))
    return k


def sort_key(items: Iterable[Formula]) -> Callable[[Formula], Any]:
    """The faster key that gives :func:`compare`'s order for all of ``items``."""
    return tuple_key if all(f.depth <= _TUPLE_KEY_DEPTH for f in items) else key


def sorted_formulas(items: Iterable[Formula]) -> list[Formula]:
    xs = list(items)
    return sorted(xs, key=sort_key(xs))


# --- constants and atoms -------------------------------------------------------------------

TRUE = Formula(Op.TRUE)
FALSE = Formula(Op.FALSE)


def Atom(name: str) -> Formula:
    return Formula(Op.ATOM, (), name)


def Not(a: Formula) -> Formula:
    if a is TRUE:
        return FALSE
    if a is FALSE:
        return TRUE
    if a.op is Op.NOT:
        return a.args[0]
    return Formula(Op.NOT, (a,))


def _nary(op: Op, items: Iterable[Formula]) -> Formula:
    unit, zero = (TRUE, FALSE) if op is Op.AND else (FALSE, TRUE)
    flat: dict[int, Formula] = {}
    for it in items:
        children = it.args if it.op is op else (it,)
        for c in children:
            if c is zero:
                return zero
            if c is unit:
                continue
            flat[c.uid] = c
    for c in flat.values():
        if c.op is Op.NOT and c.args[0].uid in flat:
            return zero  # a & !a, a | !a
    if not flat:
        return unit
    if len(flat) == 1:
        return next(iter(flat.values()))
    return Formula(op, tuple(sorted_formulas(flat.values())))


def And(*items: Formula) -> Formula:
    return _nary(Op.AND, items)


def Or(*items: Formula) -> Formula:
    return _nary(Op.OR, items)


def Next(a: Formula) -> Formula:
    if a is FALSE:
        return FALSE
    return Formula(Op.NEXT, (a,))


def WeakNext(a: Formula) -> Formula:
    if a is TRUE:
        return TRUE
    return Formula(Op.WNEXT, (a,))


def Until(a: Formula, b: Formula) -> Formula:
    # `a U true` is NOT `true`: it needs a current step, so it is false on the empty suffix
    # (the empty-trace convention and the residuals of the DFA construction both see that).
    # It is normalised to `true U true` ("a step exists") instead.
    if b is FALSE:
        return b
    if b is TRUE:
        return Formula(Op.UNTIL, (TRUE, TRUE))
    return Formula(Op.UNTIL, (a, b))


def Release(a: Formula, b: Formula) -> Formula:
    # Dually `a R false` holds exactly on the empty suffix (`end`), so it is not `false`.
    if b is TRUE:
        return b
    if b is FALSE:
        return Formula(Op.RELEASE, (FALSE, FALSE))
    return Formula(Op.RELEASE, (a, b))


def Yesterday(a: Formula) -> Formula:
    if a is FALSE:
        return FALSE
    return Formula(Op.YESTERDAY, (a,))


def WeakYesterday(a: Formula) -> Formula:
    if a is TRUE:
        return TRUE
    return Formula(Op.WYESTERDAY, (a,))


def Since(a: Formula, b: Formula) -> Formula:
    # As for U/R: `a S true` is false on the empty trace (LTLf2DFA/MONA's PPLTL convention),
    # so it is kept, normalised to `true S true`; `a T false` is kept as `false T false`.
    if b is FALSE:
        return b
    if b is TRUE:
        return Formula(Op.SINCE, (TRUE, TRUE))
    return Formula(Op.SINCE, (a, b))


def Trigger(a: Formula, b: Formula) -> Formula:
    if b is TRUE:
        return b
    if b is FALSE:
        return Formula(Op.TRIGGER, (FALSE, FALSE))
    return Formula(Op.TRIGGER, (a, b))


# --- derived operators (lowering targets for the surface language) -------------------------


def Implies(a: Formula, b: Formula) -> Formula:
    return Or(Not(a), b)


def Iff(a: Formula, b: Formula) -> Formula:
    return And(Implies(a, b), Implies(b, a))


def Xor(a: Formula, b: Formula) -> Formula:
    return Not(Iff(a, b))


def Eventually(a: Formula) -> Formula:  # F
    return Until(TRUE, a)


def Always(a: Formula) -> Formula:  # G
    return Release(FALSE, a)


def WeakUntil(a: Formula, b: Formula) -> Formula:  # a W b  ==  b R (a | b)
    return Release(b, Or(a, b))


def StrongRelease(a: Formula, b: Formula) -> Formula:  # a M b  ==  b U (a & b)
    return Until(b, And(a, b))


def Once(a: Formula) -> Formula:  # O
    return Since(TRUE, a)


def Historically(a: Formula) -> Formula:  # H
    return Trigger(FALSE, a)


LAST = WeakNext(FALSE)  # no next step
END = Always(FALSE)  # holds only on the empty suffix (Lydia's `end`)
FIRST = WeakYesterday(FALSE)  # no previous step


def NextN(n: int, a: Formula, *, weak: bool = False) -> Formula:
    """X[n] a: n strong (or weak) nexts."""
    for _ in range(n):
        a = WeakNext(a) if weak else Next(a)
    return a


def BoundedEventually(lo: int, hi: int | None, a: Formula) -> Formula:
    """F[lo,hi] a: a holds at some step in [i+lo, i+hi] (strong: those steps must exist)."""
    if hi is None:
        return NextN(lo, Eventually(a))
    if lo > hi:
        raise ValueError(f"bounded interval [{lo},{hi}] has lo > hi")
    body = a
    for _ in range(hi - lo):
        body = Or(a, Next(body))
    return NextN(lo, body)


def BoundedAlways(lo: int, hi: int | None, a: Formula) -> Formula:
    """G[lo,hi] a: a holds at every existing step in [i+lo, i+hi] (weak)."""
    if hi is None:
        return NextN(lo, Always(a), weak=True)
    if lo > hi:
        raise ValueError(f"bounded interval [{lo},{hi}] has lo > hi")
    body = a
    for _ in range(hi - lo):
        body = And(a, WeakNext(body))
    return NextN(lo, body, weak=True)


# --- printing ------------------------------------------------------------------------------

# The one printer of user syntax. Levels of grammars/formula.lark's precedence ladder, loosest
# first (the core IR has no `<->` or `^`): a printed form gets parentheses exactly when it
# binds looser than its place in the parent requires.
_IMP, _OR, _AND, _BIN, _PREFIX = 1, 2, 3, 4, 5
_BIN_OPS = {Op.UNTIL: "U", Op.RELEASE: "R", Op.SINCE: "S", Op.TRIGGER: "T"}
_SUGAR = {
    (Op.UNTIL, Op.TRUE): "F",
    (Op.RELEASE, Op.FALSE): "G",
    (Op.SINCE, Op.TRUE): "O",
    (Op.TRIGGER, Op.FALSE): "H",
}
_UN = {Op.NOT: "!", Op.NEXT: "X ", Op.WNEXT: "WX ", Op.YESTERDAY: "Y ", Op.WYESTERDAY: "Z "}

# Longest text `to_text` renders: `p0 <-> p1 <-> ... <-> p29` is a small DAG but a tree of
# 2^30 nodes, whose full text would exhaust memory.
MAX_TEXT = 100_000
ELIDED = " \u2026"  # marks text cut at MAX_TEXT

# A printed form: its level, and literal strings interleaved with (child, the least level the
# child may have there without parentheses).
_Layout = tuple[int, list["str | tuple[Formula, int]"]]


def _implication(f: Formula) -> tuple[list[Formula], Formula] | None:
    """``([a, b], c)`` when ``f`` is ``!a | !b | c``: the lowering of ``a -> b -> c``
    (``->`` is right-associative, and the lowering flattens the nested disjunctions). Not
    ``a & b -> c``: that parses back as ``!(a & b) | c``, a different formula (negations
    are not pushed inward). Without a non-negated member there is no conclusion to show."""
    if f.op is not Op.OR:
        return None
    premises = [a.args[0] for a in f.args if a.op is Op.NOT]
    if not premises or len(premises) == len(f.args):
        return None
    return premises, Or(*(a for a in f.args if a.op is not Op.NOT))


def _layout(f: Formula, compact: bool) -> _Layout:
    """How ``f`` prints, one level deep. ``compact`` writes the lowering's unrolled chains
    as the user does (:func:`bounded_fold`, ``X X X a`` as ``X[3] a``)."""
    op = f.op
    fold = bounded_fold(f) if compact and op in (Op.AND, Op.OR) else None
    if fold is not None and not fold[3]:
        return _PREFIX, [f"{fold[0]}[0,{fold[1]}] ", (fold[2], _PREFIX)]
    imp = _implication(f)
    if imp is not None:
        chain: list[str | tuple[Formula, int]] = []
        for premise in imp[0]:
            chain += [(premise, _OR), " -> "]
        return _IMP, [*chain, (imp[1], _IMP)]
    if op in (Op.AND, Op.OR):
        sep, level = (" & ", _AND) if op is Op.AND else (" | ", _OR)
        items: list[str | tuple[Formula, int]] = []
        operands = f.args if fold is None else fold[3]
        for a in operands:
            items += [(a, level + 1), sep]
        if fold is None:
            return level, items[:-1]
        return level, [*items, f"{fold[0]}[0,{fold[1]}] ", (fold[2], _PREFIX)]
    if op is Op.TRUE:
        return _PREFIX, ["true"]
    if op is Op.FALSE:
        return _PREFIX, ["false"]
    if op is Op.ATOM:
        assert f.name is not None
        name = f.name
        return _PREFIX, [name if _plain_name(name) else '"' + name.replace('"', '\\"') + '"']
    if compact and op in (Op.NEXT, Op.WNEXT) and f.args[0].op is op:
        k, g = 0, f
        while g.op is op:
            k, g = k + 1, g.args[0]
        return _PREFIX, [f"{_UN[op].strip()}[{k}] ", (g, _PREFIX)]
    if op in _UN:
        return _PREFIX, [_UN[op], (f.args[0], _PREFIX)]
    a, b = f.args
    sugar = _SUGAR.get((op, a.op))
    if sugar is not None:
        return _PREFIX, [f"{sugar} ", (b, _PREFIX)]
    # right-associative: `a U b U c` is `a U (b U c)`; the left operand is a unary one
    return _BIN, [(a, _PREFIX), f" {_BIN_OPS[op]} ", (b, _BIN)]


def _level(f: Formula, compact: bool) -> int:
    c = f._cache
    key = "clevel" if compact else "level"
    level = c.get(key)
    if level is None:
        level = c[key] = _layout(f, compact)[0]
    return level


def to_text(f: Formula, limit: int = MAX_TEXT, *, compact: bool = False) -> str:
    """``f`` in speclang syntax as a user writes it: implications restored (``!a | b`` is
    ``a -> b``), parentheses only where the grammar's precedence needs them, and with
    ``compact`` the unrolled chains of bounded operators folded back (``b | X(b | X b)`` is
    ``F[0,2] b``, ``a & WX(a & WX a)`` is ``G[0,2] a``, ``X X X a`` is ``X[3] a``). The
    text parses back to the same formula. Text longer than ``limit`` characters is cut there
    and ends with ``ELIDED`` (it no longer parses)."""
    if compact:
        if f.depth > _COMPACT_TEXT_DEPTH:
            return to_text(f, limit)
        try:
            _fold_chains(f)
            return _text_cached(f, limit, compact=True)
        except RecursionError:  # deep even after folding: the plain text
            return to_text(f, limit)
    c = f._cache
    text = c.get("text")
    if text is not None:
        return text
    if f.depth <= _RECURSIVE_TEXT_DEPTH:
        return _text_cached(f, limit)
    # An explicit stack instead of recursion: formulas may be nested hundreds of thousands
    # deep, and the work is bounded by ``limit``, never by the size of the formula's tree.
    out: list[str] = []
    length = 0
    stack: list[Formula | str] = [f]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            out.append(item)
            length += len(item)
            if length > limit:
                return "".join(out)[:limit] + ELIDED
            continue
        cached = item._cache.get("text")
        if cached is not None:
            stack.append(cached)
            continue
        for part in reversed(_layout(item, False)[1]):
            if isinstance(part, str):
                stack.append(part)
            elif _level(part[0], False) < part[1]:
                stack += [")", part[0], "("]
            else:
                stack.append(part[0])
    text = "".join(out)
    c["text"] = text
    return text


# Shallow formulas are printed recursively with every subformula's text cached: residuals
# share most of their subformulas, and the explicit stack above caches only its root.
_RECURSIVE_TEXT_DEPTH = 200

# Deepest formula tried with the (recursive) compact printer: F[0,1000] unrolls 1,000 deep
# but prints in a few frames once its chain is folded.
_COMPACT_TEXT_DEPTH = 5_000


def _text_cached(f: Formula, limit: int, compact: bool = False) -> str:
    """``f``'s text with every subformula's text cached."""
    c = f._cache
    key = "ctext" if compact else "text"
    s = c.get(key)
    if s is not None:
        return s
    level, parts = _layout(f, compact)
    c["clevel" if compact else "level"] = level
    pieces = []
    for part in parts:
        if isinstance(part, str):
            pieces.append(part)
            continue
        g, least = part
        t = _text_cached(g, limit, compact)
        pieces.append(f"({t})" if _level(g, compact) < least else t)
    s = "".join(pieces)
    if len(s) > limit:  # a small DAG can have an exponentially long text
        s = (s[:-len(ELIDED)] if s.endswith(ELIDED) else s)[:limit] + ELIDED
    c[key] = s
    return s


def _fold_chains(f: Formula) -> None:
    """Memoise :func:`bounded_fold` bottom-up along every Next/WeakNext chain below ``f``
    without recursion, so that folding a 1,000-link chain needs no deep Python stack."""
    stack, seen = [f], set()
    order = []
    while stack:
        g = stack.pop()
        if id(g) in seen or "fold" in g._cache:
            continue
        seen.add(id(g))
        order.append(g)
        stack.extend(g.args)
    for g in reversed(order):  # children before parents
        bounded_fold(g)


def chain(f: Formula) -> tuple[str, int, Formula] | None:
    """``("F", n, phi)`` when ``f`` is exactly the unrolled ``F[0,n] phi`` (n >= 1),
    ``("G", n, phi)`` for ``G[0,n] phi``, else None (memoised, no recursion)."""
    c = f._cache
    if "fold" not in c:
        _fold_chains(f)
    found = c["fold"]
    if found is None or found[3]:
        return None
    return found[0], found[1], found[2]


def _first_link(kind: str, phi: Formula) -> Formula:
    """``F[0,1] phi`` (``phi | X phi``) or ``G[0,1] phi``: a chain of one body compares with
    that body as every longer chain does. Its arguments are phi's parts and one next-link,
    which no part shares an operator with (else :func:`bounded_fold` finds no chain), so
    the link sorts at the same place among the parts whatever it links to."""
    parts = list(phi.args) if phi.op is (Op.OR if kind == "F" else Op.AND) else [phi]
    link = Formula(Op.NEXT if kind == "F" else Op.WNEXT, (phi,))
    return Formula(Op.OR if kind == "F" else Op.AND, tuple(sorted_formulas([*parts, link])))


def bounded_fold(f: Formula) -> tuple[str, int, Formula, list[Formula]] | None:
    """``("F", n, phi, others)`` when ``f`` is others | phi | X(F[0,n-1] phi) (``others``
    possibly empty), ``("G", n, phi, others)`` for others & phi & WX(G[0,n-1] phi), else
    None. Memoised on the formula."""
    c = f._cache
    if "fold" in c:
        return c["fold"]
    found = None
    op = f.op
    if op in (Op.OR, Op.AND):
        step = Op.NEXT if op is Op.OR else Op.WNEXT
        kind = "F" if op is Op.OR else "G"
        nexts = [a for a in f.args if a.op is step]
        if len(nexts) == 1:
            inner = nexts[0].args[0]
            sub = bounded_fold(inner)
            if sub is not None and sub[0] == kind and not sub[3]:
                n, phi = sub[1] + 1, sub[2]
            else:
                n, phi = 1, inner
            parts = list(phi.args) if phi.op is op else [phi]
            rest = [a for a in f.args if a is not nexts[0]]
            if parts and all(any(p is a for a in rest) for p in parts):
                others = [a for a in rest if not any(p is a for p in parts)]
                found = (kind, n, phi, others)
    c["fold"] = found
    return found




def _plain_name(name: str) -> bool:
    import re

    return bool(re.fullmatch(r"[a-z_][a-z0-9_]*", name)) and name not in KEYWORDS
