"""Why a trace violated a spec: step-by-step verdicts and the cause of the violation.

Blame is assigned in two stages. First, exactly: each top-level ``&``-conjunct of the spec is
compiled on its own and run over the trace; the conjuncts whose own monitor sits in its
violation sink at the violating step are the culprits. Then, for a readable reason, the
culprit is evaluated on the trace prefix with an *optimistic* semantics in which every
obligation still open at the end of the prefix counts as met (and, under negation, the
pessimistic dual). A subformula that is false even optimistically is false in every
continuation, so the drill-down only ever reports definite failures: "`lava` held at step 3",
"at step 4 `goal` held but `O key` was false: `key` never held up to step 4".

Steps are numbered from 1 (the first letter of the trace), as in ``speclang monitor``.

This is the analysis alone, on IR: the rendering against the spec's source (the conjunct's
line with carets, as ``speclang check`` shows diagnostics) and explaining formula text are
the front end's, :mod:`speclang.explain`. A conjunct's ``span`` is the front end's location
object, carried through untouched.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from speclang.compiler.automaton import Automaton, Verdict
from speclang.compiler.ir import FALSE, TRUE, Formula, Op, to_text

Letter = frozenset[str]


@dataclass(frozen=True)
class Part:
    """A top-level conjunct of the explained formula, with where the user wrote it."""

    formula: Formula
    text: str  # as written in the source when known, else the formula printed
    span: Any = None  # where it was written (the front end's Span), if known


@dataclass(frozen=True)
class StepRecord:
    step: int  # 1-based
    letter: tuple[str, ...]  # true propositions, sorted
    state: int
    verdict: str
    accepting: bool
    residual: str  # remaining obligation after this step

    def to_json(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "letter": list(self.letter),
            "state": self.state,
            "verdict": self.verdict,
            "accepting": self.accepting,
            "residual": self.residual,
        }


@dataclass(frozen=True)
class Blame:
    """One conjunct that can no longer be met, and why."""

    index: int | None  # position among the spec's conjuncts
    text: str
    formula: str
    span: Any  # the front end's Span, or None
    reason: str

    def to_json(self) -> dict[str, Any]:
        s = self.span
        return {
            "index": self.index,
            "text": self.text,
            "formula": self.formula,
            "span": None
            if s is None
            else {
                "path": s.path,
                "line": s.line,
                "col": s.col,
                "end_line": s.end_line,
                "end_col": s.end_col,
            },
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Cause:
    """The first step at which the verdict became ``violated``, and the culprits.
    ``joint`` is set when no conjunct is violated on its own (they contradict together)."""

    step: int
    blames: tuple[Blame, ...]
    joint: bool = False

    @property
    def summary(self) -> str:
        b = self.blames
        if not b:
            return f"violated at step {self.step}"
        if self.joint:
            names = ", ".join(f"`{x.text}`" for x in b)
            return f"at step {self.step} {names} can no longer all be met together"
        head = b[0]
        return f"step {self.step} violates `{head.text}`: {head.reason}"

    def to_json(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "joint": self.joint,
            "summary": self.summary,
            "conjuncts": [x.to_json() for x in self.blames],
        }


@dataclass(frozen=True)
class Pending:
    """Why a trace that ends *presumably violated* is not accepted: the conjuncts whose own
    monitor is not accepting at the end (each ``Blame.reason`` names what it still owes) and
    a shortest continuation that would discharge them all (one guard per further step)."""

    step: int  # the last step of the trace (0 for an empty trace)
    owed: tuple[Blame, ...]
    discharge: tuple[str, ...] | None  # None: no continuation is accepted

    @property
    def remedy(self) -> str:
        d = self.discharge
        if d is None:
            return "no continuation discharges it"
        if not d:
            return "nothing more is needed"
        if len(d) == 1:
            return (
                "one more step (any letter) would discharge it"
                if d[0] == "true"
                else f"one more step where `{d[0]}` holds would discharge it"
            )
        steps = ", then ".join(f"`{g}`" for g in d)
        return f"{len(d)} more steps would discharge it, for example {steps}"

    @property
    def summary(self) -> str:
        names = ", ".join(f"`{b.text}`" for b in self.owed) or "the spec"
        return f"the trace ends at step {self.step} with {names} still owed; {self.remedy}"

    def to_json(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "summary": self.summary,
            "discharge": None if self.discharge is None else list(self.discharge),
            "conjuncts": [x.to_json() for x in self.owed],
        }


@dataclass
class Explanation:
    name: str | None
    formula: str
    steps: list[StepRecord]
    cause: Cause | None
    initial_verdict: str
    sources: dict[str, str] = field(default_factory=dict)
    pending: Pending | None = None  # set when the trace ends presumably violated

    @property
    def final_verdict(self) -> str:
        return self.steps[-1].verdict if self.steps else self.initial_verdict

    def to_json(self) -> dict[str, Any]:
        return {
            "spec": self.name,
            "formula": self.formula,
            "initial_verdict": self.initial_verdict,
            "final_verdict": self.final_verdict,
            "steps": [s.to_json() for s in self.steps],
            "violation": None if self.cause is None else self.cause.to_json(),
            "pending": None if self.pending is None else self.pending.to_json(),
        }


# --- inputs -------------------------------------------------------------------------------


def _split(f: Formula) -> list[Part]:
    args = f.args if f.op is Op.AND else (f,)
    return [Part(a, to_text(a, compact=True)) for a in args]


def _parts_of(source: Any) -> tuple[str | None, Formula, list[Part]]:
    """(name, formula, conjuncts) from a SpecDef, Formula or compiled Automaton."""
    if isinstance(source, Formula):
        return None, source, _split(source)
    if isinstance(source, str):
        raise TypeError(
            "speclang.compiler.explain takes a formula in core IR, not text; explain text "
            "with speclang.explain.explain_trace"
        )
    if isinstance(source, Automaton):
        f = source.formula_ir
        if f is None:
            # An automaton loaded from an artifact keeps only the formula's text.
            raise ValueError(
                "this automaton does not keep its formula's IR (loaded from an artifact?); "
                "pass the spec, or use speclang.explain.explain_trace, which parses the text"
            )
        return source.name, f, _split(f)
    conjuncts = getattr(source, "conjuncts", None)
    formula = getattr(source, "formula", None)
    if isinstance(formula, Formula) and conjuncts is not None:
        parts = [Part(c.formula, c.text, c.span) for c in conjuncts] or _split(formula)
        return getattr(source, "name", None), formula, parts
    raise TypeError(f"cannot explain a {type(source).__name__}")


@functools.lru_cache(maxsize=512)
def _compiled(f: Formula) -> Automaton:
    # Conjunct monitors are reused across episodes and across explain calls of one spec.
    from speclang.compiler import compile_formula

    return compile_formula(f)


def _letter(aut: Automaton, letter: Any) -> Letter:
    if isinstance(letter, np.ndarray):
        return frozenset(p for p, v in zip(aut.props, letter.tolist(), strict=True) if v)
    if isinstance(letter, Mapping):
        return frozenset(str(k) for k, v in letter.items() if v)
    return frozenset(letter)


@functools.lru_cache(maxsize=1 << 16)
def _step(aut: Automaton, q: int, letter: Letter) -> int:
    # Explanations replay whole episodes whose letters repeat a lot; automata hash by
    # identity, so the cache is exact.
    index = aut.prop_index
    return aut.step(q, [p for p in letter if p in index])


# --- the explanation ------------------------------------------------------------------------


def explain_trace(
    spec_or_formula: Any,
    trace: Iterable[Any],
    *,
    module: Any = None,
    spec: str | None = None,
    automaton: Automaton | None = None,
) -> Explanation:
    """Explain ``trace`` (letters: sets of true names, ``{name: bool}`` maps or bool vectors
    over the automaton's props) against a spec. ``spec_or_formula`` is a ``SpecDef``, a
    formula (IR) or an :class:`Automaton` the compiler built (it keeps ``formula_ir``); with
    ``module`` and ``spec`` given, it may be ``None`` and the spec is taken from the module.
    Pass ``automaton`` to reuse an already compiled monitor of the whole spec."""
    if spec_or_formula is None:
        if module is None or spec is None:
            raise ValueError("give a spec or formula, or module= and spec=")
        spec_or_formula = module.specs[spec]
    name, formula, parts = _parts_of(spec_or_formula)
    aut = automaton if automaton is not None else _compiled(formula)
    if isinstance(spec_or_formula, Automaton):
        aut = spec_or_formula
    letters = [_letter(aut, x) for x in trace]
    records: list[StepRecord] = []
    q = aut.initial
    cause: Cause | None = None
    for t, letter in enumerate(letters, start=1):
        q = _step(aut, q, letter)
        v = aut.verdict(q)
        residual = aut.residuals[q] if q < len(aut.residuals) else ""
        records.append(
            StepRecord(t, tuple(sorted(letter)), q, v.label, bool(aut.accepting[q]), residual)
        )
        if cause is None and v is Verdict.VIOLATED:
            cause = find_cause(parts, letters[:t])
    pending = None
    if cause is None and aut.verdict(q) is Verdict.PRESUMABLY_VIOLATED:
        pending = find_pending(parts, letters, aut, q)
    sources = dict(getattr(module, "sources", None) or {})
    return Explanation(
        name=name or (spec if spec else None),
        formula=to_text(formula, compact=True),
        steps=records,
        cause=cause,
        initial_verdict=aut.verdict(aut.initial).label,
        sources=sources,
        pending=pending,
    )


def find_pending(
    parts: Sequence[Part], trace: Sequence[Letter], aut: Automaton, q: int
) -> Pending:
    """What a trace ending in the non-accepting state ``q`` of ``aut`` still owes: the
    conjuncts whose own monitor does not accept the trace, each with its remaining
    obligation, and a shortest continuation to an accepting state of the whole spec (so it
    discharges every owed conjunct together, not each one on its own)."""
    owed = []
    for i, part in enumerate(parts):
        sub = _compiled(part.formula)
        p = sub.initial
        for letter in trace:
            p = _step(sub, p, letter)
        if sub.accepting[p]:
            continue
        residual = sub.residuals[p] if p < len(sub.residuals) else ""
        reason = f"remaining obligation `{residual or part.text}`"
        owed.append(Blame(i, part.text, to_text(part.formula), part.span, reason))
    return Pending(len(trace), tuple(owed), discharge(aut, q))


def discharge(aut: Automaton, q: int) -> tuple[str, ...] | None:
    """Guards of a shortest path from ``q`` to an accepting state (``()`` when ``q``
    accepts, ``None`` when none is reachable), by breadth-first search."""
    from speclang.compiler.graph import shortest_path
    from speclang.compiler.guards import edge_guards

    guards: dict[int, dict[int, str]] = {}

    def successors(s: int) -> list[int]:
        guards[s] = edge_guards(aut, s)
        return list(guards[s])

    path = shortest_path(successors, q, np.asarray(aut.accepting, dtype=bool))
    if path is None:
        return None
    return tuple(guards[s][t] for s, t in zip(path, path[1:], strict=False))


def find_cause(parts: Sequence[Part], prefix: Sequence[Letter]) -> Cause:
    """The culprits of a violation at the last letter of ``prefix``."""
    step = len(prefix)
    states: list[tuple[Part, Automaton, int]] = []
    for part in parts:
        aut = _compiled(part.formula)
        q = aut.initial
        for letter in prefix:
            q = _step(aut, q, letter)
        states.append((part, aut, q))
    alone = [i for i, (_, a, q) in enumerate(states) if a.verdict(q) is Verdict.VIOLATED]
    if alone:
        blames = tuple(_blame(i, parts[i], prefix) for i in alone)
        return Cause(step, blames)
    # No conjunct is hopeless on its own: only their combination is (e.g. F a & G !a).
    open_parts = [i for i, (_, a, q) in enumerate(states) if a.verdict(q) is not Verdict.SATISFIED]
    blames = tuple(
        Blame(
            i,
            parts[i].text,
            to_text(parts[i].formula),
            parts[i].span,
            f"still requires `{states[i][1].residuals[states[i][2]] or parts[i].text}`",
        )
        for i in open_parts
    )
    return Cause(step, blames, joint=True)


def _blame(index: int, part: Part, prefix: Sequence[Letter]) -> Blame:
    ev = _Eval(prefix)
    f = part.formula
    pos = len(prefix) - 1 if f.is_pure_past else 0
    if not ev.val(f, pos, True):
        reason = ev.why_false(f, pos)
    else:
        # The optimistic reading is coarser than the automaton (it treats obligations
        # independently); the violation is real but has no single definite witness.
        reason = f"after step {len(prefix)} `{part.text}` can no longer be satisfied"
    return Blame(index, part.text, to_text(f), part.span, reason)


# --- three-valued evaluation on a prefix -----------------------------------------------------


_MAX_QUOTE = 60


def _q(f: Formula) -> str:
    text = to_text(f, compact=True)
    if len(text) > _MAX_QUOTE:
        text = text[: _MAX_QUOTE - 3] + "..."
    return f"`{text}`"


_AT_STEP = re.compile(r"^(`[^`]+` (?:did not hold|held)) at step (\d+)$")


def _merge(reasons: list[str]) -> str:
    """Join reasons, folding "`p` did not hold at step 4", "... at step 5" into one phrase
    with a step range (bounded operators expand into one such reason per step)."""
    steps: dict[str, list[int]] = {}
    out: list[str] = []
    for r in _flatten(reasons):
        m = _AT_STEP.match(r)
        if m is None:
            if r not in out:
                out.append(r)
            continue
        if m.group(1) not in steps:
            steps[m.group(1)] = []
            out.append(m.group(1))
        steps[m.group(1)].append(int(m.group(2)))
    return "; ".join(f"{x} at {_steps(steps[x])}" if x in steps else x for x in out)


def _steps(ks: list[int]) -> str:
    ks = sorted(set(ks))
    runs: list[str] = []
    start = prev = ks[0]
    for k in [*ks[1:], None]:
        if k is not None and k == prev + 1:
            prev = k
            continue
        runs.append(str(start) if start == prev else f"{start} to {prev}")
        if k is not None:
            start = prev = k
    word = "step" if len(ks) == 1 else "steps"
    return f"{word} " + (runs[0] if len(runs) == 1 else ", ".join(runs[:-1]) + " and " + runs[-1])


def _flatten(reasons: list[str]) -> list[str]:
    return [part for r in reasons for part in r.split("; ")]


class _Eval:
    """Truth of subformulas on a finite prefix. ``opt=True``: could still be true in some
    continuation (obligations reaching past the end count as met); ``opt=False``: true in
    every continuation, including stopping here. Negation swaps the two readings."""

    def __init__(self, trace: Sequence[Letter]) -> None:
        self.trace = trace
        self.n = len(trace)
        self.memo: dict[tuple[int, int, bool], bool] = {}

    def val(self, f: Formula, i: int, opt: bool) -> bool:
        key = (f.uid, i, opt)
        r = self.memo.get(key)
        if r is None:
            r = self.memo[key] = self._val(f, i, opt)
        return r

    def _val(self, f: Formula, i: int, opt: bool) -> bool:
        op, n = f.op, self.n
        if op is Op.TRUE:
            return True
        if op is Op.FALSE:
            return False
        if op is Op.ATOM:
            return f.name in self.trace[i]
        if op is Op.NOT:
            return not self.val(f.args[0], i, not opt)
        if op is Op.AND:
            return all(self.val(a, i, opt) for a in f.args)
        if op is Op.OR:
            return any(self.val(a, i, opt) for a in f.args)
        if op in (Op.NEXT, Op.WNEXT):
            return self.val(f.args[0], i + 1, opt) if i + 1 < n else opt
        if op in (Op.UNTIL, Op.RELEASE):
            return self._future_sweep(f, i, opt)
        if op is Op.YESTERDAY:
            return i > 0 and self.val(f.args[0], i - 1, opt)
        if op is Op.WYESTERDAY:
            return i == 0 or self.val(f.args[0], i - 1, opt)
        if op in (Op.SINCE, Op.TRIGGER):
            return self._past_sweep(f, i, opt)
        raise AssertionError(op)

    # The binary temporal operators are filled in by one sweep over the positions (from the
    # end for U/R, from the start for S/T) using their one-step unfolding, so evaluating
    # `G (a -> O b)` at every step of a long episode is linear, not quadratic, and the
    # recursion depth stays that of the formula.

    def _future_sweep(self, f: Formula, i: int, opt: bool) -> bool:
        a, b = f.args
        until = f.op is Op.UNTIL
        j = i + 1  # nearest later position already known (or the end of the prefix)
        while j < self.n and (f.uid, j, opt) not in self.memo:
            j += 1
        later = self.memo[(f.uid, j, opt)] if j < self.n else opt
        for k in range(j - 1, i - 1, -1):
            bk, ak = self.val(b, k, opt), self.val(a, k, opt)
            later = (bk or (ak and later)) if until else (bk and (ak or later))
            self.memo[(f.uid, k, opt)] = later
        return later

    def _past_sweep(self, f: Formula, i: int, opt: bool) -> bool:
        a, b = f.args
        since = f.op is Op.SINCE
        j = i - 1  # nearest earlier position already known (or before the start)
        while j >= 0 and (f.uid, j, opt) not in self.memo:
            j -= 1
        before = self.memo[(f.uid, j, opt)] if j >= 0 else not since
        for k in range(j + 1, i + 1):
            bk, ak = self.val(b, k, opt), self.val(a, k, opt)
            before = (bk or (ak and before)) if since else (bk and (ak or before))
            self.memo[(f.uid, k, opt)] = before
        return before

    # "why" helpers: preconditions are val(f, i, True) is False (definitely false) for
    # why_false and val(f, i, False) is True (definitely true) for why_true.

    def why_false(self, f: Formula, i: int) -> str:
        op, at = f.op, f"step {i + 1}"
        if op is Op.FALSE:
            return "`false` never holds"
        if op is Op.ATOM:
            return f"{_q(f)} did not hold at {at}"
        if op is Op.NOT:
            return self.why_true(f.args[0], i)
        if op is Op.AND:
            bad = next(a for a in f.args if not self.val(a, i, True))
            return self.why_false(bad, i)
        if op is Op.OR:
            return self._why_or_false(f, i)
        if op in (Op.NEXT, Op.WNEXT):
            return self.why_false(f.args[0], i + 1)
        if op is Op.RELEASE:
            a, b = f.args
            k = next(k for k in range(i, self.n) if not self.val(b, k, True))
            reason = self.why_false(b, k)
            return reason if a is FALSE else f"{reason}, before {_q(a)} released it"
        if op is Op.UNTIL:
            a, b = f.args
            k = next(
                k for k in range(i, self.n) if not self.val(a, k, True) and not self.val(b, k, True)
            )
            return f"{self.why_false(a, k)} before {_q(b)} held"
        if op is Op.YESTERDAY:
            if i == 0:
                return f"{_q(f)} needs a step before step 1"
            return self.why_false(f.args[0], i - 1)
        if op is Op.WYESTERDAY:
            return self.why_false(f.args[0], i - 1)
        if op is Op.SINCE:
            a, b = f.args
            if a is TRUE:
                return f"{_q(b)} never held up to {at}"
            j = next(k for k in range(i, -1, -1) if not self.val(a, k, True) or k == 0)
            if not self.val(a, j, True):
                return f"{_q(b)} has not held since {_q(a)} last failed at step {j + 1}"
            return f"{_q(b)} never held up to {at}"
        if op is Op.TRIGGER:
            a, b = f.args
            k = next(k for k in range(i, -1, -1) if not self.val(b, k, True))
            reason = self.why_false(b, k)
            return reason if a is FALSE else f"{reason}, and {_q(a)} did not hold after it"
        return f"{_q(f)} was false at {at}"

    def _chain(self, f: Formula, i: int) -> list[tuple[Formula, int]]:
        """The disjuncts of ``f`` at ``i`` with nested ``X (... | ...)`` unfolded into
        disjuncts at later steps: ``F[0,2] b`` becomes ``b``@i, ``b``@i+1, ``b``@i+2."""
        out: list[tuple[Formula, int]] = []
        for a in f.args:
            if a.op in (Op.NEXT, Op.WNEXT) and i + 1 < self.n:
                g = a.args[0]
                out.extend(self._chain(g, i + 1) if g.op is Op.OR else [(g, i + 1)])
            else:
                out.append((a, i))
        return out

    def _why_or_false(self, f: Formula, i: int) -> str:
        at = f"step {i + 1}"
        chain = self._chain(f, i)
        if len({j for a, j in chain if not (j == i and a.op is Op.NOT)}) > 1:
            # A bounded eventuality: name the trigger, then what failed at each later step.
            triggers = [a.args[0] for a, j in chain if j == i and a.op is Op.NOT]
            later = [(a, j) for a, j in chain if not (j == i and a.op is Op.NOT)]
            order = {a.uid: k for k, (a, _) in enumerate(later)}
            later.sort(key=lambda aj: (order[aj[0].uid], aj[1]))
            missed = _merge([self.why_false(a, j) for a, j in later])
            if triggers:
                held = " and ".join(_q(p) for p in triggers)
                return f"at {at} {held} held but what it required never happened: {missed}"
            return missed
        premises = [a.args[0] for a in f.args if a.op is Op.NOT]
        rest = [a for a in f.args if a.op is not Op.NOT]
        if premises and rest:
            held = " and ".join(_q(p) for p in premises)
            wanted = " | ".join(to_text(r) for r in rest)
            head = f"at {at} {held} held but `{wanted}` was false"
            details = [self.why_false(r, i) for r in rest if r.op is not Op.ATOM]
            return head + (": " + _merge(details) if details else "")
        if premises:
            if len(premises) == 1:
                return self.why_true(premises[0], i)
            together = "both" if len(premises) == 2 else "all"
            return f"at {at} " + " and ".join(_q(p) for p in premises) + f" {together} held"
        if all(r.op is Op.ATOM for r in rest):
            return f"none of {', '.join(_q(r) for r in rest)} held at {at}"
        return _merge([self.why_false(r, i) for r in rest])

    def why_true(self, f: Formula, i: int) -> str:
        op, at = f.op, f"step {i + 1}"
        if op is Op.ATOM:
            return f"{_q(f)} held at {at}"
        if op is Op.NOT:
            return self.why_false(f.args[0], i)
        if op is Op.OR:
            good = next(a for a in f.args if self.val(a, i, False))
            return self.why_true(good, i)
        if op is Op.AND:
            if all(a.op is Op.ATOM for a in f.args):
                return " and ".join(_q(a) for a in f.args) + f" held at {at}"
            return " and ".join(self.why_true(a, i) for a in f.args)
        if op in (Op.NEXT, Op.WNEXT) and i + 1 < self.n:
            return self.why_true(f.args[0], i + 1)
        if op in (Op.YESTERDAY, Op.WYESTERDAY) and i > 0:
            return self.why_true(f.args[0], i - 1)
        if op is Op.UNTIL:
            b = f.args[1]
            k = next((k for k in range(i, self.n) if self.val(b, k, False)), None)
            if k is not None:
                return self.why_true(b, k)
        if op is Op.SINCE:
            b = f.args[1]
            k = next((k for k in range(i, -1, -1) if self.val(b, k, False)), None)
            if k is not None:
                return self.why_true(b, k)
        if op is Op.TRIGGER and f.args[0] is FALSE:
            return f"{_q(f.args[1])} held at every step up to {at}"
        return f"{_q(f)} held at {at}"


# --- runtime-facing ---------------------------------------------------------------------------


class Explainer:
    """Follows one episode step by step and, after a violation, says why in one line.

    ``step`` costs one automaton step and remembers the letter; the explanation work
    (per-conjunct monitors, drill-down) happens only in :meth:`explain_last_violation`,
    so it is cheap enough to run inside a training loop."""

    def __init__(
        self,
        source: Automaton | Any,
        *,
        automaton: Automaton | None = None,
        module: Any = None,
    ) -> None:
        self.name, self.formula, self.parts = _parts_of(source)
        if isinstance(source, Automaton):
            automaton = source
        self.automaton = automaton if automaton is not None else _compiled(self.formula)
        self.sources = dict(getattr(module, "sources", None) or {})
        self.reset()

    def reset(self) -> None:
        self.state = self.automaton.initial
        self.letters: list[Any] = []
        self.violation_step: int | None = None
        self._cause: Cause | None = None

    @property
    def verdict(self) -> Verdict:
        return self.automaton.verdict(self.state)

    def step(self, letter: Any) -> Verdict:
        """Advance on one letter (set of true names, ``{name: bool}``, or a bool vector over
        ``automaton.props``) and return the new verdict."""
        aut = self.automaton
        vec = letter if isinstance(letter, np.ndarray) else None
        self.letters.append(letter)
        if vec is not None:
            self.state = aut.step(self.state, vec)
        else:
            self.state = _step(aut, self.state, _letter(aut, letter))
        if self.violation_step is None and aut.verdict(self.state) is Verdict.VIOLATED:
            self.violation_step = len(self.letters)
        return aut.verdict(self.state)

    def cause(self) -> Cause | None:
        """The structured cause of this episode's violation (``None`` if none so far)."""
        if self.violation_step is None:
            return None
        if self._cause is None:
            prefix = [_letter(self.automaton, x) for x in self.letters[: self.violation_step]]
            self._cause = find_cause(self.parts, prefix)
        return self._cause

    def explain_violating_prefix(self, letters: Sequence[Any]) -> str:
        """One line for an episode whose *last* letter entered the violation sink, without
        replaying it through :meth:`step` first (a wrapper that monitors the episode itself
        already knows where the violation happened)."""
        prefix = [_letter(self.automaton, x) for x in letters]
        cause = find_cause(self.parts, prefix)
        return (f"{self.name}: " if self.name else "") + cause.summary

    def explain_last_violation(self) -> str | None:
        """One line naming the violated conjunct and the reason, or ``None`` when the
        episode has not violated the spec."""
        cause = self.cause()
        if cause is None:
            return None
        prefix = f"{self.name}: " if self.name else ""
        return prefix + cause.summary
