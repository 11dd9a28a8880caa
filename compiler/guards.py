"""Short Boolean guards for automaton edges.

An edge ``q -> q'`` is labelled by the set of letters that lead from ``q`` to ``q'``. The
decision diagram gives that set as disjoint cubes (one per path), which read badly: a guard
``lava | creeper`` comes out as ``lava | !lava & creeper``. Here the set is turned into a
reduced ordered BDD and re-covered with an irredundant sum of products (Minato-Morreale
ISOP on the BDD); the complement is covered too and ``!(...)`` is used when that is
shorter. The BDD of an edge is read off the automaton's decision diagram node by node
(:func:`edge_guards`), so the cost follows the diagram's size, not the number of its paths
or of letters (a truth table has 2**k bits: 16 propositions took seconds per automaton).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from speclang.compiler.ir import Atom, to_text

Cube = Mapping[str, bool]

_FALSE, _TRUE = 0, 1


class _Bdd:
    """A reduced ordered BDD over variables named by integers, the largest at the top, so
    that ISOP splits on the variables in the order the truth-table version did (the
    printed guards do not change). Nodes are hash-consed; 0 and 1 are the constants."""

    def __init__(self) -> None:
        self.var: list[int] = [-1, -1]
        self.lo: list[int] = [0, 1]
        self.hi: list[int] = [0, 1]
        self._unique: dict[tuple[int, int, int], int] = {}
        self._and: dict[tuple[int, int], int] = {}
        self._not: dict[int, int] = {_FALSE: _TRUE, _TRUE: _FALSE}
        self._ite: dict[tuple[int, int, int], int] = {}
        self._isop: dict[tuple[int, int], tuple[list[dict[int, bool]], int]] = {}
        self._leq: dict[tuple[int, int], bool] = {}

    def node(self, v: int, lo: int, hi: int) -> int:
        if lo == hi:
            return lo
        key = (v, lo, hi)
        got = self._unique.get(key)
        if got is None:
            got = self._unique[key] = len(self.var)
            self.var.append(v)
            self.lo.append(lo)
            self.hi.append(hi)
        return got

    def _cof(self, u: int, v: int) -> tuple[int, int]:
        """Cofactors of ``u`` on ``v``, where ``v`` is at or above ``u``'s top variable."""
        if self.var[u] == v:
            return self.lo[u], self.hi[u]
        return u, u

    def neg(self, u: int) -> int:
        got = self._not.get(u)
        if got is None:
            got = self._not[u] = self.node(self.var[u], self.neg(self.lo[u]),
                                           self.neg(self.hi[u]))
        return got

    def conj(self, a: int, b: int) -> int:
        if a == _FALSE or b == _FALSE:
            return _FALSE
        if a in (_TRUE, b):
            return b
        if b == _TRUE:
            return a
        key = (a, b) if a < b else (b, a)
        got = self._and.get(key)
        if got is None:
            v = max(self.var[a], self.var[b])
            a0, a1 = self._cof(a, v)
            b0, b1 = self._cof(b, v)
            got = self._and[key] = self.node(v, self.conj(a0, b0), self.conj(a1, b1))
        return got

    def disj(self, a: int, b: int) -> int:
        return self.neg(self.conj(self.neg(a), self.neg(b)))

    def ite(self, v: int, lo: int, hi: int) -> int:
        """``(!v & lo) | (v & hi)`` for any ``lo``, ``hi`` (``v`` need not be on top): one
        pass that carries the test on ``v`` down to its place, where the two conjunctions
        and a disjunction (three passes, each with its complements) cost five times more."""
        if lo == hi:
            return lo
        key = (v, lo, hi)
        got = self._ite.get(key)
        if got is None:
            top = max(self.var[lo], self.var[hi])
            if top < v:
                got = self.node(v, lo, hi)
            elif top == v:
                got = self.node(v, self._cof(lo, v)[0], self._cof(hi, v)[1])
            else:
                lo0, lo1 = self._cof(lo, top)
                hi0, hi1 = self._cof(hi, top)
                got = self.node(top, self.ite(v, lo0, hi0), self.ite(v, lo1, hi1))
            self._ite[key] = got
        return got

    def leq(self, a: int, b: int) -> bool:
        """Whether ``a`` implies ``b``, without building a node."""
        if a in (b, _FALSE) or b == _TRUE:
            return True
        if a == _TRUE or b == _FALSE:
            return False
        key = (a, b)
        got = self._leq.get(key)
        if got is None:
            v = max(self.var[a], self.var[b])
            a0, a1 = self._cof(a, v)
            b0, b1 = self._cof(b, v)
            got = self._leq[key] = self.leq(a0, b0) and self.leq(a1, b1)
        return got

    def negative_unate(self, f: int) -> bool:
        """Whether ``f`` can only fall when a variable rises: at every node below ``f`` the
        high child implies the low one (each node is the cofactor of some assignment of
        the variables above it, so this is necessary and sufficient)."""
        stack, seen = [f], set()
        while stack:
            u = stack.pop()
            if u in seen or u <= _TRUE:
                continue
            seen.add(u)
            if not self.leq(self.hi[u], self.lo[u]):
                return False
            stack.append(self.lo[u])
            stack.append(self.hi[u])
        return True

    def isop(self, lower: int, upper: int) -> tuple[list[dict[int, bool]], int]:
        """Minato-Morreale: an irredundant cover ``C`` with ``lower <= C <= upper``; returns
        the cubes (``{variable: value}``) and the BDD of what they cover."""
        if lower == _FALSE:
            return [], _FALSE
        if upper == _TRUE:
            return [{}], _TRUE
        got = self._isop.get((lower, upper))
        if got is not None:
            return got
        # lower != 0 and upper != 1, so some variable separates them: the topmost one.
        v = max(self.var[lower], self.var[upper])
        l0, l1 = self._cof(lower, v)
        u0, u1 = self._cof(upper, v)
        c0, r0 = self.isop(self.conj(l0, self.neg(u1)), u0)
        c1, r1 = self.isop(self.conj(l1, self.neg(u0)), u1)
        rest = self.disj(self.conj(l0, self.neg(r0)), self.conj(l1, self.neg(r1)))
        cs, rs = self.isop(rest, self.conj(u0, u1))
        covered = self.disj(self.node(v, r0, r1), rs)
        cubes = [{**c, v: False} for c in c0] + [{**c, v: True} for c in c1] + cs
        got = self._isop[(lower, upper)] = (cubes, covered)
        return got


def guard_text(props: Sequence[str], cubes: Iterable[Cube]) -> str:
    """A short Boolean expression, in speclang syntax over the names in ``props``, that is
    true exactly on the letters covered by ``cubes`` (partial valuations, e.g. from
    :meth:`Automaton.cubes`). ``true``/``false`` for the constant functions."""
    cube_list = [dict(c) for c in cubes]
    if not cube_list:
        return "false"
    if any(not c for c in cube_list):
        return "true"
    order = {p: i for i, p in enumerate(props)}
    used = sorted({p for c in cube_list for p in c}, key=lambda p: (order.get(p, len(order)), p))
    index = {p: i for i, p in enumerate(used)}
    bdd = _Bdd()
    f = _FALSE
    for cube in cube_list:
        term = _TRUE
        for name in sorted(cube, key=index.__getitem__):  # bottom-up: each node() is cheap
            lit = bdd.node(index[name], _FALSE, _TRUE)
            term = bdd.conj(term, lit if cube[name] else bdd.neg(lit))
        f = bdd.disj(f, term)
    return _cover_text(bdd, f, used)


def _cover_text(bdd: _Bdd, f: int, names: Sequence[str],
                print_order: Sequence[str] | None = None) -> str:
    """The shorter of the ISOP of ``f`` and the negated ISOP of its complement; variable
    ``i`` is ``names[i]``; literals are printed in the order of ``print_order`` (default
    ``names``)."""
    if f == _TRUE:
        return "true"
    if f == _FALSE:
        return "false"
    pos, _ = bdd.isop(f, f)
    pos_terms = [{names[i]: v for i, v in t.items()} for t in pos]
    order = names if print_order is None else print_order
    # Negated form costs one extra symbol ("!"), so it must be strictly shorter to win.
    # A negated form that itself contains negations ("!(!a | b)") reads worse than it
    # counts, so only a complement made of positive literals is offered. Every cover of
    # the complement has a negative literal unless the complement is positive unate, i.e.
    # f negative unate: where it is not, its cover is not computed (half of the cost).
    if bdd.negative_unate(f):
        nf = bdd.neg(f)
        neg, _ = bdd.isop(nf, nf)
        neg_terms = [{names[i]: v for i, v in t.items()} for t in neg]
        positive = all(v for t in neg_terms for v in t.values())
        if positive and _cost(neg_terms) + 1 < _cost(pos_terms):
            return _render(neg_terms, order, negate=True)
    return _render(pos_terms, order, negate=False)


def edge_guards(aut: Any, state: int) -> dict[int, str]:
    """Guard text for every successor of ``state``: ``{target: guard}``, targets in the
    order :meth:`Automaton.successors` gives (first reached, false branch first). Each
    edge's BDD is built from the decision diagram's nodes (shared sub-diagrams once)."""
    var, lo, hi = aut.dd_var, aut.dd_lo, aut.dd_hi
    root = int(aut.roots[state])
    # Targets in first-reached order (false branch first, as Automaton.cubes walks), and
    # the nodes below the root in post-order (children before parents).
    targets: dict[int, None] = {}
    post: list[int] = []
    done: set[int] = set()
    stack: list[tuple[int, bool]] = [(root, False)]
    while stack:
        k, expanded = stack.pop()
        if expanded:
            post.append(k)
            continue
        if k in done:
            continue
        done.add(k)
        if var[k] < 0:
            targets.setdefault(int(lo[k]), None)
            post.append(k)
            continue
        stack.append((k, True))
        stack.append((int(hi[k]), False))
        stack.append((int(lo[k]), False))
    # BDD variable n-1-i is proposition i, so the guard BDD has the diagram's variable order
    # (_Bdd keeps its largest variable on top): every diagram node becomes one node() in
    # time independent of the size below it. In the opposite order a chain over k
    # propositions (p1 | .. | pk) built k^2/2 intermediate nodes, 0.1 s for k = 200.
    props = list(aut.props)
    top = len(props) - 1
    names = props[::-1]
    bdd = _Bdd()  # shared by every edge of the state
    out: dict[int, str] = {}
    for t in targets:
        ind: dict[int, int] = {}
        for k in post:
            v = int(var[k])
            if v < 0:
                ind[k] = _TRUE if int(lo[k]) == t else _FALSE
            else:
                ind[k] = bdd.node(top - v, ind[int(lo[k])], ind[int(hi[k])])
        out[t] = _cover_text(bdd, ind[root], names, props)
    return out


# --- printing ------------------------------------------------------------------------------


def _cost(terms: list[dict[str, bool]]) -> int:
    """Symbols a reader has to scan: literals, negations and connectives."""
    lits = sum(len(t) for t in terms)
    negs = sum(1 for t in terms for v in t.values() if not v)
    return lits + negs + max(0, len(terms) - 1) + sum(max(0, len(t) - 1) for t in terms)


def _render(terms: list[dict[str, bool]], used: Sequence[str], *, negate: bool) -> str:
    order = {p: i for i, p in enumerate(used)}
    if not terms:
        body, multi = "false", False
    elif any(not t for t in terms):
        body, multi = "true", False
    else:

        def term_key(t: dict[str, bool]) -> tuple[int, list[tuple[int, bool]]]:
            return len(t), sorted((order[p], not v) for p, v in t.items())

        ordered = sorted(terms, key=term_key)
        parts = []
        for t in ordered:
            lits = [
                ("" if v else "!") + to_text(Atom(p))
                for p, v in sorted(t.items(), key=lambda kv: order[kv[0]])
            ]
            text = " & ".join(lits)
            if len(lits) > 1 and len(ordered) > 1:
                text = f"({text})"
            parts.append(text)
        body = " | ".join(parts)
        multi = len(ordered) > 1 or len(ordered[0]) > 1
    if not negate:
        return body
    if body == "true":
        return "false"
    if body == "false":
        return "true"
    return f"!({body})" if multi else f"!{body}"
