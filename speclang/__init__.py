"""speclang: safety specifications for learning agents.

Public front-end API (for users and the CLI):

- :func:`parse_formula` - one free formula -> core IR (any proposition names allowed);
- :func:`load` / :func:`loads` - a ``.spec`` file -> checked, lowered :class:`Module`;
- :func:`check_file` - all diagnostics (errors and warnings) of a file, for ``speclang check``;
- :func:`compile_formula` / :func:`compile_file` - text or a file -> compiled automata: the
  front end parses, and the compiler (:mod:`speclang.compiler`, which takes IR only) builds.

Errors are raised as :class:`SpecErrors`, whose ``str()`` is the rendered diagnostics. The first
four live in :mod:`speclang.loader`, where the layers below this façade import them from.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from speclang.diagnostics import Diagnostic, Span, SpecErrors, render
from speclang.loader import check_file, load, loads, parse_formula
from speclang.model import Comparison, Conjunct, Module, ObservableType, SpecDef

if TYPE_CHECKING:  # compiler imports numpy; `speclang check` does not need it
    from speclang.compiler.automaton import Automaton
    from speclang.compiler.ir import Formula

__version__ = "0.1.0"

__all__ = [
    "Comparison", "Conjunct", "Diagnostic", "Module", "ObservableType", "SpecDef",
    "SpecErrors", "Span", "check_file", "compile_file", "compile_formula", "load", "loads",
    "parse_formula", "render", "write_spec_report",
]


def compile_formula(f: Formula | str, *, weak_next: bool = False, **budgets: Any) -> Automaton:
    """Compile one formula, text in speclang formula syntax or core IR, to its minimal
    complete DFA (:func:`speclang.compiler.compile_formula` for the budgets and errors).
    Bad text raises :class:`SpecErrors`; ``weak_next=True`` reads a bare ``X`` as weak."""
    from speclang import compiler

    if isinstance(f, str):
        f = parse_formula(f, weak_next=weak_next)
    return compiler.compile_formula(f, **budgets)


def compile_file(
    path: str | Path, spec: str | None = None, *, weak_next: bool = False, **budgets: Any
) -> Automaton | dict[str, Automaton]:
    """Load, check and compile a ``.spec`` file: one automaton when ``spec`` is named, else
    a dict of every spec's automaton in file order."""
    from speclang.compiler import compile_spec

    module = load(str(path), weak_next=weak_next)
    if spec is not None:
        return compile_spec(module, spec, **budgets)
    return {name: compile_spec(module, name, **budgets) for name in module.specs}


def write_spec_report(
    path: str | Path, out: str | Path, *, hide_sink: bool = False, **budgets: Any
) -> Path:
    """Load and compile every spec of ``path`` and write its HTML page (the page of
    ``speclang report-spec``) to ``out``."""
    from speclang.compiler import compile_spec
    from speclang.compiler.report_spec import build_report

    module = load(str(path))
    automata = {name: compile_spec(module, name, **budgets) for name in module.specs}
    target = Path(out)
    target.write_text(build_report(module, automata, hide_sink=hide_sink), encoding="utf-8")
    return target
