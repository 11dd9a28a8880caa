"""Diagnostics: source spans, error/warning records, Rust-style rendering and JSON output.

Error codes are stable (documented in docs/language.md); tests and tools match on them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Span:
    """A 1-based source range; ``end_col`` is exclusive (points just past the last char)."""

    path: str
    line: int
    col: int
    end_line: int
    end_col: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}"

    def join(self, other: Span) -> Span:
        return Span(self.path, self.line, self.col, other.end_line, other.end_col)


def slice_span(text: str, span: Span) -> str:
    """The text ``span`` covers in ``text``."""
    lines = text.split("\n")
    if span.line == span.end_line:
        return lines[span.line - 1][span.col - 1 : span.end_col - 1]
    parts = [lines[span.line - 1][span.col - 1 :]]
    parts += lines[span.line : span.end_line - 1]
    parts.append(lines[span.end_line - 1][: span.end_col - 1])
    return "\n".join(parts)


@dataclass(frozen=True)
class Diagnostic:
    severity: str  # "error" | "warning"
    code: str
    message: str
    span: Span | None
    hint: str | None = None

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def to_json(self) -> dict[str, object]:
        s = self.span
        return {
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
            "path": s.path if s else None,
            "line": s.line if s else None,
            "col": s.col if s else None,
            "end_line": s.end_line if s else None,
            "end_col": s.end_col if s else None,
            "hint": self.hint,
        }


def error(code: str, message: str, span: Span | None, hint: str | None = None) -> Diagnostic:
    return Diagnostic("error", code, message, span, hint)


def warning(code: str, message: str, span: Span | None, hint: str | None = None) -> Diagnostic:
    return Diagnostic("warning", code, message, span, hint)


# Long lines (a minified 1 MB formula) would flood the terminal; show a window instead.
_MAX_SHOWN = 120


def render(diagnostic: Diagnostic, source_text: str | None) -> str:
    """``path:line:col: error[E001]: message``, the source line, carets, ``= hint: ...``."""
    d = diagnostic
    s = d.span
    where = f"{s.path}:{s.line}:{s.col}: " if s else ""
    out = [f"{where}{d.severity}[{d.code}]: {d.message}"]
    if s is not None and source_text is not None:
        lines = source_text.split("\n")
        if 1 <= s.line <= len(lines):
            text = lines[s.line - 1].rstrip("\r").replace("\t", " ")
            start = s.col - 1
            end = s.end_col - 1 if s.end_line == s.line else len(text)
            end = max(end, start + 1)
            offset = 0
            if len(text) > _MAX_SHOWN:
                offset = max(0, min(start - 20, len(text) - _MAX_SHOWN))
                text = text[offset : offset + _MAX_SHOWN]
            gutter = str(s.line)
            pad = " " * len(gutter)
            out.append(f"{pad} |")
            out.append(f"{gutter} | {text}")
            width = max(1, min(end, offset + _MAX_SHOWN) - start)
            out.append(f"{pad} | {' ' * (start - offset)}{'^' * width}")
    if d.hint:
        out.append(f"  = hint: {d.hint}")
    return "\n".join(out)


def render_all(diagnostics: Iterable[Diagnostic], sources: Mapping[str, str]) -> str:
    return "\n\n".join(
        render(d, sources.get(d.span.path) if d.span else None) for d in diagnostics
    )


def to_json(diagnostics: Iterable[Diagnostic]) -> str:
    import json  # only for --format json: `check` starts without it

    return json.dumps([d.to_json() for d in diagnostics], indent=2)


def sort_key(d: Diagnostic) -> tuple:
    s = d.span
    return (s.path, s.line, s.col) if s else ("", 0, 0)


class SpecErrors(Exception):
    """A file (or formula) has errors. ``str()`` is the rendered diagnostics."""

    def __init__(self, diagnostics: list[Diagnostic], sources: Mapping[str, str] | None = None):
        self.diagnostics = list(diagnostics)
        self.sources = dict(sources or {})
        super().__init__(render_all(self.diagnostics, self.sources))

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.is_error]


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """A ``did you mean "x"?`` hint for the closest candidate within a small edit distance."""
    best: tuple[int, str] | None = None
    for c in candidates:
        if c == name:
            continue
        d = _edit_distance(name, c)
        if best is None or (d, c) < best:
            best = (d, c)
    if best is None:
        return None
    limit = max(1, min(3, len(name) // 3 + 1))
    return f'did you mean "{best[1]}"?' if best[0] <= limit else None


def _edit_distance(a: str, b: str) -> int:
    # Damerau (optimal string alignment) distance: transpositions are the most common typo.
    if abs(len(a) - len(b)) > 3:
        return 99
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[-1]
