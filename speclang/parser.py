"""Text -> surface AST, with syntax errors turned into diagnostics.

The AST is built by lark callbacks *during* the LALR parse (bottom-up, no recursion), and
every node records its nesting depth, so a file with 10,000 nested parentheses stops with
E003 instead of a ``RecursionError`` in some later pass.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any, cast

# isort: off
from speclang.grammar import build_parser  # first: it loads lark without `regex` (see there)
from lark import Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken
from lark.visitors import merge_transformers
# isort: on

from speclang import syntax as S
from speclang.compiler.keywords import DECLARATION_KEYWORDS
from speclang.diagnostics import Diagnostic, Span, error

MAX_DEPTH = 256
# lark's pure-Python parser would take seconds beyond this size; no real spec is this big.
MAX_FILE_BYTES = 256 * 1024
MAX_BOUND = 1000
HUGE_BOUND = 10**30  # stands for any bound written with more than 30 digits


@dataclass
class ParseResult:
    source: str  # decoded text (with replacement characters when it was not UTF-8)
    file: S.SourceFile | None
    diagnostics: list[Diagnostic]


class _TooDeep(Exception):
    def __init__(self, span: Span):
        self.span = span


def _unescape(tok: str) -> str:
    body = tok[1:-1]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body)


def _start(span: Span) -> Span:
    return Span(span.path, span.line, span.col, span.line, span.col + 1)


class _Reading:
    """What the callbacks of the parse in progress need to know besides the tokens: the file
    name for spans and whether a bare ``X`` is weak. One per :class:`_Parser`."""

    def __init__(self) -> None:
        self.path = "<string>"
        self.weak_next = False


class _Builder(Transformer):
    """Span and depth bookkeeping shared by the two builders. They run as lark's callbacks
    during the LALR parse (a tree-less parse: no tree is built, and nothing recurses), with
    ``keep_all_tokens`` so that keyword and bracket tokens give every node an exact span."""

    def __init__(self, reading: _Reading) -> None:
        super().__init__()
        self._reading = reading

    def _tok_span(self, t: Token) -> Span:
        return Span(self._reading.path, t.line or 1, t.column or 1, t.end_line or 1,
                    t.end_column or 1)

    def _span(self, first: Any, last: Any) -> Span:
        a = first.span if isinstance(first, S.Node) else self._tok_span(first)
        b = last.span if isinstance(last, S.Node) else self._tok_span(last)
        return a.join(b)

    def _node(self, cls: type, first: Any, last: Any, *args: Any, sub: tuple = ()) -> Any:
        depth = 1 + max((c.depth for c in sub), default=0)
        span = self._span(first, last)
        if depth > MAX_DEPTH:
            raise _TooDeep(_start(span))
        return cls(*args, span=span, depth=depth)

    def _ident(self, t: Token) -> S.Ident:
        return S.Ident(str(t), span=self._tok_span(t))


def _int(t: Token) -> int:
    # Past 30 digits every bound is far over MAX_BOUND: clamp, so that int() never meets
    # Python's 4,300-digit conversion limit.
    return int(t) if len(t) <= 30 else HUGE_BOUND


@v_args(inline=True)
class _FormulaBuilder(_Builder):
    """The rules of ``formula.lark`` (merged into the declarations' builder under the
    ``formula__`` prefix lark gives imported rules)."""

    def paren(self, lpar: Token, inner: S.Formula, rpar: Token) -> S.Formula:
        span = self._span(lpar, rpar)
        if inner.depth + 1 > MAX_DEPTH:
            raise _TooDeep(_start(span))
        return replace(inner, span=span, depth=inner.depth + 1, grouped=True)

    def true(self, word: Token) -> S.Formula:
        return self._node(S.Const, word, word, "true")

    def false(self, word: Token) -> S.Formula:
        return self._node(S.Const, word, word, "false")

    def last(self, word: Token) -> S.Formula:
        return self._node(S.Const, word, word, "last")

    def end(self, word: Token) -> S.Formula:
        return self._node(S.Const, word, word, "end")

    def first(self, word: Token) -> S.Formula:
        return self._node(S.Const, word, word, "first")

    def name(self, ident: Token) -> S.Formula:
        return self._node(S.Name, ident, ident, str(ident))

    def quoted(self, string: Token) -> S.Formula:
        return self._node(S.Name, string, string, _unescape(str(string)), True)

    def call(self, name: Token, _lpar: Token, *args_and_commas: Any) -> S.Formula:
        args = tuple(x for x in args_and_commas if isinstance(x, S.Node))
        node = self._node(S.Call, name, args_and_commas[-1], str(name), args, sub=args)
        return replace(node, name_span=self._tok_span(name))

    def _unary(self, op: str, first: Token, operand: S.Formula) -> S.Formula:
        return self._node(S.Unary, first, operand, op, operand, sub=(operand,))

    def not_(self, op: Token, operand: S.Formula) -> S.Formula:
        return self._unary("NOT", op, operand)

    def next(self, op: Token, operand: S.Formula) -> S.Formula:
        return self._unary("WNEXT" if self._reading.weak_next else "NEXT", op, operand)

    def strong_next(self, x: Token, _lsqb: Token, _bang: Token, _rsqb: Token,
                    operand: S.Formula) -> S.Formula:
        return self._unary("NEXT", x, operand)

    def weak_next(self, op: Token, operand: S.Formula) -> S.Formula:
        return self._unary("WNEXT", op, operand)

    def eventually(self, op: Token, operand: S.Formula) -> S.Formula:
        return self._unary("EVENTUALLY", op, operand)

    def always(self, op: Token, operand: S.Formula) -> S.Formula:
        return self._unary("ALWAYS", op, operand)

    def yesterday(self, op: Token, operand: S.Formula) -> S.Formula:
        return self._unary("YESTERDAY", op, operand)

    def weak_yesterday(self, op: Token, operand: S.Formula) -> S.Formula:
        return self._unary("WYESTERDAY", op, operand)

    def once(self, op: Token, operand: S.Formula) -> S.Formula:
        return self._unary("ONCE", op, operand)

    def historically(self, op: Token, operand: S.Formula) -> S.Formula:
        return self._unary("HISTORICALLY", op, operand)

    def _bounded(self, op: str, first: Token, lsqb: Token, lo: int, hi: int | None,
                 rsqb: Token, operand: S.Formula) -> S.Formula:
        node = self._node(S.Bounded, first, operand, op, lo, hi, operand, sub=(operand,))
        return replace(node, interval_span=self._span(lsqb, rsqb))

    def next_n(self, x: Token, lsqb: Token, n: Token, rsqb: Token,
               operand: S.Formula) -> S.Formula:
        return self._bounded("NEXT", x, lsqb, _int(n), _int(n), rsqb, operand)

    def weak_next_n(self, wx: Token, lsqb: Token, n: Token, rsqb: Token,
                    operand: S.Formula) -> S.Formula:
        return self._bounded("WNEXT", wx, lsqb, _int(n), _int(n), rsqb, operand)

    def _interval(self, op: str, first: Token, lsqb: Token, lo: Token, _range: Token,
                  *rest: Any) -> S.Formula:
        # `[lo,hi]` or the open `[lo,]`: the upper bound is there when three items follow
        *hi, rsqb, operand = rest
        upper = _int(hi[0]) if hi else None
        return self._bounded(op, first, lsqb, _int(lo), upper, rsqb, operand)

    def bounded_eventually(self, *items: Any) -> S.Formula:
        return self._interval("EVENTUALLY", *items)

    def bounded_always(self, *items: Any) -> S.Formula:
        return self._interval("ALWAYS", *items)

    def _binary(self, op: str, left: S.Formula, right: S.Formula) -> S.Formula:
        return self._node(S.Binary, left, right, op, left, right, sub=(left, right))

    def iff(self, left: S.Formula, _op: Token, right: S.Formula) -> S.Formula:
        return self._binary("IFF", left, right)

    def implies(self, left: S.Formula, _op: Token, right: S.Formula) -> S.Formula:
        return self._binary("IMPLIES", left, right)

    def xor(self, left: S.Formula, _op: Token, right: S.Formula) -> S.Formula:
        return self._binary("XOR", left, right)

    def until(self, left: S.Formula, _op: Token, right: S.Formula) -> S.Formula:
        return self._binary("UNTIL", left, right)

    def release(self, left: S.Formula, _op: Token, right: S.Formula) -> S.Formula:
        return self._binary("RELEASE", left, right)

    def weak_until(self, left: S.Formula, _op: Token, right: S.Formula) -> S.Formula:
        return self._binary("WUNTIL", left, right)

    def strong_release(self, left: S.Formula, _op: Token, right: S.Formula) -> S.Formula:
        return self._binary("SRELEASE", left, right)

    def since(self, left: S.Formula, _op: Token, right: S.Formula) -> S.Formula:
        return self._binary("SINCE", left, right)

    def trigger(self, left: S.Formula, _op: Token, right: S.Formula) -> S.Formula:
        return self._binary("TRIGGER", left, right)

    def _nary(self, op: str, left: S.Formula, right: S.Formula) -> S.Formula:
        if isinstance(left, S.NAry) and left.op == op and not left.grouped:
            # Chains are built left to right; appending to the (still private) list keeps a
            # 100,000-term conjunction linear. _freeze turns the lists into tuples.
            cast(list, left.items).append(right)
            depth = max(left.depth, right.depth + 1)
            if depth > MAX_DEPTH:
                raise _TooDeep(_start(right.span))
            return replace(left, span=self._span(left, right), depth=depth)
        node = self._node(S.NAry, left, right, op, [left, right], sub=(left, right))
        return cast(S.Formula, node)

    def and_(self, left: S.Formula, _op: Token, right: S.Formula) -> S.Formula:
        return self._nary("AND", left, right)

    def or_(self, left: S.Formula, _op: Token, right: S.Formula) -> S.Formula:
        return self._nary("OR", left, right)


def _strings(items: tuple[Any, ...]) -> list[Token]:
    return [t for t in items if isinstance(t, Token) and t.type == "STRING"]


def _idents(items: tuple[Any, ...]) -> list[Token]:
    return [t for t in items if isinstance(t, Token) and t.type == "IDENT"]


@v_args(inline=True)
class _DeclBuilder(_Builder):
    """The rules of ``spec.lark``: declarations around formulas."""

    def ident(self, name: Token) -> S.Ident:
        return self._ident(name)

    def quoted_ident(self, string: Token) -> S.Ident:
        return S.Ident(_unescape(str(string)), True, span=self._tok_span(string))

    def import_decl(self, kw: Token, path: Token) -> S.Import:
        return S.Import(_unescape(str(path)), span=self._span(kw, path))

    def props_decl(self, kw: Token, *names_and_commas: Any) -> S.PropsDecl:
        names = tuple(x for x in names_and_commas if isinstance(x, S.Ident))
        return S.PropsDecl(names, span=self._span(kw, names[-1]))

    def observe_decl(self, kw: Token, *items_and_commas: Any) -> S.ObserveDecl:
        items = tuple(x for x in items_and_commas if isinstance(x, S.Observable))
        return S.ObserveDecl(items, span=self._span(kw, items[-1]))

    def observable(self, name: Token, _colon: Token, typ: S.ObsType) -> S.Observable:
        return S.Observable(self._ident(name), typ, span=self._span(name, typ))

    def named_type(self, name: Token) -> S.ObsType:
        return S.ObsType(str(name), span=self._tok_span(name))

    def enum_type(self, lbrace: Token, *values_and_commas: Token) -> S.ObsType:
        values = tuple(self._ident(t) for t in _idents(values_and_commas))
        return S.ObsType("enum", values, span=self._span(lbrace, values_and_commas[-1]))

    def derived_decl(self, kw: Token, name: S.Ident, _eq: Token, obs: Token, op: Token,
                     lit: S.Literal) -> S.DerivedDecl:
        return S.DerivedDecl(name, self._ident(obs), str(op), lit, span=self._span(kw, lit))

    def _text_decl(self, kw: Token, name: S.Ident, obs: Token, op: str, value: S.Literal,
                   keywords: tuple[str, ...], granularity: tuple[S.Ident, ...]) -> S.TextDecl:
        gran = granularity[0] if granularity else None
        return S.TextDecl(name, self._ident(obs), op, value, keywords, gran,
                          span=self._span(kw, gran if gran is not None else value))

    def text_regex(self, kw: Token, name: S.Ident, _eq: Token, obs: Token, _matches: Token,
                   regex: Token, *granularity: S.Ident) -> S.TextDecl:
        value = S.Literal("regex", str(regex), span=self._tok_span(regex))
        return self._text_decl(kw, name, obs, "matches", value, (), granularity)

    def text_keywords(self, kw: Token, name: S.Ident, _eq: Token, obs: Token,
                      _contains: Token, words: tuple[S.Literal, tuple[str, ...]],
                      *granularity: S.Ident) -> S.TextDecl:
        value, phrases = words
        return self._text_decl(kw, name, obs, "contains", value, phrases, granularity)

    def text_classifier(self, kw: Token, name: S.Ident, _eq: Token, obs: Token,
                        _classifies: Token, path: Token, *granularity: S.Ident) -> S.TextDecl:
        value = S.Literal("labeler", str(path), span=self._tok_span(path))
        return self._text_decl(kw, name, obs, "classifies", value,
                               (_unescape(str(path)),), granularity)

    def keyword_set(self, first: Token, *rest: Token) -> tuple[S.Literal, tuple[str, ...]]:
        strings = _strings((first, *rest))
        words = tuple(_unescape(str(t)) for t in strings)
        text = "{" + ", ".join(str(t) for t in strings) + "}"
        last = rest[-1] if rest else first
        return S.Literal("keywords", text, span=self._span(first, last)), words

    def granularity(self, at: Token, name: Token) -> S.Ident:
        return S.Ident(str(name), span=self._span(at, name))

    def number(self, tok: Token) -> S.Literal:
        return S.Literal("number", str(tok), span=self._tok_span(tok))

    def symbol(self, tok: Token) -> S.Literal:
        return S.Literal("symbol", str(tok), span=self._tok_span(tok))

    def boolean(self, tok: Token) -> S.Literal:
        return S.Literal("bool", str(tok), span=self._tok_span(tok))

    def params(self, _lpar: Token, *names_and_commas: Token) -> tuple[S.Ident, ...]:
        return tuple(self._ident(t) for t in _idents(names_and_commas))

    def def_decl(self, kw: Token, name: Token, *rest: Any) -> S.DefDecl:
        # `def name = body` or `def name(params) = body`
        *params, _eq, body = rest
        return S.DefDecl(self._ident(name), params[0] if params else None, body,
                         span=self._span(kw, body))

    def spec_decl(self, kw: Token, name: Token, *rest: Any) -> S.SpecDecl:
        # `spec name "description"? { body }`
        desc = next((_unescape(str(t)) for t in _strings(rest)), None)
        body = cast(S.Formula, next(x for x in rest if isinstance(x, S.Node)))
        return S.SpecDecl(self._ident(name), desc, body, span=self._span(kw, rest[-1]))

    def progression_decl(self, kw: Token, name: Token, _eq: Token, _lsqb: Token,
                         *specs_and_commas: Token) -> S.ProgressionDecl:
        specs = tuple(self._ident(t) for t in _idents(specs_and_commas))
        return S.ProgressionDecl(self._ident(name), specs,
                                 span=self._span(kw, specs_and_commas[-1]))

    def start(self, *decls: Any) -> list[Any]:
        return list(decls)

    def formula_start(self, formula: S.Formula) -> S.Formula:
        return formula


class _Parser:
    """One lark LALR parser with its own AST builder and comment list: the callbacks run
    during the parse and read the file name and the `next` reading from the builder, so a
    parser runs one parse at a time. :func:`_checkout` hands each parse a parser of its own,
    which keeps parsing reentrant (an import read while another file is being parsed) and safe
    from several threads at once."""

    def __init__(self) -> None:
        self.reading = _Reading()
        self.comments: list[Token] = []
        builder = merge_transformers(_DeclBuilder(self.reading),
                                     formula=_FormulaBuilder(self.reading))
        self.lark = build_parser(
            cache=True,
            transformer=builder,
            keep_all_tokens=True,  # keyword and bracket tokens give every node an exact span
            lexer_callbacks={"COMMENT": self.comments.append},
        )
        self._formula_starts: frozenset[str] | None = None

    def formula_starts(self) -> frozenset[str]:
        """The terminals a formula can start with."""
        if self._formula_starts is None:
            ip = self.lark.parse_interactive("", start="formula_start")
            self._formula_starts = frozenset(ip.accepts())
        return self._formula_starts


# Idle parsers. Building one costs the grammar analysis, so parsers are reused; a parse takes
# one no other parse is using, and a nested or concurrent parse gets another.
_idle: list[_Parser] = []
_idle_lock = threading.Lock()


@contextlib.contextmanager
def _checkout() -> Iterator[_Parser]:
    with _idle_lock:
        parser = _idle.pop() if _idle else None
    if parser is None:
        parser = _Parser()
    try:
        yield parser
    finally:
        with _idle_lock:
            _idle.append(parser)


# --- decoding and pragmas ------------------------------------------------------------------

_PRAGMA = re.compile(
    r"^[ \t]*(?:#|//)[ \t]*pragma\b[ \t]*((?:(?!#|//)[^\n])*?)[ \t]*(?:(?:#|//)[^\n]*)?$",
    re.MULTILINE,
)
# The first line that is neither blank nor a comment: where declarations start.
_FIRST_CODE_LINE = re.compile(r"^[ \t]*(?!#|//)\S", re.MULTILINE)
_NEXT_PRAGMA = re.compile(r"next[ \t]*=[ \t]*(weak|strong)")


def decode(data: bytes, path: str) -> tuple[str, Diagnostic | None]:
    """UTF-8 text of a file, or a replacement-decoded text plus an E002 diagnostic."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        start = exc.start
        line_start = data.rfind(b"\n", 0, start) + 1
        line = data.count(b"\n", 0, start) + 1
        col = len(data[line_start:start].decode("utf-8", "replace")) + 1
        text = data.decode("utf-8", "replace")
        span = Span(path, line, col, line, col + 1)
        return text, error(
            "E002",
            f"file is not valid UTF-8 text (byte 0x{data[start]:02x} at line {line}, col {col})",
            span,
            "save the file as UTF-8",
        )
    return text.removeprefix("\ufeff"), None


def looks_like_pragma(comment: str) -> bool:
    """Whether a comment's text would be read as a pragma on a line of its own."""
    return _PRAGMA.fullmatch(comment.strip()) is not None


def read_pragmas(text: str, path: str) -> tuple[str | None, list[Diagnostic]]:
    """The ``#pragma next = weak|strong`` setting of a file, if any."""
    setting: str | None = None
    set_at = 0
    diags: list[Diagnostic] = []
    code = _FIRST_CODE_LINE.search(text)
    code_starts = code.start() if code else len(text)
    for m in _PRAGMA.finditer(text):
        body = m.group(1)
        line = text.count("\n", 0, m.start()) + 1
        line_start = text.rfind("\n", 0, m.start(1)) + 1
        col = m.start(1) - line_start + 1
        span = Span(path, line, col, line, col + max(1, len(body)))
        nm = _NEXT_PRAGMA.fullmatch(body)
        if nm and m.start() > code_starts:
            # A pragma sets the reading of the whole file, so it must come before the code
            # it changes: one at the end would rewrite formulas above it.
            diags.append(error("E021", f'pragma "{body}" after the first declaration', span,
                               "move it to the top of the file, before any declaration"))
        elif nm and setting is not None and nm.group(1) != setting:
            diags.append(error(
                "E021", f'contradictory pragma "{body}"', span,
                f'line {set_at} already says "next = {setting}"; keep one of them'))
        elif nm:
            setting, set_at = nm.group(1), line
        else:
            diags.append(
                error("E021", f'unknown pragma "{body}"', span,
                      "the supported pragma is `#pragma next = weak` (or `= strong`)")
            )
    return setting, diags


# --- syntax errors -------------------------------------------------------------------------

_BINARY_SPELLINGS = {
    "<->", "<=>", "iff", "->", "=>", "implies", "|", "||", "\\/", "or", "^", "xor", "&", "&&",
    "/\\",
    "and", "U", "until", "R", "release", "W", "weak_until", "M", "strong_release", "S",
    "since", "T", "trigger",
}
_NAMED = {
    "IDENT": "an identifier",
    "STRING": "a quoted string",
    "INT": "an integer",
    "NUMBER": "a number",
    "CMP_OP": "a comparison operator (`<`, `<=`, `>`, `>=`, `==`, `!=`)",
    "REGEX": "a regular expression `/.../`",
    "_RANGE": "`,`",
    "$END": "end of file",
}


def _pattern(parser: _Parser, term: str) -> str | None:
    try:
        pat = parser.lark.get_terminal(term).pattern
    except KeyError:
        return None
    return pat.value if pat.type == "str" else None


def _expected_words(parser: _Parser, expected: set[str]) -> list[str]:
    words: list[str] = []
    rest = set(expected)
    # lark may leave keyword spellings out of `expected`; these three mark a formula slot.
    if {"LPAR", "BANG", "IDENT"} <= rest:
        words.append("a formula")
        rest -= parser.formula_starts()
    spelled = {t: _pattern(parser, t) for t in rest}
    ops = {t for t, v in spelled.items() if v in _BINARY_SPELLINGS}
    if ops:
        words.append("an operator")
        rest -= ops
    decls = {t for t, v in spelled.items() if v in DECLARATION_KEYWORDS}
    if len(decls) == len(DECLARATION_KEYWORDS):
        words.append("a declaration (`spec`, `def`, `props`, ...)")
        rest -= decls
    for t in sorted(rest, key=lambda t: (t == "$END", spelled.get(t) or t)):
        v = spelled.get(t)
        if t.endswith("_RANGE"):
            v = ","
        words.append(f"`{v}`" if v is not None else _NAMED.get(t, t.lower()))
    words = list(dict.fromkeys(words))
    return words


def _join(words: list[str]) -> str:
    if len(words) > 7:
        words = words[:6] + ["..."]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _syntax_error(exc: UnexpectedInput, parser: _Parser, text: str, path: str) -> Diagnostic:
    if isinstance(exc, UnexpectedCharacters):
        line, col = exc.line, exc.column
        ch = exc.char
        span = Span(path, line, col, line, col + 1)
        hint = None
        if ch.isupper():
            hint = ("propositions are lowercase identifiers or quoted names; "
                    "single capital letters are operators")
        shown = ch if ch.isprintable() else f"\\x{ord(ch):02x}" if ord(ch) < 256 else repr(ch)
        return error("E001", f'unexpected character "{shown}"', span, hint)
    assert isinstance(exc, UnexpectedToken)
    tok = exc.token
    expected = set(exc.expected or ())
    # LALR merges states, so `expected` can list tokens only valid in other contexts;
    # replaying each candidate on a copy of the parser keeps the ones that really fit.
    ip = getattr(exc, "interactive_parser", None)
    if ip is not None:
        with contextlib.suppress(Exception):
            expected = set(ip.accepts()) or expected
    if tok.type == "$END":
        line, col = _end_position(text)
        found = "end of file"
    else:
        line, col = tok.line or 1, tok.column or 1
        # a string token already carries its quotes; quoting it again shows ""high""
        shown_tok = str(tok)[1:-1] if len(tok) >= 2 and tok[0] == tok[-1] == '"' else str(tok)
        found = f'"{shown_tok}"' if len(shown_tok) <= 30 else f'"{shown_tok[:27]}..."'
    end_line = tok.end_line if tok.type != "$END" and tok.end_line else line
    end_col = tok.end_column if tok.type != "$END" and tok.end_column else col + 1
    span = Span(path, line, col, end_line, end_col)
    words = _expected_words(parser, expected)
    hint = None
    if tok.type in ("X", "F", "G", "U", "R", "W", "M", "S", "T", "Y", "Z", "O", "H", "N"):
        hint = "single capital letters are operators, not propositions"
    expected_text = f"; expected {_join(words)}" if words else ""
    return error("E001", f"unexpected {found}{expected_text}", span, hint)


def _end_position(text: str) -> tuple[int, int]:
    stripped = text.rstrip()
    line = stripped.count("\n") + 1
    col = len(stripped) - (stripped.rfind("\n") + 1) + 1
    return line, col


# --- entry points --------------------------------------------------------------------------


def parse_text(text: str, path: str, *, weak_next: bool = False) -> ParseResult:
    """Parse a whole ``.spec`` file's text."""
    diags: list[Diagnostic] = []
    pragma, pdiags = read_pragmas(text, path)
    diags.extend(pdiags)
    weak = weak_next if pragma is None else pragma == "weak"
    tree, found = _run(text, path, weak, "start", diags)
    if tree is None:
        if diags and diags[-1].code == "E001":
            diags[-1:] = _more_syntax_errors(text, path, weak)
        return ParseResult(text, None, diags)
    comments = tuple(S.Comment(t.line or 1, t.column or 1, str(t)) for t in found)
    file = S.SourceFile(tuple(tree), weak, pragma, comments, span=Span(path, 1, 1, 1, 1))
    return ParseResult(text, file, diags)


_DECL_START = re.compile(
    rf"^[ \t]*(?:{'|'.join(DECLARATION_KEYWORDS)})\b", re.MULTILINE)
MAX_SYNTAX_ERRORS = 20


def _more_syntax_errors(text: str, path: str, weak: bool) -> list[Diagnostic]:
    """Recovery after a syntax error: declarations start with a keyword at the start of a
    line and keywords never occur inside a formula as names, so parsing each such chunk on
    its own finds the syntax errors of the other declarations too. Each chunk is padded
    with newlines so that positions stay those of the whole file."""
    starts = [m.start() for m in _DECL_START.finditer(text)]
    if not starts or starts[0] != 0:
        starts.insert(0, 0)
    found: list[Diagnostic] = []
    for i, begin in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(text)
        chunk = "\n" * text.count("\n", 0, begin) + text[begin:end]
        before = len(found)
        _run(chunk, path, weak, "start", found)
        # A chunk cut short reports "end of file"; in the whole file the parser met the
        # next declaration's keyword there, so say that.
        if (len(found) > before and end < len(text)
                and found[-1].message.startswith("unexpected end of file")):
            m = re.compile(r"[ \t]*(\w+)").match(text, end)
            assert m is not None
            line = text.count("\n", 0, end) + 1
            col = m.start(1) - end + 1
            d = found[-1]
            found[-1] = error(
                d.code, d.message.replace("end of file", f'"{m.group(1)}"', 1),
                Span(path, line, col, line, col + len(m.group(1))), d.hint)
        if len(found) >= MAX_SYNTAX_ERRORS:
            break
    return found or [error("E001", "syntax error", Span(path, 1, 1, 1, 2))]


def parse_formula_text(
    text: str, path: str = "<formula>", *, weak_next: bool = False
) -> tuple[S.Formula | None, list[Diagnostic]]:
    if len(text) > MAX_FILE_BYTES:
        return None, [error("E004", f"formula is too large ({len(text)} characters; the limit "
                            f"is {MAX_FILE_BYTES})", Span(path, 1, 1, 1, 2))]
    diags: list[Diagnostic] = []
    f, _comments = _run(text, path, weak_next, "formula_start", diags)
    return f, diags


def _freeze(f: S.Formula) -> None:
    for node in S.walk(f):
        if isinstance(node, S.NAry) and isinstance(node.items, list):
            object.__setattr__(node, "items", tuple(node.items))


def _run(text: str, path: str, weak: bool, start: str,
         diags: list[Diagnostic]) -> tuple[Any, list[Token]]:
    """The parse of ``text`` from rule ``start`` (None after a syntax error, which is added
    to ``diags``) and the comment tokens it met."""
    with _checkout() as parser:
        parser.reading.path, parser.reading.weak_next = path, weak
        parser.comments.clear()
        try:
            result: Any = parser.lark.parse(text, start=start)
        except _TooDeep as exc:
            diags.append(error("E003", f"formula nested too deeply (limit {MAX_DEPTH})",
                               exc.span, "split the formula into definitions (`def name = ...`)"))
            return None, []
        except UnexpectedInput as exc:
            diags.append(_syntax_error(exc, parser, text, path))
            return None, []
        comments = list(parser.comments)
    if start == "formula_start":
        _freeze(result)
    else:
        for decl in result:
            if isinstance(decl, S.DefDecl | S.SpecDecl):
                _freeze(decl.body)
    return result, comments


def parse_bytes(data: bytes, path: str, *, weak_next: bool = False) -> ParseResult:
    """Parse raw file contents: size limit, UTF-8 check, then :func:`parse_text`."""
    if len(data) > MAX_FILE_BYTES:
        return ParseResult("", None, [error(
            "E004",
            f"file is too large ({len(data) // 1024} KB; the limit is "
            f"{MAX_FILE_BYTES // 1024} KB)",
            Span(path, 1, 1, 1, 2),
            "split the specification into several files joined with `import`",
        )])
    text, bad = decode(data, path)
    if bad is not None:
        return ParseResult(text, None, [bad])
    return parse_text(text, path, weak_next=weak_next)
