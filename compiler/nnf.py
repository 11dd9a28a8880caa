"""Negation normal form and the two "the trace has ended" valuations of formulas.

NNF pushes negation down to atoms using the LTLf dualities (X/WX, U/R, and De Morgan).
Maximal pure-past subformulas are *not* entered: the DFA construction evaluates each of them
as a whole at the current step (see ``compiler.past``), so ``!P`` stays a literal.

Two valuations of "no step is left" exist and must not be confused:

* :func:`empty_value` is the LTLf2DFA/MONA convention for a whole trace that is empty, on
  the original formula: atoms false, negation classical, X/U false, WX/R true. It gives the
  initial state's acceptance only.
* :func:`ended_value` is the value of a *residual* NNF formula when the trace has ended, as
  in the standard finite-trace semantics where obligations on a non-existent step are lost:
  literals (positive or negative) false, X and U false, WX and R true.
"""

from __future__ import annotations

from speclang.compiler import ir
from speclang.compiler.budget import UnsupportedFormula
from speclang.compiler.ir import Formula, Op

# "A step exists" and "no step exists": residuals of X/WX use them to keep the ended value
# exact when an obligation moves to the next step.
NONEMPTY = ir.Eventually(ir.TRUE)
END = ir.END

_nnf_memo: dict[tuple[int, bool], Formula] = ir.memo()
_ended_memo: dict[int, bool] = ir.memo()
_empty_memo: dict[int, bool] = ir.memo()


def is_past_literal(f: Formula) -> bool:
    """A maximal pure-past subformula kept whole by NNF (possibly negated)."""
    g = f.args[0] if f.op is Op.NOT else f
    return g.has_past and not g.has_future


def check_supported(f: Formula) -> None:
    """Reject future operators nested inside past operators (not supported: a past
    operator's argument must be evaluable from the prefix alone)."""
    for g in f.subformulas():
        if g.op in ir.PAST_OPS and g.has_future:
            raise UnsupportedFormula(
                ir.to_text(g), "future operators inside past operators are not supported"
            )


def nnf(f: Formula, negate: bool = False) -> Formula:
    k = (f.uid, negate)
    r = _nnf_memo.get(k)
    if r is not None:
        return r
    op = f.op
    if op is Op.TRUE or op is Op.FALSE or op is Op.ATOM or (f.has_past and not f.has_future):
        r = ir.Not(f) if negate else f
    elif op is Op.NOT:
        r = nnf(f.args[0], not negate)
    elif op is Op.AND or op is Op.OR:
        parts = [nnf(a, negate) for a in f.args]
        r = ir.Or(*parts) if (op is Op.AND) == negate else ir.And(*parts)
    elif op is Op.NEXT or op is Op.WNEXT:
        a = nnf(f.args[0], negate)
        r = ir.WeakNext(a) if (op is Op.NEXT) == negate else ir.Next(a)
    elif op is Op.UNTIL or op is Op.RELEASE:
        a, b = nnf(f.args[0], negate), nnf(f.args[1], negate)
        r = ir.Release(a, b) if (op is Op.UNTIL) == negate else ir.Until(a, b)
    else:
        raise UnsupportedFormula(
            ir.to_text(f), "future operators inside past operators are not supported"
        )
    _nnf_memo[k] = r
    return r


def ended_value(f: Formula) -> bool:
    """Value of a residual NNF formula on the empty suffix (see module docstring)."""
    r = _ended_memo.get(f.uid)
    if r is None:
        op = f.op
        if op is Op.TRUE:
            r = True
        elif op is Op.AND:
            r = all(ended_value(a) for a in f.args)
        elif op is Op.OR:
            r = any(ended_value(a) for a in f.args)
        else:
            r = op is Op.WNEXT or op is Op.RELEASE
        _ended_memo[f.uid] = r
    return r


def empty_value(f: Formula) -> bool:
    """LTLf2DFA's value of ``f`` on the empty trace (MONA's, for past operators too):
    the strong operators X, U, Y, S are false, the weak ones WX, R, Z, T true."""
    r = _empty_memo.get(f.uid)
    if r is None:
        op = f.op
        if op is Op.TRUE:
            r = True
        elif op is Op.NOT:
            r = not empty_value(f.args[0])
        elif op is Op.AND:
            r = all(empty_value(a) for a in f.args)
        elif op is Op.OR:
            r = any(empty_value(a) for a in f.args)
        else:
            r = op in (Op.WNEXT, Op.RELEASE, Op.WYESTERDAY, Op.TRIGGER)
        _empty_memo[f.uid] = r
    return r
