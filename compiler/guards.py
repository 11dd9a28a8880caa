"""Short Boolean guards for automaton edges.

An edge ``q -> q'`` is labelled by the set of letters that lead from ``q`` to ``q'``. The
decision diagram gives that set as disjoint cubes (one per path), which read badly: a guard
``lava | creeper`` comes out as ``lava | !lava & creeper``. Here the set is turned into a
truth table over the propositions it mentions and re-covered with an irredundant sum of
products (Minato-Morreale ISOP); the complement is covered too and ``!(...)`` is used when that
is shorter. Truth tables are Python ints used as bitsets (bit ``m`` = minterm ``m``), so
cofactors are a mask and a shift, which keeps this fast for the ~10 propositions a guard
usually touches.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from speclang.compiler.ir import Atom, to_text

Cube = Mapping[str, bool]

# Above this many propositions a truth table (2**k bits) is too large; the cubes are then
# merged pairwise instead, which is not minimal but still far shorter than the raw paths.
MAX_TABLE_VARS = 16


def guard_text(props: Sequence[str], cubes: Iterable[Cube]) -> str:
    """A short Boolean expression, in speclang syntax over the names in ``props``, that is
    true exactly on the letters covered by ``cubes`` (partial valuations, e.g. from
    :meth:`Automaton.cubes`). ``true``/``false`` for the constant functions."""
    cube_list = [dict(c) for c in cubes]
    if not cube_list:
        return "false"
    order = {p: i for i, p in enumerate(props)}
    used = sorted({p for c in cube_list for p in c}, key=lambda p: (order.get(p, len(order)), p))
    if any(not c for c in cube_list):
        return "true"
    if len(used) > MAX_TABLE_VARS:
        return _render(_merge_cubes(cube_list), used, negate=False)
    table = _truth_table(cube_list, used)
    full = (1 << (1 << len(used))) - 1
    if table == full:
        return "true"
    if table == 0:
        return "false"
    pos = minimal_cover(table, len(used))
    neg = minimal_cover(full & ~table, len(used))
    pos_terms = [{used[i]: v for i, v in t.items()} for t in pos]
    neg_terms = [{used[i]: v for i, v in t.items()} for t in neg]
    # Negated form costs one extra symbol ("!"), so it must be strictly shorter to win.
    # A negated form that itself contains negations ("!(!a | b)") reads worse than it
    # counts, so only a complement made of positive literals is offered.
    positive = all(v for t in neg_terms for v in t.values())
    if positive and _cost(neg_terms) + 1 < _cost(pos_terms):
        return _render(neg_terms, used, negate=True)
    return _render(pos_terms, used, negate=False)


def edge_guards(aut: object, state: int) -> dict[int, str]:
    """Guard text for every successor of ``state``: ``{target: guard}`` in the order
    :meth:`Automaton.successors` gives (deterministic)."""
    by_target: dict[int, list[dict[str, bool]]] = {}
    for cube, target in aut.cubes(state):  # type: ignore[attr-defined]
        by_target.setdefault(target, []).append(cube)
    props = aut.props  # type: ignore[attr-defined]
    return {t: guard_text(props, cs) for t, cs in by_target.items()}


# --- truth tables as bitsets ---------------------------------------------------------------


def _var_masks(k: int) -> list[int]:
    """``masks[i]`` has bit ``m`` set iff variable ``i`` is true in minterm ``m``."""
    masks = []
    n = 1 << k
    for i in range(k):
        block = ((1 << (1 << i)) - 1) << (1 << i)  # 2**i zeros then 2**i ones
        period = 1 << (i + 1)
        m = 0
        for start in range(0, n, period):
            m |= block << start
        masks.append(m)
    return masks


def _truth_table(cubes: list[dict[str, bool]], used: list[str]) -> int:
    k = len(used)
    full = (1 << (1 << k)) - 1
    masks = _var_masks(k)
    index = {p: i for i, p in enumerate(used)}
    table = 0
    for cube in cubes:
        t = full
        for name, value in cube.items():
            m = masks[index[name]]
            t &= m if value else full & ~m
        table |= t
    return table


def minimal_cover(table: int, k: int) -> list[dict[int, bool]]:
    """An irredundant sum-of-products cover of the function ``table`` over ``k`` variables:
    a list of cubes ``{var_index: value}``."""
    masks = _var_masks(k)
    full = (1 << (1 << k)) - 1
    cubes, _ = _isop(table, table, k - 1, masks, full)
    return sorted(cubes, key=lambda c: (len(c), sorted((i, not v) for i, v in c.items())))


def _cofactors(f: int, i: int, masks: list[int], full: int) -> tuple[int, int]:
    """(f with var i false, f with var i true), each spread over both halves so the result
    no longer depends on var i."""
    s = 1 << i
    f0 = f & (full & ~masks[i])
    f1 = f & masks[i]
    return f0 | (f0 << s), f1 | (f1 >> s)


def _isop(
    lower: int, upper: int, top: int, masks: list[int], full: int
) -> tuple[list[dict[int, bool]], int]:
    """Minato-Morreale: an irredundant cover ``C`` with ``lower <= C <= upper``; returns the
    cubes and the function they cover."""
    if lower == 0:
        return [], 0
    if upper == full:
        return [{}], full
    var = top
    while var >= 0:
        l0, l1 = _cofactors(lower, var, masks, full)
        u0, u1 = _cofactors(upper, var, masks, full)
        if l0 != l1 or u0 != u1:
            break
        var -= 1
    # lower != 0 and upper != full, so some variable must separate them.
    assert var >= 0
    c0, r0 = _isop(l0 & (full & ~u1), u0, var - 1, masks, full)
    c1, r1 = _isop(l1 & (full & ~u0), u1, var - 1, masks, full)
    rest = (l0 & (full & ~r0)) | (l1 & (full & ~r1))
    cs, rs = _isop(rest, u0 & u1, var - 1, masks, full)
    xbar = full & ~masks[var]
    covered = (r0 & xbar) | (r1 & masks[var]) | rs
    cubes = [{**c, var: False} for c in c0] + [{**c, var: True} for c in c1] + cs
    return cubes, covered


# --- fallback for very wide guards -----------------------------------------------------------


def _merge_cubes(cubes: list[dict[str, bool]]) -> list[dict[str, bool]]:
    """Merge cubes that differ in exactly one literal and drop subsumed ones, to a fixpoint."""
    current = {tuple(sorted(c.items())) for c in cubes}
    changed = True
    while changed:
        changed = False
        items = sorted(current)
        for a_i, a in enumerate(items):
            da = dict(a)
            for b in items[a_i + 1 :]:
                db = dict(b)
                if da.keys() != db.keys():
                    continue
                diff = [p for p in da if da[p] != db[p]]
                if len(diff) == 1:
                    merged = {p: v for p, v in da.items() if p != diff[0]}
                    current.discard(a)
                    current.discard(b)
                    current.add(tuple(sorted(merged.items())))
                    changed = True
                    break
            if changed:
                break
    kept = [dict(c) for c in current]
    kept = [c for c in kept if not any(o is not c and o.items() < c.items() for o in kept)]
    return kept


# --- printing ------------------------------------------------------------------------------


def _cost(terms: list[dict[str, bool]]) -> int:
    """Symbols a reader has to scan: literals, negations and connectives."""
    lits = sum(len(t) for t in terms)
    negs = sum(1 for t in terms for v in t.values() if not v)
    return lits + negs + max(0, len(terms) - 1) + sum(max(0, len(t) - 1) for t in terms)


def _render(terms: list[dict[str, bool]], used: list[str], *, negate: bool) -> str:
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
