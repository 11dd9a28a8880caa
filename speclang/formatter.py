"""The canonical pretty-printer behind ``speclang fmt``.

Canonical spellings (``!``, ``&``, ``|``, ``->``, ``<->``, ``^``, ``X``, ``WX``, ``F``, ``G``,
``U``, ... ``Z``), the fewest parentheses that preserve the tree (so ``parse(fmt(x)) == x``),
one declaration per line (a long spec body is split at its top-level ``&``), comments kept:
a comment on a declaration's last line stays there, other comments go on their own lines
before the next declaration. Single blank lines between declarations are kept.
"""

from __future__ import annotations

import re

from speclang import syntax as S
from speclang.parser import looks_like_pragma

_UNARY = {
    "NOT": "!", "NEXT": "X", "WNEXT": "WX", "EVENTUALLY": "F", "ALWAYS": "G",
    "YESTERDAY": "Y", "WYESTERDAY": "Z", "ONCE": "O", "HISTORICALLY": "H",
}
_BINARY = {
    "IFF": "<->", "IMPLIES": "->", "XOR": "^", "UNTIL": "U", "RELEASE": "R", "WUNTIL": "W",
    "SRELEASE": "M", "SINCE": "S", "TRIGGER": "T",
}
# Precedence, loosest first; binary temporal operators share one level.
_PREC = {"IFF": 1, "IMPLIES": 2, "OR": 3, "XOR": 4, "AND": 5}
_TEMPORAL_PREC = 6
_UNARY_PREC = 7
_ATOM_PREC = 8
_RIGHT_ASSOC = {"IMPLIES", "UNTIL", "RELEASE", "WUNTIL", "SRELEASE", "SINCE", "TRIGGER"}

_IDENT = re.compile(r"[a-z_][a-z0-9_]*")
WRAP_AT = 100


def name_text(name: str) -> str:
    if _IDENT.fullmatch(name) and name not in S.KEYWORDS:
        return name
    return quote(name)


def quote(text: str) -> str:
    body = (text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
            .replace("\t", "\\t"))
    return f'"{body}"'


def _prec(f: S.Formula) -> int:
    if isinstance(f, S.Binary):
        return _PREC.get(f.op, _TEMPORAL_PREC)
    if isinstance(f, S.NAry):
        return _PREC[f.op]
    if isinstance(f, S.Unary | S.Bounded):
        return _UNARY_PREC
    return _ATOM_PREC


def format_formula(f: S.Formula, *, weak_next: bool = False) -> str:
    """``weak_next``: the file reads a bare ``X`` as weak next, so strong next prints as
    ``X[!]``."""
    return _Printer(weak_next).formula(f)


class _Printer:
    def __init__(self, weak_next: bool):
        self.weak_next = weak_next

    def wrap(self, f: S.Formula, min_prec: int) -> str:
        text = self.formula(f)
        return f"({text})" if _prec(f) < min_prec else text

    def formula(self, f: S.Formula) -> str:
        if isinstance(f, S.Const):
            return f.value
        if isinstance(f, S.Name):
            return name_text(f.name)
        if isinstance(f, S.Call):
            return f"{f.name}({', '.join(self.formula(a) for a in f.args)})"
        if isinstance(f, S.Unary | S.Bounded):
            if isinstance(f, S.Unary):
                op = _UNARY[f.op]
                if f.op == "NEXT" and self.weak_next:
                    op = "X[!]"
            elif f.op in ("NEXT", "WNEXT"):
                op = f"{_UNARY[f.op]}[{f.lo}]"
            else:
                op = f"{_UNARY[f.op]}[{f.lo},{'' if f.hi is None else f.hi}]"
            inner = self.wrap(f.operand, _UNARY_PREC)
            # `!a`, `G a`, `G(a | b)`, `G !a`: a letter operator needs a space before a name.
            sep = "" if op == "!" or inner.startswith("(") else " "
            return f"{op}{sep}{inner}"
        if isinstance(f, S.Binary):
            p = _prec(f)
            if f.op in _RIGHT_ASSOC:
                lp, rp = (p + 1, p) if f.op == "IMPLIES" else (_UNARY_PREC, p)
            else:
                lp, rp = p, p + 1
            return f"{self.wrap(f.left, lp)} {_BINARY[f.op]} {self.wrap(f.right, rp)}"
        assert isinstance(f, S.NAry)
        p = _prec(f)
        # The first item may be the same (left-assoc) level only if it was not grouped;
        # flattening already absorbed ungrouped chains, so any nested And is grouped.
        sep = " & " if f.op == "AND" else " | "
        return sep.join(self.wrap(x, p + 1) for x in f.items)


def format_decl(d: S.Decl, *, weak_next: bool = False) -> str:
    pr = _Printer(weak_next)
    if isinstance(d, S.Import):
        return f"import {quote(d.path)}"
    if isinstance(d, S.PropsDecl):
        return "props " + ", ".join(name_text(i.name) for i in d.names)
    if isinstance(d, S.ObserveDecl):
        return "observe " + ", ".join(f"{o.name.name}: {_type(o.type)}" for o in d.items)
    if isinstance(d, S.DerivedDecl):
        gran = (f" @{d.granularity.name}"
                if isinstance(d, S.TextDecl) and d.granularity is not None else "")
        return (f"prop {name_text(d.name.name)} = {d.observable.name} {d.op} {d.value.text}"
                + gran)
    if isinstance(d, S.DefDecl):
        params = "" if d.params is None else "(" + ", ".join(p.name for p in d.params) + ")"
        return f"def {d.name.name}{params} = {pr.formula(d.body)}"
    if isinstance(d, S.SpecDecl):
        head = f"spec {d.name.name}" + ("" if d.description is None else
                                         f" {quote(d.description)}")
        text = pr.formula(d.body)
        one = f"{head} {{ {text} }}"
        if len(one) <= WRAP_AT:
            return one
        body = d.body
        if len(text) + 4 <= WRAP_AT or not (isinstance(body, S.NAry) and body.op == "AND"):
            return f"{head} {{\n    {text}\n}}"
        parts = [pr.wrap(x, _PREC["AND"] + 1) for x in body.items]
        lines = [f"{head} {{", f"    {parts[0]}"] + [f"  & {p}" for p in parts[1:]] + ["}"]
        return "\n".join(lines)
    assert isinstance(d, S.ProgressionDecl)
    return f"progression {d.name.name} = [{', '.join(i.name for i in d.specs)}]"


def _type(t: S.ObsType) -> str:
    if t.kind == "enum":
        return "{" + ", ".join(v.name for v in t.values) + "}"
    return t.kind


def format_file(file: S.SourceFile, source: str) -> str:
    src_lines = source.split("\n")

    def blank_between(a: int, b: int) -> bool:
        # Lines strictly between source lines a and b (1-based).
        return any(not src_lines[i - 1].strip() for i in range(a + 1, b) if i <= len(src_lines))

    comments = sorted(file.comments, key=lambda c: (c.line, c.col))
    out: list[str] = []
    last_line = 0  # last source line already emitted
    ci = 0

    def emit(text: str, first_line: int, end_line: int) -> None:
        nonlocal last_line
        if out and blank_between(last_line, first_line):
            out.append("")
        out.append(text)
        last_line = max(last_line, end_line)

    for decl in file.decls:
        span = decl.span
        trailing: list[str] = []
        while ci < len(comments) and comments[ci].line <= span.end_line:
            c = comments[ci]
            ci += 1
            if c.line == span.end_line and (c.line > span.line or c.col > span.col):
                trailing.append(c.text.rstrip())
            elif span.line <= c.line and looks_like_pragma(c.text):
                # A comment inside a declaration was not a pragma; on a line of its own it
                # would become one (or an unknown-pragma error), so it stays behind code.
                trailing.append(c.text.rstrip())
            else:
                emit(c.text.rstrip(), c.line, c.line)
        text = format_decl(decl, weak_next=file.weak_next)
        if trailing:
            text += "  " + "  ".join(trailing)
        emit(text, span.line, span.end_line)
    for c in comments[ci:]:
        emit(c.text.rstrip(), c.line, c.line)
    return "\n".join(out) + "\n" if out else ""
