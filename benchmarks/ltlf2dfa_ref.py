"""Reference DFAs from LTLf2DFA + MONA, the external oracle for state counts.

Every call to LTLf2DFA anywhere in the project must go through :func:`mona_dfa`:
LTLf2DFA writes its MONA program to one fixed file inside its package folder, so two
concurrent calls would overwrite each other's programs. An exclusive ``fcntl.flock`` on
``/tmp/speclang-ltlf2dfa.lock`` serialises them across processes (pytest-xdist workers,
benchmark scripts).

We read MONA's own textual automaton (not LTLf2DFA's DOT, whose guards are simplified by
sympy and whose unsatisfiable case is a canned picture). MONA's state 0 is an extra initial
state that reads no trace letter and moves to state 1, the real initial state; counts here
exclude it, except for the one-state automaton of an unsatisfiable formula.

Usage as a script: ``python benchmarks/ltlf2dfa_ref.py "G(a -> F(b))"`` (one formula), or
``python benchmarks/ltlf2dfa_ref.py --sweep 400 --seed 1`` (random formulas, future and
pure past, compared with speclang's compiler).
"""

from __future__ import annotations

import argparse
import fcntl
import random
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

LOCK_PATH = "/tmp/speclang-ltlf2dfa.lock"


class MonaError(RuntimeError):
    """LTLf2DFA or MONA failed (bad syntax, timeout, unexpected output)."""


@contextmanager
def ltlf2dfa_lock() -> Iterator[None]:
    with open(LOCK_PATH, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@dataclass
class MonaDFA:
    """MONA's minimal DFA, restricted to the states a trace can visit."""

    props: tuple[str, ...]  # MONA's free-variable order, lower-cased
    initial: int  # MONA's id of the real initial state
    accepting: frozenset[int]
    transitions: dict[int, list[tuple[str, int]]] = field(default_factory=dict)
    mona_states: int = 0

    @property
    def n_states(self) -> int:
        return max(1, self.mona_states - 1)

    @property
    def initial_accepting(self) -> bool:
        return self.initial in self.accepting

    def step(self, state: int, letter: Iterable[str]) -> int:
        true = set(letter)
        bits = ["1" if p in true else "0" for p in self.props]
        for guard, target in self.transitions[state]:
            if all(g in ("X", b) for g, b in zip(guard, bits, strict=True)):
                return target
        raise MonaError(f"no transition from state {state} on {sorted(true)}")

    def accepts(self, trace: Iterable[Iterable[str]]) -> bool:
        q = self.initial
        for letter in trace:
            q = self.step(q, letter)
        return q in self.accepting


_STATE_LINE = re.compile(r"State (\d+): ?([01X]*) -> state (\d+)")


def parse_mona_output(text: str) -> MonaDFA:
    m = re.search(r"DFA for formula with free variables:([^\n]*)\n", text)
    if not m:
        raise MonaError(f"unexpected MONA output:\n{text[:500]}")
    props = tuple(v.lower() for v in m.group(1).split())
    acc = re.search(r"Accepting states:([^\n]*)\n", text)
    count = re.search(r"Automaton has (\d+) states?", text)
    if not acc or not count:
        raise MonaError(f"unexpected MONA output:\n{text[:500]}")
    transitions: dict[int, list[tuple[str, int]]] = {}
    for src, guard, dst in _STATE_LINE.findall(text):
        transitions.setdefault(int(src), []).append((guard, int(dst)))
    n = int(count.group(1))
    initial = 0 if n == 1 else transitions[0][0][1]
    return MonaDFA(
        props=props,
        initial=initial,
        accepting=frozenset(int(x) for x in acc.group(1).split()),
        transitions=transitions,
        mona_states=n,
    )


def mona_dfa(formula_text: str, *, past: bool = False) -> MonaDFA:
    """The minimal DFA of an LTLf formula (or, with ``past``, a PPLTL formula: ``Y WY S P O
    H start``) in LTLf2DFA syntax, computed by MONA."""
    if past:
        from ltlf2dfa.parser.ppltl import PPLTLParser as Parser
    else:
        from ltlf2dfa.parser.ltlf import LTLfParser as Parser

    try:
        parsed = Parser()(formula_text)
    except Exception as exc:  # lark raises several types; all mean bad syntax
        raise MonaError(f"LTLf2DFA cannot parse {formula_text!r}: {exc}") from exc
    with ltlf2dfa_lock():
        out = parsed.to_dfa(mona_dfa_out=True)
    if not out:
        raise MonaError(f"MONA timed out or failed on {formula_text!r}")
    return parse_mona_output(out)


def mona_dfa_ppltl(formula_text: str) -> MonaDFA:
    """The minimal DFA of a pure-past formula in LTLf2DFA's PPLTL syntax, evaluated at the
    last step (``mona_dfa(..., past=True)``; kept for benchmarks/compile.py)."""
    return mona_dfa(formula_text, past=True)


def _bracketed(f: object, unary: dict, binary: dict, what: str) -> str:
    """Print a ``speclang.compiler.ir.Formula`` fully bracketed with the given temporal operator
    spellings (LTLf2DFA's LTLf and PPLTL syntaxes differ only there)."""
    from speclang.compiler.ir import Formula, Op

    assert isinstance(f, Formula)
    op, a = f.op, f.args
    if op is Op.TRUE:
        return "true"
    if op is Op.FALSE:
        return "false"
    if op is Op.ATOM:
        assert f.name is not None
        return f.name
    if op is Op.NOT:
        return f"!({_bracketed(a[0], unary, binary, what)})"
    if op is Op.AND or op is Op.OR:
        sep = " & " if op is Op.AND else " | "
        return "(" + sep.join(_bracketed(x, unary, binary, what) for x in a) + ")"
    if op in unary:
        return f"{unary[op]}({_bracketed(a[0], unary, binary, what)})"
    if op in binary:
        left, right = (_bracketed(x, unary, binary, what) for x in a)
        return f"(({left}) {binary[op]} ({right}))"
    raise ValueError(f"{what}: {f}")


def to_ltlf2dfa(f: object) -> str:
    """Print a future-only ``speclang.compiler.ir.Formula`` in LTLf2DFA syntax, fully bracketed."""
    from speclang.compiler.ir import Op

    return _bracketed(f, {Op.NEXT: "X", Op.WNEXT: "WX"}, {Op.UNTIL: "U", Op.RELEASE: "R"},
                      "LTLf2DFA has no past operators")


def to_ppltl(f: object) -> str:
    """Print a pure-past ``speclang.compiler.ir.Formula`` in LTLf2DFA's PPLTL syntax."""
    from speclang.compiler.ir import Op

    return _bracketed(f, {Op.YESTERDAY: "Y", Op.WYESTERDAY: "WY"},
                      {Op.SINCE: "S", Op.TRIGGER: "P"}, "PPLTL has no future operators")


def _random_formula(rng: random.Random, depth: int, props: Sequence[str], past: bool) -> object:
    """A random future (or pure-past) IR formula of the given nesting depth."""
    from speclang.compiler import ir

    if depth == 0 or rng.random() < 0.2:
        return rng.choice([*(ir.Atom(p) for p in props), ir.TRUE, ir.FALSE])

    def sub() -> Any:
        return _random_formula(rng, depth - 1, props, past)

    unary = (
        [ir.Not, ir.Yesterday, ir.WeakYesterday, ir.Once, ir.Historically]
        if past
        else [ir.Not, ir.Next, ir.WeakNext, ir.Eventually, ir.Always]
    )
    binary = (
        [ir.And, ir.Or, ir.Implies, ir.Since, ir.Trigger]
        if past
        else [ir.And, ir.Or, ir.Implies, ir.Until, ir.Release, ir.WeakUntil, ir.StrongRelease]
    )
    if rng.random() < 0.45:
        return rng.choice(unary)(sub())
    return rng.choice(binary)(sub(), sub())


def sweep(count: int, seed: int, depth: int = 4, props: Sequence[str] = ("a", "b", "c")) -> int:
    """Compare ``count`` random formulas (half future, half pure past) with MONA: state
    count, empty-trace acceptance and acceptance of 20 random traces each. Prints every
    mismatch and a summary; returns the number of mismatches."""
    from speclang import compile_formula

    rng = random.Random(seed)
    bad = checked = 0
    for i in range(count):
        past = i % 2 == 1
        f: Any = _random_formula(rng, depth, props, past)
        if past and not f.is_pure_past:
            continue  # no temporal operator left: not a PPLTL formula
        text = to_ppltl(f) if past else to_ltlf2dfa(f)
        ref = mona_dfa(text, past=past)
        aut = compile_formula(f)
        ok = aut.n_states == ref.n_states and bool(aut.accepting[0]) == ref.initial_accepting
        for _ in range(20):
            trace = [
                {p for p in props if rng.random() < 0.5} for _ in range(rng.randint(1, 6))
            ]
            mine = aut.accepts([{p for p in s if p in aut.props} for s in trace])
            ok = ok and mine == ref.accepts([[p for p in s if p in ref.props] for s in trace])
        checked += 1
        if not ok:
            bad += 1
            print(f"MISMATCH {text}: ours {aut.n_states} states, MONA {ref.n_states}")
    print(f"{checked} formulas compared with MONA (seed {seed}, depth {depth}): {bad} mismatches")
    return bad


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description="LTLf2DFA/MONA reference DFAs")
    ap.add_argument("formula", nargs="?", help="an LTLf (or, with --past, PPLTL) formula")
    ap.add_argument("--past", action="store_true")
    ap.add_argument("--sweep", type=int, metavar="N", help="compare N random formulas")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--depth", type=int, default=4)
    args = ap.parse_args(argv)
    if args.sweep:
        return 1 if sweep(args.sweep, args.seed, args.depth) else 0
    if not args.formula:
        ap.error("give a formula or --sweep N")
    dfa = mona_dfa(args.formula, past=args.past)
    print(f"states: {dfa.n_states}  initial accepting: {dfa.initial_accepting}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
