"""Remaining-obligation text for states of formulas with past operators.

A state of such a formula is a future residual plus the previous-step values ("past bits")
of the temporal past subformulas it still reads (see :mod:`compiler.translate`). The
residual alone repeats the whole formula in every state (``G(lava -> O(bench & O wood))``
is its own residual whatever was seen), so the text shown for a state folds the bits in:

* every past subformula is rewritten to what it means *from the current step on*, its past
  operators looking back no further than the current step, given the bits:

  ====================  ======================  ========================
  subformula            bit false               bit true
  ====================  ======================  ========================
  ``Y a``, ``Z a``      ``Y a'``                ``Z a'``
  ``a S b``             ``a' S b'``             ``a' S b' | H a'``
  ``a T b``             ``(a' T b') & O a'``    ``a' T b'``
  ====================  ======================  ========================

  (``a'``, ``b'``: the arguments rewritten the same way). So ``O x`` seen becomes ``true``
  and ``H x`` broken becomes ``false``, and Boolean simplification removes what no longer
  matters: t4 with both crafting routes done reads ``true``.
* the bits that are set are listed after the obligation as what the state remembers, in the
  formula's own terms (``O wood``; nested facts implied by a listed one are left out).

A pure-past spec is compiled as "P holds at the last step" (``F(last & P)``, with a top
``H``/``O`` read as ``G``/``F``); its obligation is shown back in that reading, as a
pure-past formula the rest of the trace must satisfy at its end.
"""

from __future__ import annotations

from collections.abc import Sequence

from speclang.compiler import ir
from speclang.compiler.ir import Formula, Op

# Separates the obligation (speclang syntax) from the remembered facts in a state's text;
# readers that parse the obligation split here (``compiler.explain.split_memory``).
REMEMBERS = "   [remembers: "


def rewrite(f: Formula, bits: tuple[bool, ...], tindex: dict[int, int]) -> Formula:
    """``f`` with each temporal past subformula rewritten from its bit (module docstring)."""
    memo: dict[int, Formula] = {}

    def go(g: Formula) -> Formula:
        r = memo.get(g.uid)
        if r is not None:
            return r
        if not g.has_past:
            r = g
        else:
            args = tuple(go(a) for a in g.args)
            op = g.op
            if op in ir.PAST_OPS:
                b = bits[tindex[g.uid]]
                if op is Op.YESTERDAY or op is Op.WYESTERDAY:
                    r = ir.WeakYesterday(args[0]) if b else ir.Yesterday(args[0])
                elif op is Op.SINCE:
                    r = ir.Since(*args)
                    if b:
                        r = ir.Or(r, ir.Historically(args[0]))
                else:
                    r = ir.Trigger(*args)
                    if not b:
                        r = ir.And(r, ir.Once(args[0]))
            elif op is Op.NOT:
                r = ir.Not(args[0])
            elif op is Op.AND:
                r = ir.And(*args)
            elif op is Op.OR:
                r = ir.Or(*args)
            elif op is Op.NEXT:
                r = ir.Next(args[0])
            elif op is Op.WNEXT:
                r = ir.WeakNext(args[0])
            elif op is Op.UNTIL:
                r = ir.Until(*args)
            else:
                r = ir.Release(*args)
        memo[g.uid] = r
        return r

    return go(f)


def _has_last(g: Formula) -> bool:
    return g is ir.LAST or (g.op is Op.AND and any(a is ir.LAST for a in g.args))


def past_reading(f: Formula) -> Formula | None:
    """A pure-past spec's residual (built from ``F(last & P)``, ``G P``, ``F P``) read back
    as the pure-past formula the rest of the trace must satisfy at its last step; None for a
    shape the construction does not produce."""
    op = f.op
    if not f.has_future:
        return f
    if op is Op.AND or op is Op.OR:
        parts = []
        for a in f.args:
            if a is ir.END:
                # "the trace may end here": acceptance, shown by the state's verdict
                continue
            p = past_reading(a)
            if p is None:
                return None
            parts.append(p)
        if not parts:
            return None
        return ir.And(*parts) if op is Op.AND else ir.Or(*parts)
    if op is Op.UNTIL and f.args[0] is ir.TRUE:
        g = f.args[1]
        if _has_last(g):
            rest = ir.And(*(a for a in (g.args if g.op is Op.AND else (g,)) if a is not ir.LAST))
            return None if rest.has_future else rest
        return None if g.has_future else ir.Once(g)
    if op is Op.RELEASE and f.args[0] is ir.FALSE and not f.args[1].has_future \
            and f.args[1] is not ir.FALSE:
        return ir.Historically(f.args[1])
    return None


def remembered(residual: Formula, bits: tuple[bool, ...],
               temporal: Sequence[Formula]) -> list[Formula]:
    """The facts the bits record, in the formula's terms; facts about a subformula of
    another listed fact are left out (``O wood`` inside ``O(work_bench & O wood)``)."""
    # Bits of subformulas the residual no longer reads are cleared, not recorded: they say
    # nothing (a cleared `H x` bit is not a broken `H x`).
    read = {g.uid for g in residual.subformulas()}
    facts: list[tuple[Formula, Formula]] = []  # (temporal subformula, fact)
    for g, b in zip(temporal, bits, strict=True):
        if g.uid not in read:
            continue
        op = g.op
        if op is Op.YESTERDAY or op is Op.WYESTERDAY:
            fact = ir.Yesterday(g.args[0]) if b else None
        elif op is Op.SINCE:
            fact = (g if g.args[0] is ir.TRUE else ir.Yesterday(g)) if b else None
        else:  # T: a broken `H x` is remembered as "once not x"
            if g.args[0] is ir.FALSE:
                fact = None if b else ir.Once(ir.Not(g.args[1]))
            else:
                fact = ir.Yesterday(g) if b else None
        if fact is not None:
            facts.append((g, fact))
    inner: set[int] = set()
    for g, _ in facts:
        inner.update(s.uid for s in g.subformulas() if s is not g)
    return [fact for g, fact in facts if g.uid not in inner]


def at_first_step(f: Formula) -> Formula:
    """A formula without past operators that holds at the first step of a trace exactly
    when the pure-past ``f`` does there (no step before: ``Y`` is false, ``WY`` true, and
    ``a S b``, ``a T b`` are ``b``)."""
    op = f.op
    if op is Op.YESTERDAY:
        return ir.FALSE
    if op is Op.WYESTERDAY:
        return ir.TRUE
    if op is Op.SINCE or op is Op.TRIGGER:
        return at_first_step(f.args[1])
    if op is Op.NOT:
        return ir.Not(at_first_step(f.args[0]))
    if op is Op.AND:
        return ir.And(*(at_first_step(a) for a in f.args))
    if op is Op.OR:
        return ir.Or(*(at_first_step(a) for a in f.args))
    return f


def state_text(residual: Formula, bits: tuple[bool, ...], temporal: Sequence[Formula],
               pure_past: bool) -> str:
    """A state's remaining obligation with what it remembers (module docstring)."""
    owed, facts = state_obligation(residual, bits, temporal, pure_past)
    return with_facts(ir.to_text(owed, compact=True), owed, facts)


def with_facts(text: str, owed: Formula, facts: Sequence[Formula]) -> str:
    """``text`` (of the obligation ``owed``) followed by the remembered ``facts``."""
    if owed is ir.TRUE or owed is ir.FALSE or not facts:
        return text
    return f"{text}{REMEMBERS}{', '.join(ir.to_text(x, compact=True) for x in facts)}]"


def state_obligation(residual: Formula, bits: tuple[bool, ...], temporal: Sequence[Formula],
                     pure_past: bool, read_back: bool = True) -> tuple[Formula, list[Formula]]:
    """A state's remaining obligation and the facts it remembers (module docstring);
    ``read_back=False`` keeps a pure-past spec's obligation in the construction's future
    form (read at the first step)."""
    tindex = {g.uid: i for i, g in enumerate(temporal)}
    owed = rewrite(residual, bits, tindex)
    if pure_past and read_back:
        reading = past_reading(owed)
        # A reading without past operators (`b`) would be read at the first step, not the
        # last: such states keep the future form (`F (b & WX false)`).
        if reading is not None and (reading.has_past or reading is ir.TRUE
                                      or reading is ir.FALSE):
            owed = reading
    elif not pure_past and owed.has_past and not owed.has_future:
        # A mixed spec is read from the current step on, but this text alone would be pure
        # past and read at the *last* step (`X !O O a` owes `!a` after one step, not
        # "never a"): write what it means at the current step.
        owed = at_first_step(owed)
    if owed is ir.TRUE or owed is ir.FALSE:
        return owed, []
    return owed, remembered(residual, bits, temporal)
