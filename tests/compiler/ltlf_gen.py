"""Hypothesis strategies for random formulas over a few propositions (test helper)."""

from __future__ import annotations

from hypothesis import strategies as st

from speclang.compiler import ir
from speclang.compiler.ir import Formula

PROPS = ("a", "b", "c", "d")


def atoms(props: tuple[str, ...] = PROPS) -> st.SearchStrategy[Formula]:
    return st.sampled_from([ir.Atom(p) for p in props] + [ir.TRUE, ir.FALSE])


def past_formulas(
    props: tuple[str, ...] = PROPS, max_leaves: int = 6
) -> st.SearchStrategy[Formula]:
    def extend(children: st.SearchStrategy[Formula]) -> st.SearchStrategy[Formula]:
        return st.one_of(
            children.map(ir.Not),
            children.map(ir.Yesterday),
            children.map(ir.WeakYesterday),
            children.map(ir.Once),
            children.map(ir.Historically),
            st.tuples(children, children).map(lambda t: ir.And(*t)),
            st.tuples(children, children).map(lambda t: ir.Or(*t)),
            st.tuples(children, children).map(lambda t: ir.Since(*t)),
            st.tuples(children, children).map(lambda t: ir.Trigger(*t)),
        )

    return st.recursive(atoms(props), extend, max_leaves=max_leaves)


def future_formulas(
    props: tuple[str, ...] = PROPS, max_leaves: int = 6, past: bool = True
) -> st.SearchStrategy[Formula]:
    base = atoms(props)
    if past:
        base = st.one_of(base, past_formulas(props, max_leaves=3))
    bounded = st.tuples(st.integers(0, 2), st.integers(0, 2))

    def extend(children: st.SearchStrategy[Formula]) -> st.SearchStrategy[Formula]:
        return st.one_of(
            children.map(ir.Not),
            children.map(ir.Next),
            children.map(ir.WeakNext),
            children.map(ir.Eventually),
            children.map(ir.Always),
            st.just(ir.LAST),
            st.just(ir.END),
            st.tuples(children, children).map(lambda t: ir.And(*t)),
            st.tuples(children, children).map(lambda t: ir.Or(*t)),
            st.tuples(children, children).map(lambda t: ir.Implies(*t)),
            st.tuples(children, children).map(lambda t: ir.Until(*t)),
            st.tuples(children, children).map(lambda t: ir.Release(*t)),
            st.tuples(children, children).map(lambda t: ir.WeakUntil(*t)),
            st.tuples(children, children).map(lambda t: ir.StrongRelease(*t)),
            st.tuples(bounded, children).map(
                lambda t: ir.BoundedEventually(min(t[0]), max(t[0]), t[1])
            ),
            st.tuples(bounded, children).map(
                lambda t: ir.BoundedAlways(min(t[0]), max(t[0]), t[1])
            ),
        )

    return st.recursive(base, extend, max_leaves=max_leaves)


def traces(
    props: tuple[str, ...] = PROPS, max_len: int = 6
) -> st.SearchStrategy[list[frozenset[str]]]:
    letter = st.frozensets(st.sampled_from(props))
    return st.lists(letter, min_size=1, max_size=max_len)
