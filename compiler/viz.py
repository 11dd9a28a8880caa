"""Pictures of compiled monitors: Graphviz DOT text, and SVG/PNG through Debian ``dot``.

Conventions (also drawn in the legend): an arrow from nowhere marks the initial state;
accepting states are double circles; fill colour gives the verdict (green satisfied, pale green
presumably satisfied, amber presumably violated, red violated, the violation sink also being an
octagon); all letters between one pair of states are one edge labelled with a minimised guard
over the spec's own proposition names. ``hide_sink`` folds the violation sink away: each edge
into it becomes a short red stub ending in a bar. Hovering a state shows its remaining
obligation (SVG tooltip).
"""

from __future__ import annotations

import html
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

from speclang.compiler.guards import edge_guards

if TYPE_CHECKING:
    from speclang.compiler.automaton import Automaton

FORMATS = ("dot", "svg", "png")

# verdict code -> (fill, border, font colour, legend text)
_STYLE = {
    0: ("#81c784", "#1b5e20", "black", "satisfied (every continuation is accepted)"),
    1: ("#e8f5e9", "#2e7d32", "black", "presumably satisfied (accepting now)"),
    2: ("#fff3e0", "#e65100", "black", "presumably violated (not accepting now)"),
    3: ("#e53935", "#b71c1c", "white", "violated (no continuation is accepted)"),
}
_FONT = "Helvetica"
_RED = "#c62828"
_WRAP_AT = 28
# Titles are wrapped onto lines of about _TITLE_LINE characters rather than cut, so a long
# formula is shown whole (a title cut at 90 characters hid half of t4's formula); only a
# title longer than _MAX_TITLE (a generated formula nobody reads to the end) is cut.
_TITLE_LINE = 72
_MAX_TITLE = 600
# Above this many states the layered `dot` layout takes minutes (every back edge becomes a
# chain of virtual nodes); the force-directed `sfdp` lays out 500 states in about 2 s.
LARGE = 60


class RenderUnavailable(RuntimeError):
    """Raised when an image format needs Graphviz ``dot`` and it is not installed; the DOT
    file has been written next to the requested output and the message says how to render."""


# Graphviz's scanner rejects quoted strings longer than 16,384 bytes; labels and tooltips
# are for reading, so longer text is cut (the artifact keeps it whole).
MAX_DOT_STRING = 4000


def _q(text: str) -> str:
    """A DOT double-quoted string, cut to ``MAX_DOT_STRING`` characters."""
    if len(text) > MAX_DOT_STRING:
        text = text[: MAX_DOT_STRING - 1] + "\u2026"
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _attrs(**kw: str | None) -> str:
    parts = [f"{k}={_q(v)}" for k, v in kw.items() if v is not None]
    return "[" + ", ".join(parts) + "]"


def _wrap_guard(guard: str) -> str:
    """Long disjunctions one term per line, so labels stay narrow and the layout compact."""
    if len(guard) <= _WRAP_AT:
        return guard
    terms, depth, start = [], 0, 0
    for i, ch in enumerate(guard):
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0 and guard.startswith(" | ", i):
            terms.append(guard[start:i])
            start = i + 3
    terms.append(guard[start:])
    if len(terms) == 1:
        return guard
    return " |\n".join(terms)


def residual_text(aut: Automaton, q: int) -> str:
    """State ``q``'s remaining obligation, as the compiler printed it at build time (user
    syntax: implications and bounded operators as written)."""
    return aut.residuals[q] if q < len(aut.residuals) else ""


def _title(aut: Automaton, title: str | None) -> str:
    if title is None:
        formula = aut.formula
        title = f"{aut.name}: {formula}" if aut.name and formula else aut.name or formula or ""
    return title if len(title) <= _MAX_TITLE else title[: _MAX_TITLE - 3] + "..."


def _wrapped_in_parens(text: str) -> bool:
    """Whether ``text`` is a prefix (operators, bounds) then one parenthesised group that runs
    to its end, like ``G(a -> b)``: such a conjunct needs no parentheses of its own."""
    start = text.find("(")
    if start < 0 or not text.endswith(")") or " " in text[:start].strip():
        return False
    depth = 0
    for i, ch in enumerate(text[start:], start):
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0:
            return i == len(text) - 1
    return False


def source_title(spec: Any) -> str | None:
    """``name: formula`` with the formula as the user wrote it (from the spec's conjuncts'
    source text), so bounded operators read ``F[0,3] a`` rather than the compiled chain of
    ``X``; None when the source text is not known."""
    conjuncts = list(getattr(spec, "conjuncts", None) or [])
    texts = [" ".join(str(getattr(c, "text", "") or "").split()) for c in conjuncts]
    if not texts or not all(texts):
        return None
    if len(texts) > 1:
        # The conjuncts were the top-level `&` operands: any that is not one group gets
        # parentheses, so `a | b` stays an operand when joined.
        texts = [t if _wrapped_in_parens(t) or t.isidentifier() else f"({t})" for t in texts]
    return f"{spec.name}: {' & '.join(texts)}"


def _title_lines(title: str) -> list[str]:
    """``title`` broken at spaces into lines of at most ``_TITLE_LINE`` characters (a word
    longer than that keeps a line of its own)."""
    lines: list[str] = []
    line = ""
    for word in title.split(" "):
        if line and len(line) + 1 + len(word) > _TITLE_LINE:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    lines.append(line)
    return lines


def to_dot(aut: Automaton, *, hide_sink: bool = False, title: str | None = None) -> str:
    """The automaton as deterministic Graphviz DOT text."""
    sink = aut.violation_sink if hide_sink else None
    if aut.n_states > LARGE:
        layout = f"  graph {_attrs(layout='sfdp', overlap='prism', K='1.2')};"
    else:
        # dot's x-coordinate network simplex blows up on label-heavy back edges (a 60-state
        # counter took 19 s); capping its iterations costs little on small pictures.
        layout = f"  graph {_attrs(nslimit='1', nslimit1='1')};"
    lines = [
        f"digraph {_q(aut.name or 'monitor')} {{",
        layout,
        "  graph "
        + _attrs(
            rankdir="LR",
            fontname=_FONT,
            fontsize="14",
            labelloc="t",
            nodesep="0.8",  # room for loop labels next to edge labels
            ranksep="0.7",
            bgcolor="white",
            tooltip=aut.formula or aut.name or "monitor",
        )
        + ";",
        f"  node {_attrs(fontname=_FONT, fontsize='12', style='filled', width='0.45')};",
        f"  edge {_attrs(fontname=_FONT, fontsize='10', color='#455a64', arrowsize='0.7')};",
        f"  __start {_attrs(shape='none', label='', width='0', height='0', tooltip='start')};",
        f"  __start -> q{aut.initial} {_attrs(id='initial-arrow', tooltip='initial state')};",
    ]
    used_verdicts: set[int] = set()
    any_accepting = False
    for q in range(aut.n_states):
        if q == sink:
            continue
        v = int(aut.verdicts[q])
        used_verdicts.add(v)
        acc = bool(aut.accepting[q])
        any_accepting |= acc
        fill, border, font, legend = _STYLE[v]
        shape = "doublecircle" if acc else ("octagon" if v == 3 else "circle")
        residual = residual_text(aut, q)
        tip = f"state {q}: {legend.split(' (')[0]}"
        if residual:
            tip += f"\nremaining obligation: {residual}"
        node = _attrs(
            id=f"state-{q}",
            label=str(q),
            shape=shape,
            fillcolor=fill,
            color=border,
            fontcolor=font,
            tooltip=tip,
        )
        lines.append(f"  q{q} {node};")
    n_stubs = 0
    for q in range(aut.n_states):
        if q == sink:
            continue
        guards = edge_guards(aut, q)
        for t in sorted(guards):
            g = guards[t]
            if t == sink:
                stub = f"__stub{q}"
                n_stubs += 1
                # The guard is the stub's end node, so the text sits at the bar instead of
                # on top of the line (edge labels on flat edges overlap the edge).
                end = _attrs(
                    shape="plaintext",
                    style="",
                    label=_wrap_guard(g),
                    fontcolor=_RED,
                    fontsize="10",
                    tooltip=f"violation on {g}",
                )
                lines.append(f"  {stub} {end};")
                edge = _attrs(
                    color=_RED,
                    arrowhead="tee",
                    minlen="1",
                    tooltip=f"{q} -> violation on {g}",
                )
                lines.append(f"  q{q} -> {stub} {edge};")
                # Same rank as its source: the stub stays short instead of reaching across
                # to the next layer of the layout.
                lines.append(f"  {{ rank=same; q{q}; {stub}; }}")
            else:
                red = int(aut.verdicts[t]) == 3
                edge = _attrs(
                    id=f"edge-{q}-{t}",
                    label=_wrap_guard(g),
                    color=_RED if red else None,
                    fontcolor=_RED if red else None,
                    tooltip=f"{q} -> {t} on {g}",
                )
                lines.append(f"  q{q} -> q{t} {edge};")
    label = _label(_title(aut, title), sorted(used_verdicts), any_accepting, n_stubs > 0)
    lines.append(f"  graph [label={label}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _label(title: str, verdicts: list[int], any_accepting: bool, stubs: bool) -> str:
    """Title plus a one-line legend, as the graph's own HTML label: a legend drawn as a node
    gets placed among the states by the layout and collides with edge labels."""
    cells = []
    for v in verdicts:
        fill, border, _font, text = _STYLE[v]
        cells.append(
            f'<td bgcolor="{fill}" color="{border}" border="1" width="14" height="10"></td>'
            f'<td align="left">{html.escape(text.split(" (")[0])}</td>'
        )
    if any_accepting:
        cells.append('<td>&#9678;</td><td align="left">accepting</td>')
    if stubs:
        cells.append(
            '<td><font color="#c62828">&#8867;</font></td>'
            '<td align="left">violating letters (sink hidden)</td>'
        )
    legend = "".join(cells)
    text = "<br/>".join(html.escape(line) for line in _title_lines(title))
    head = f'<tr><td><font point-size="14">{text}</font></td></tr>' if title else ""
    return (
        '<<table border="0" cellborder="0" cellspacing="3" cellpadding="1">'
        f"{head}"
        f'<tr><td><font point-size="10"><table border="0" cellborder="0" cellspacing="4" '
        f'cellpadding="1"><tr>{legend}</tr></table></font></td></tr></table>>'
    )


# --- rendering -----------------------------------------------------------------------------


def dot_available() -> bool:
    return shutil.which("dot") is not None


def run_dot(dot_text: str, fmt: str, *, timeout: float = 120.0) -> bytes:
    """Lay out and render DOT text with Graphviz ``dot``; raises :class:`RenderUnavailable`
    when ``dot`` is missing."""
    exe = shutil.which("dot")
    if exe is None:
        raise RenderUnavailable(
            "Graphviz `dot` is not installed (Debian: apt-get install graphviz)"
        )
    proc = subprocess.run(
        [exe, f"-T{fmt}"], input=dot_text.encode(), capture_output=True, timeout=timeout
    )
    if proc.returncode != 0:
        raise RuntimeError(f"dot failed: {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout


def to_svg(aut: Automaton, *, hide_sink: bool = False, title: str | None = None) -> str:
    """The picture as a standalone SVG document (needs ``dot``)."""
    return run_dot(to_dot(aut, hide_sink=hide_sink, title=title), "svg").decode()


def svg_or_none(aut: Automaton) -> str | None:
    """The picture as SVG, or None when Graphviz ``dot`` is not installed (what Jupyter's
    display of an automaton shows; registered by the package)."""
    try:
        return to_svg(aut)
    except RenderUnavailable:
        return None


def inline_svg(svg: str) -> str:
    """An SVG document reduced to its ``<svg>`` element, for embedding in HTML."""
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else svg


def render(
    aut: Automaton,
    path: str | Path,
    format: str | None = None,
    *,
    hide_sink: bool = False,
    title: str | None = None,
) -> Path:
    """Write the picture to ``path`` (format from ``format`` or the file suffix: dot, svg,
    png). Without ``dot``, an image request writes ``<path>.dot`` instead and raises
    :class:`RenderUnavailable` saying how to render it."""
    out = Path(path)
    fmt = (format or out.suffix.lstrip(".")).lower()
    if fmt not in FORMATS:
        raise ValueError(f"unknown picture format {fmt!r}; use one of {', '.join(FORMATS)}")
    text = to_dot(aut, hide_sink=hide_sink, title=title)
    if fmt == "dot":
        out.write_text(text)
        return out
    if not dot_available():
        dot_path = out.with_suffix(".dot")
        dot_path.write_text(text)
        raise RenderUnavailable(
            f"Graphviz `dot` is not installed, so {out} was not rendered; wrote {dot_path} "
            f"instead. Install Graphviz (Debian: apt-get install graphviz) and run: "
            f"dot -T{fmt} {dot_path} -o {out}"
        )
    out.write_bytes(run_dot(text, fmt))
    return out
