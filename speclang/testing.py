"""Property-testing kit for specs and monitors, built on Hypothesis.

Strategies:

- :func:`valuations` - one letter: the set of true propositions;
- :func:`traces` - lists of letters, optionally biased toward the automaton's violation sink
  (so that properties about violations are exercised, not just the easy safe traces);
- :func:`formulas` - random core-IR formulas using every operator, for compiler tests;
- :func:`random_declare` - the text of a seeded random conjunction of Declare templates
  (response, precedence, not-coexistence, chain response, alternate response), the shape of
  process-mining specs and a stress case for the compiler.

:func:`monitor_state_machine` builds a ``RuleBasedStateMachine`` that steps a compiled
monitor letter by letter and checks acceptance and verdicts against the independent
reference evaluator :mod:`speclang.compiler.reference` after every step.

>>> from hypothesis import given, settings
>>> from speclang import compile_formula
>>> aut = compile_formula("G (door -> O key)")
>>> @settings(max_examples=30, database=None)
... @given(traces(aut.props, max_size=6, bias_toward=aut))
... def test_no_violation_without_door(trace):
...     if not any("door" in letter for letter in trace):
...         assert all(aut.verdict(q).label != "violated" for q in aut.run(trace))
>>> test_no_violation_without_door()
"""

from __future__ import annotations

import itertools
import random
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

try:
    from hypothesis import strategies as st
    from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError(
        "speclang.testing needs Hypothesis: pip install 'speclang[testing]'"
    ) from exc

from speclang.compiler import ir
from speclang.compiler.ir import Formula

if TYPE_CHECKING:
    from speclang.compiler.automaton import Automaton

Letter = frozenset[str]

# Reference verdicts enumerate (2**k)**h extensions; stay below this many per check.
VERDICT_SEARCH_BUDGET = 4096


def valuations(props: Sequence[str]) -> st.SearchStrategy[Letter]:
    """Letters over ``props``: every subset is possible; shrinks toward the empty letter."""
    names = sorted(set(props))
    if not names:
        return st.just(frozenset())
    return st.frozensets(st.sampled_from(names), max_size=len(names))


def distance_to_violation(aut: Automaton) -> list[int | None]:
    """Fewest steps from each state to a violated state (to a rejecting state when the
    automaton has no violation sink); ``None`` where unreachable."""
    from speclang.compiler.automaton import Verdict

    n = aut.n_states
    goal = [int(v) == Verdict.VIOLATED for v in aut.verdicts]
    if not any(goal):
        goal = [not bool(a) for a in aut.accepting]
    preds: list[set[int]] = [set() for _ in range(n)]
    for q in range(n):
        for t in aut.successors(q):
            preds[t].add(q)
    dist: list[int | None] = [0 if g else None for g in goal]
    queue = deque(q for q in range(n) if goal[q])
    while queue:
        t = queue.popleft()
        for p in preds[t]:
            if dist[p] is None:
                dist[p] = dist[t] + 1  # type: ignore[operator]
                queue.append(p)
    return dist


def _toward_violation(aut: Automaton, dist: list[int | None]) -> list[list[dict[str, bool]]]:
    """Per state, the cubes (partial letters) whose target is closest to violation."""
    big = len(dist) + 1
    far = [big if d is None else d for d in dist]
    out = []
    for q in range(aut.n_states):
        cubes = aut.cubes(q)
        best = min(far[t] for _, t in cubes)
        out.append([c for c, t in cubes if far[t] == best])
    return out


def traces(
    props: Sequence[str],
    min_size: int = 0,
    max_size: int = 12,
    bias_toward: Automaton | None = None,
) -> st.SearchStrategy[list[Letter]]:
    """Traces over ``props``. With ``bias_toward=aut``, each step flips a coin: heads picks a
    letter that moves the automaton closest to its violation sink (free propositions still
    random), tails a uniform letter, so violating traces are common yet everything is
    reachable and shrinking still works."""
    if min_size < 0 or max_size < min_size:
        raise ValueError(f"need 0 <= min_size <= max_size, got {min_size}, {max_size}")
    letter = valuations(props)
    if bias_toward is None:
        return st.lists(letter, min_size=min_size, max_size=max_size)
    aut = bias_toward
    names = sorted(set(props) | set(aut.props))
    letter = valuations(names)
    preferred = _toward_violation(aut, distance_to_violation(aut))

    @st.composite
    def biased(draw: Callable) -> list[Letter]:
        length = draw(st.integers(min_size, max_size))
        q = aut.initial
        out: list[Letter] = []
        for _ in range(length):
            if draw(st.booleans()):
                cube = draw(st.sampled_from(preferred[q]))
                free = [p for p in names if p not in cube]
                extra = draw(valuations(free))
                step = frozenset(p for p, v in cube.items() if v) | extra
            else:
                step = draw(letter)
            out.append(step)
            q = aut.step(q, step & frozenset(aut.props))
        return out

    return biased()


_BOOL_UNARY: tuple[Callable[[Formula], Formula], ...] = (ir.Not,)
_FUTURE_UNARY: tuple[Callable[[Formula], Formula], ...] = (
    ir.Next, ir.WeakNext, ir.Eventually, ir.Always,
)
_PAST_UNARY: tuple[Callable[[Formula], Formula], ...] = (
    ir.Yesterday, ir.WeakYesterday, ir.Once, ir.Historically,
)
_BOOL_BINARY: tuple[Callable[[Formula, Formula], Formula], ...] = (
    ir.And, ir.Or, ir.Implies, ir.Iff, ir.Xor,
)
_FUTURE_BINARY: tuple[Callable[[Formula, Formula], Formula], ...] = (
    ir.Until, ir.Release, ir.WeakUntil, ir.StrongRelease,
)
_PAST_BINARY: tuple[Callable[[Formula, Formula], Formula], ...] = (ir.Since, ir.Trigger)


def formulas(props: Sequence[str], max_depth: int = 3) -> st.SearchStrategy[Formula]:
    """Formulas over ``props`` with every core and derived operator (including bounded
    ``F[a,b]``/``G[a,b]``/``X[n]`` and ``last``/``end``/``first``), nested at most
    ``max_depth`` operators deep.

    Only formulas the compiler accepts are drawn: the arguments of past operators
    (``Y``, ``Z``, ``O``, ``H``, ``S``, ``T``) are themselves pure past, because the compiler
    rejects future operators under past ones (``Y WX false`` raises ``UnsupportedFormula``)."""
    if not props:
        raise ValueError("formulas() needs at least one proposition")
    atoms = [ir.Atom(p) for p in sorted(set(props))]
    any_leaves = st.one_of(st.sampled_from(atoms),
                           st.sampled_from([ir.TRUE, ir.FALSE, ir.LAST, ir.END, ir.FIRST]))
    past_leaves = st.one_of(st.sampled_from(atoms),
                            st.sampled_from([ir.TRUE, ir.FALSE, ir.FIRST]))
    bounds = st.tuples(st.integers(0, 2), st.integers(0, 2)).map(lambda t: (t[0], t[0] + t[1]))
    # one strategy per (depth, past only), built once: each level refers to the one below
    memo: dict[tuple[int, bool], st.SearchStrategy[Formula]] = {}

    def level(depth: int, past_only: bool) -> st.SearchStrategy[Formula]:
        key = (depth, past_only)
        if key in memo:
            return memo[key]
        leaves = past_leaves if past_only else any_leaves
        if depth == 0:
            memo[key] = leaves
            return leaves
        sub, past = level(depth - 1, past_only), level(depth - 1, True)
        parts = [
            leaves,
            st.builds(lambda f, a: f(a), st.sampled_from(_BOOL_UNARY), sub),
            st.builds(lambda f, a, b: f(a, b), st.sampled_from(_BOOL_BINARY), sub, sub),
            st.builds(lambda f, a: f(a), st.sampled_from(_PAST_UNARY), past),
            st.builds(lambda f, a, b: f(a, b), st.sampled_from(_PAST_BINARY), past, past),
        ]
        if not past_only:
            parts += [
                st.builds(lambda f, a: f(a), st.sampled_from(_FUTURE_UNARY), sub),
                st.builds(lambda f, a, b: f(a, b), st.sampled_from(_FUTURE_BINARY), sub, sub),
                st.builds(lambda b, a: ir.BoundedEventually(b[0], b[1], a), bounds, sub),
                st.builds(lambda b, a: ir.BoundedAlways(b[0], b[1], a), bounds, sub),
                st.builds(lambda n, a: ir.NextN(n, a), st.integers(1, 2), sub),
            ]
        memo[key] = st.one_of(*parts)
        return memo[key]

    return level(max_depth, False)


def _exact_horizon(n_states: int, n_props: int) -> int | None:
    """``n - 1`` extension steps make the reference verdict exact; None when too costly."""
    h = max(n_states - 1, 0)
    return h if (2**n_props) ** h <= VERDICT_SEARCH_BUDGET else None


class MonitorMachine(RuleBasedStateMachine):
    """Base state machine: feeds ``aut`` one letter per rule (uniform letters, and letters
    steering toward the violation sink) and checks after every step that the monitor's
    acceptance equals :func:`speclang.compiler.reference.evaluate` on the trace so far and that its
    verdict agrees with :func:`speclang.compiler.reference.verdict`.

    Build one with :func:`monitor_state_machine`; subclass the result to add your own rules
    or invariants (``self.trace`` and ``self.q`` hold the letters so far and the state)."""

    aut: Automaton
    formula: Formula
    props: list[str]
    horizon: int
    exact: bool
    preferred: list[list[dict[str, bool]]]

    def __init__(self) -> None:
        super().__init__()
        self.trace: list[Letter] = []
        self.q = self.aut.initial

    def feed(self, letter: Letter) -> None:
        self.trace.append(letter)
        self.q = self.aut.step(self.q, letter & frozenset(self.aut.props))

    @rule(data=st.data())
    def step(self, data: st.DataObject) -> None:
        self.feed(data.draw(valuations(self.props), label="letter"))

    @precondition(lambda self: len(self.preferred[self.q]) > 0)
    @rule(data=st.data())
    def step_toward_violation(self, data: st.DataObject) -> None:
        cube = data.draw(st.sampled_from(self.preferred[self.q]), label="toward violation")
        self.feed(frozenset(p for p, v in cube.items() if v))

    @invariant()
    def acceptance_matches_reference(self) -> None:
        from speclang.compiler import reference

        expected = reference.evaluate(self.formula, self.trace)
        got = bool(self.aut.accepting[self.q])
        assert got == expected, (
            f"monitor {'accepts' if got else 'rejects'} {_show(self.trace)} but the "
            f"reference says {expected} for {ir.to_text(self.formula)}"
        )

    @invariant()
    def verdict_matches_reference(self) -> None:
        from speclang.compiler import reference

        mine = self.aut.verdict(self.q).label
        ref = reference.verdict(self.formula, self.trace, self.props, self.horizon)
        if self.exact:
            assert mine == ref, f"verdict {mine} != reference {ref} after {_show(self.trace)}"
        elif mine in ("violated", "satisfied"):
            assert ref == mine, (
                f"monitor says {mine} after {_show(self.trace)}, but an extension of at "
                f"most {self.horizon} steps disagrees (reference: {ref})"
            )


def monitor_state_machine(
    aut: Automaton, formula: Formula | str, *, horizon: int | None = None
) -> type[MonitorMachine]:
    """A :class:`MonitorMachine` for ``aut``, checked against ``formula``.

    The reference verdict searches extensions up to ``horizon`` steps; by default
    ``n_states - 1`` (exact) when that search is small enough. With a shorter horizon only
    the sound direction is checked: a monitor verdict ``violated`` / ``satisfied`` must be
    confirmed by the bounded search.

    Run it under pytest with ``TestMyMonitor = monitor_state_machine(aut, f).TestCase``."""
    f = formula if isinstance(formula, Formula) else _parse(formula)
    props = sorted(set(aut.props) | set(f.atoms))
    exact = _exact_horizon(aut.n_states, len(props))
    h = horizon if horizon is not None else (exact if exact is not None else 1)
    attrs = {
        "aut": aut,
        "formula": f,
        "props": props,
        "horizon": h,
        "exact": exact is not None and h >= aut.n_states - 1,
        "preferred": _toward_violation(aut, distance_to_violation(aut)),
    }
    return type(f"MonitorMachine_{aut.name or 'spec'}", (MonitorMachine,), attrs)


def _parse(text: str) -> Formula:
    from speclang.loader import parse_formula

    return parse_formula(text)


def _show(trace: Sequence[Letter]) -> str:
    return "[" + ", ".join("{" + ", ".join(sorted(s)) + "}" for s in trace) + "]"


def all_letters(props: Sequence[str]) -> list[Letter]:
    """Every letter over ``props`` (for exhaustive checks on small alphabets)."""
    names = sorted(set(props))
    return [
        frozenset(p for p, b in zip(names, bits, strict=True) if b)
        for bits in itertools.product((False, True), repeat=len(names))
    ]


DECLARE_TEMPLATES = (
    "G({a} -> F {b})",
    "(!{b} W {a})",
    "!(F {a} & F {b})",
    "G({a} -> X {b})",
    "G({a} -> X(!{a} U {b}))",
)


def random_declare(seed: int, n: int, props: int) -> str:
    """``n`` Declare constraints over ``p0 .. p{props-1}``, each a template of
    :data:`DECLARE_TEMPLATES` on two distinct propositions, joined by ``&``; the same text for
    the same arguments.

    >>> random_declare(0, 2, 4)
    'G(p3 -> F p1) & G(p2 -> X p3)'
    """
    r = random.Random(seed)
    names = [f"p{i}" for i in range(props)]
    out = []
    for _ in range(n):
        a, b = r.sample(names, 2)
        out.append(r.choice(DECLARE_TEMPLATES).format(a=a, b=b))
    return " & ".join(out)
