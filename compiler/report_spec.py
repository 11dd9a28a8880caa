"""One self-contained HTML page describing every spec of a file.

For each spec: its description and source, the compiled formula, the monitor's picture
(inline SVG), and a state table with verdicts, acceptance, residual obligations and the three
shaping potentials; then the progressions in order. Everything (CSS included) is inline and
there is no script, so the page opens from disk, offline, in any browser.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from speclang.compiler.automaton import Automaton, Verdict
from speclang.compiler.viz import (
    _STYLE,
    RenderUnavailable,
    inline_svg,
    residual_text,
    source_title,
    to_dot,
    to_svg,
)

_CSS = """
body { font-family: Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 70em;
       color: #212121; line-height: 1.4; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.25em; border-bottom: 1px solid #cfd8dc; padding-bottom: 0.2em;
     margin-top: 2em; }
.meta, .desc { color: #546e7a; }
code, pre { font-family: "DejaVu Sans Mono", Menlo, monospace; font-size: 0.92em; }
pre { background: #f5f7f8; padding: 0.6em 0.8em; overflow-x: auto; border-radius: 4px; }
/* Pictures keep their natural size (labels at the 10-14 pt dot drew them) inside a
   scrolling box; shrinking a 20-state monitor to page width made its labels ~6 px. The
   "fit to page width" checkbox is a CSS-only toggle, since the page carries no script. */
.picture { overflow: auto; max-height: 80vh; margin: 0.3em 0 1em; border: 1px solid #eceff1; }
.picture svg { display: block; }
.fit { margin-left: 0; }
.fit-label { color: #546e7a; font-size: 0.9em; }
.fit:checked ~ .picture svg { width: 100%; height: auto; }
table.states { border-collapse: collapse; margin: 0.5em 0 1em; }
table.states th, table.states td { border: 1px solid #cfd8dc; padding: 0.25em 0.6em;
                                   text-align: left; vertical-align: top; }
table.states th { background: #eceff1; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.badge { display: inline-block; padding: 0 0.5em; border-radius: 3px; border: 1px solid; }
ol.progression li { margin: 0.2em 0; }
nav ul { columns: 2; }
"""


def build_report(
    module: Any,
    automata: dict[str, Automaton],
    *,
    hide_sink: bool = False,
    title: str | None = None,
) -> str:
    """The HTML page for a loaded ``speclang.Module`` and its compiled specs (in the
    module's order)."""
    path = getattr(module, "path", "") or ""
    heading = title or f"Specs of {Path(path).name or 'module'}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(heading)}</title>",
        f"<style>{_CSS}</style>",
        "</head><body>",
        f"<h1>{html.escape(heading)}</h1>",
        _meta(module, automata),
        _toc(automata, module),
    ]
    for name, aut in automata.items():
        parts.append(_spec_section(module, name, aut, hide_sink=hide_sink))
    parts.append(_progressions(module))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _meta(module: Any, automata: dict[str, Automaton]) -> str:
    props = list(getattr(module, "props", []) or [])
    derived = dict(getattr(module, "derived", {}) or {})
    items = [
        f"file <code>{html.escape(str(getattr(module, 'path', '')))}</code>",
        f"{len(automata)} spec{'s' if len(automata) != 1 else ''}",
    ]
    h = getattr(module, "source_hash", "")
    if h:
        items.append(f"source hash <code>{html.escape(h[:16])}</code>")
    out = [f'<p class="meta">{" &middot; ".join(items)}</p>']
    if props or derived:
        rows = [f"<code>{html.escape(p)}</code>" for p in props]
        rows += [
            f"<code>{html.escape(n)} = {html.escape(str(c))}</code>" for n, c in derived.items()
        ]
        out.append(f'<p class="meta">propositions: {", ".join(rows)}</p>')
    return "\n".join(out)


def _anchor(name: str) -> str:
    return "spec-" + "".join(c if c.isalnum() or c in "-_" else "-" for c in name)


def _toc(automata: dict[str, Automaton], module: Any) -> str:
    items = []
    for name, aut in automata.items():
        spec = module.specs.get(name) if hasattr(module, "specs") else None
        desc = getattr(spec, "description", None)
        extra = f" &mdash; {html.escape(desc)}" if desc else ""
        items.append(
            f'<li><a href="#{_anchor(name)}">{html.escape(name)}</a> '
            f"({aut.n_states} states){extra}</li>"
        )
    return "<nav><ul>" + "".join(items) + "</ul></nav>"


def _badge(v: int) -> str:
    fill, border, font, text = _STYLE[v]
    label = Verdict(v).label.replace("_", " ")
    return (
        f'<span class="badge" style="background:{fill};border-color:{border};color:{font}" '
        f'title="{html.escape(text)}">{label}</span>'
    )


def _source_text(module: Any, name: str) -> str | None:
    spec = module.specs.get(name) if hasattr(module, "specs") else None
    span = getattr(spec, "span", None)
    sources = getattr(module, "sources", {}) or {}
    if span is None or span.path not in sources:
        return None
    lines = sources[span.path].split("\n")[span.line - 1 : span.end_line]
    return "\n".join(lines)


def _picture(name: str, aut: Automaton, hide_sink: bool, title: str | None) -> str:
    try:
        svg = inline_svg(to_svg(aut, hide_sink=hide_sink, title=title))
    except RenderUnavailable:
        dot = html.escape(to_dot(aut, hide_sink=hide_sink, title=title))
        return (
            '<p class="meta">Graphviz <code>dot</code> was not installed when this page was '
            "made, so the picture is given as DOT text (render it with "
            f"<code>dot -Tsvg</code>):</p><pre>{dot}</pre>"
        )
    return (
        f'<input type="checkbox" class="fit" id="fit-{_anchor(name)}">'
        f'<label class="fit-label" for="fit-{_anchor(name)}">fit to page width</label>'
        f'<div class="picture">{svg}</div>'
    )


def _state_table(aut: Automaton) -> str:
    from speclang.compiler.shaping import all_potentials

    pots: dict[str, Any] = all_potentials(aut)
    head = ["state", "verdict", "accepting", "remaining obligation"] + [
        f"&phi; {html.escape(k.replace('_', ' '))}" for k in pots
    ]
    rows = ["<tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>"]
    for q in range(aut.n_states):
        residual = residual_text(aut, q)
        cells = [
            f'<td class="num">{q}{" (initial)" if q == aut.initial else ""}</td>',
            f"<td>{_badge(int(aut.verdicts[q]))}</td>",
            f"<td>{'yes' if aut.accepting[q] else 'no'}</td>",
            f"<td><code>{html.escape(residual)}</code></td>",
        ]
        cells += [f'<td class="num">{float(v[q]):.3f}</td>' for v in pots.values()]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return '<table class="states">' + "".join(rows) + "</table>"


def _spec_section(module: Any, name: str, aut: Automaton, *, hide_sink: bool) -> str:
    spec = module.specs.get(name) if hasattr(module, "specs") else None
    desc = getattr(spec, "description", None)
    out = [f'<section class="spec" id="{_anchor(name)}" data-states="{aut.n_states}">']
    out.append(f"<h2>{html.escape(name)}</h2>")
    if desc:
        out.append(f'<p class="desc">{html.escape(desc)}</p>')
    src = _source_text(module, name)
    if src:
        out.append(f"<pre>{html.escape(src)}</pre>")
    props = ", ".join(f"<code>{html.escape(p)}</code>" for p in aut.props) or "none"
    out.append(
        f'<p class="meta">compiled: <code>{html.escape(aut.formula or "")}</code><br>'
        f"{aut.n_states} states over {props}; initial verdict "
        f"{_badge(int(aut.verdicts[aut.initial]))}</p>"
    )
    # The picture's title is the formula as written (bounded operators as `F[0,3]`), not
    # the compiled text, which unrolls them into chains of `X`.
    out.append(_picture(name, aut, hide_sink, source_title(spec) if spec else None))
    out.append(_state_table(aut))
    out.append("</section>")
    return "\n".join(out)


def _progressions(module: Any) -> str:
    progs = dict(getattr(module, "progressions", {}) or {})
    if not progs:
        return ""
    out = ['<section class="progressions"><h2>Progressions</h2>']
    for pname, order in progs.items():
        items = "".join(f'<li><a href="#{_anchor(s)}">{html.escape(s)}</a></li>' for s in order)
        out.append(
            f"<h3>{html.escape(pname)}</h3>"
            f'<p class="meta">the agent is trained against these specs in this order:</p>'
            f'<ol class="progression">{items}</ol>'
        )
    out.append("</section>")
    return "\n".join(out)

