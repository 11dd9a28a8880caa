"""Explanations of traces against specs, as the user sees them: formula text accepted, and the
cause rendered against the spec's source like a ``speclang check`` diagnostic.

The analysis itself (per-conjunct monitors, the drill-down to a definite reason) is the
compiler's, :mod:`speclang.compiler.explain`, which works on IR only; this module parses
text and renders located diagnostics, the two things that need the front end.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from types import SimpleNamespace
from typing import Any

from speclang.compiler import explain as analysis
from speclang.compiler.automaton import Automaton
from speclang.diagnostics import Diagnostic, render
from speclang.loader import parse_formula

__all__ = ["Explanation", "explain_trace", "render_explanation"]


class Explanation(analysis.Explanation):
    """:class:`speclang.compiler.explain.Explanation` with :meth:`render`."""

    def render(self) -> str:
        """A step table, then (on violation) the cause in the diagnostics style of
        ``speclang check``: the conjunct's source line with carets under it."""
        return render_explanation(self)


def explain_trace(
    spec_or_formula: Any,
    trace: Iterable[Any],
    *,
    module: Any = None,
    spec: str | None = None,
    automaton: Automaton | None = None,
) -> Explanation:
    """Explain ``trace`` against a spec: like :func:`speclang.compiler.explain.explain_trace`,
    and ``spec_or_formula`` may also be formula text or an :class:`Automaton` loaded from an
    artifact (its recorded formula text is parsed)."""
    source = spec_or_formula
    if isinstance(source, str):
        source = parse_formula(source)
    elif isinstance(source, Automaton) and source.formula_ir is None:
        if source.formula is None:
            raise ValueError("this automaton does not record its formula; pass the spec")
        automaton = source
        source = SimpleNamespace(name=source.name, formula=parse_formula(source.formula),
                                 conjuncts=())
    e = analysis.explain_trace(source, trace, module=module, spec=spec, automaton=automaton)
    return Explanation(**{f.name: getattr(e, f.name) for f in dataclasses.fields(e)})


def render_explanation(e: analysis.Explanation) -> str:
    """``e`` as ``speclang explain`` prints it."""
    rows = [("step", "letter", "state", "verdict", "remaining obligation")]
    for s in e.steps:
        letter = "{" + ", ".join(s.letter) + "}"
        rows.append((str(s.step), letter, str(s.state), s.verdict, s.residual))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(r[i].ljust(widths[i]) for i in range(4)) + "  " + r[4] for r in rows]
    out = [ln.rstrip() for ln in lines]
    title = f"spec {e.name}" if e.name else f"formula {e.formula}"
    if e.cause is None:
        after = f"after {len(e.steps)} {'step' if len(e.steps) == 1 else 'steps'}"
        if e.pending is None:
            out.append(f"{title}: no violation ({e.final_verdict} {after})")
        else:
            # Nothing has failed for good, but the trace as it stands is rejected: say
            # what it still owes rather than only "no violation".
            out.append(
                f"{title}: no definite violation, but {e.final_verdict} {after}: "
                "an obligation is still open at the end of the trace"
            )
            out.append("")
            out.append(_render_pending(e.pending, title, e.sources))
        return "\n".join(out)
    out.append("")
    out.append(_render_cause(e.cause, title, e.sources))
    return "\n".join(out)


def _located(d: Diagnostic, sources: Mapping[str, str]) -> str:
    return render(d, sources.get(d.span.path) if d.span else None)


def _render_cause(cause: analysis.Cause, title: str, sources: Mapping[str, str]) -> str:
    if not cause.blames:
        return f"error[violation]: {title} is violated at step {cause.step}"
    if cause.joint:
        names = " and ".join(f"`{b.text}`" for b in cause.blames)
        head = (
            f"error[violation]: at step {cause.step} the conjuncts {names} of {title} can no "
            "longer all be met together (none is violated on its own)"
        )
        parts = [head]
        for b in cause.blames:
            parts.append(_located(Diagnostic("note", "conjunct", f"`{b.text}` {b.reason}",
                                             b.span), sources))
        return "\n".join(parts)
    out = []
    for b in cause.blames:
        msg = f"step {cause.step} violates `{b.text}` of {title}"
        text = _located(Diagnostic("error", "violation", msg, b.span), sources)
        out.append(text + f"\n  = cause: {b.reason}")
    return "\n\n".join(out)


def _render_pending(pending: analysis.Pending, title: str, sources: Mapping[str, str]) -> str:
    if not pending.owed:
        return f"note[pending]: {title} is still owed at the end of the trace; {pending.remedy}"
    out = []
    for b in pending.owed:
        msg = f"`{b.text}` of {title} is still owed at the end of the trace (step {pending.step})"
        text = _located(Diagnostic("note", "pending", msg, b.span), sources)
        out.append(text + f"\n  = owed: {b.reason}")
    out.append(f"  = to discharge: {pending.remedy}")
    return "\n\n".join(out[:-1]) + "\n" + out[-1]
