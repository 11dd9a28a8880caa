"""A tiny parser for the LTLf2DFA formula syntax of the external corpus (test helper only).

It exists so the compiler tests can read ``../shared/corpus`` independently of the
speclang front end; the grammar is LTLf2DFA's: ``! & | -> <->``, ``X WX F G U R``,
``true false last``, lowercase propositions, parentheses.
"""

from __future__ import annotations

import re

from compiler import ir
from compiler.ir import Formula

_TOKEN = re.compile(r"\s*(<->|->|WX|[()!&|UR]|[XFG](?![a-z0-9_])|[a-z_][a-z0-9_]*)")


def parse_ltlf(text: str) -> Formula:
    tokens = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise ValueError(f"cannot tokenise {text[pos:]!r}")
        tokens.append(m.group(1))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    i = 0

    def peek() -> str | None:
        return tokens[i] if i < len(tokens) else None

    def take(expected: str | None = None) -> str:
        nonlocal i
        t = tokens[i]
        if expected is not None and t != expected:
            raise ValueError(f"expected {expected}, got {t}")
        i += 1
        return t

    def iff() -> Formula:
        left = implies()
        while peek() == "<->":
            take()
            left = ir.Iff(left, implies())
        return left

    def implies() -> Formula:
        left = disj()
        if peek() == "->":
            take()
            return ir.Implies(left, implies())
        return left

    def disj() -> Formula:
        left = conj()
        while peek() == "|":
            take()
            left = ir.Or(left, conj())
        return left

    def conj() -> Formula:
        left = binary()
        while peek() == "&":
            take()
            left = ir.And(left, binary())
        return left

    def binary() -> Formula:
        left = unary()
        while peek() in ("U", "R"):
            op = take()
            right = unary()
            left = ir.Until(left, right) if op == "U" else ir.Release(left, right)
        return left

    def unary() -> Formula:
        t = peek()
        if t == "!":
            take()
            return ir.Not(unary())
        if t == "X":
            take()
            return ir.Next(unary())
        if t == "WX":
            take()
            return ir.WeakNext(unary())
        if t == "F":
            take()
            return ir.Eventually(unary())
        if t == "G":
            take()
            return ir.Always(unary())
        if t == "(":
            take()
            f = iff()
            take(")")
            return f
        take()
        assert t is not None
        if t == "true":
            return ir.TRUE
        if t == "false":
            return ir.FALSE
        if t == "last":
            return ir.LAST
        return ir.Atom(t)

    f = iff()
    if i != len(tokens):
        raise ValueError(f"trailing input in {text!r}")
    return f
