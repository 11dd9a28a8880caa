"""Spec text to core IR: the front end's entry points, re-exported by the ``speclang`` façade.

The layers under the façade (agents, llm, the front end's own helpers) import these from here:
dependencies point one way (CLI -> façade -> agents, llm -> runtime -> compiler), so nothing
below the façade may import it.

- :func:`parse_formula` - one free formula -> core IR (any proposition names allowed);
- :func:`load` / :func:`loads` - a ``.spec`` file -> checked, lowered :class:`Module`;
- :func:`check_file` - all diagnostics (errors and warnings) of a file, for ``speclang check``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from speclang.diagnostics import Diagnostic, SpecErrors
from speclang.model import Module

if TYPE_CHECKING:  # compiler imports numpy; `speclang check` does not need it
    from speclang.analysis import Program
    from speclang.compiler.ir import Formula


def parse_formula(text: str, *, weak_next: bool = False, tenses: bool = False) -> Formula:
    """Parse one formula (LTLf2DFA/Lydia/Spot syntax pastes in) into the core IR.

    ``weak_next=True`` reads a bare ``X`` as weak next, as Spot and Lydia do. ``tenses=True``
    also reports a future operator under a past one as E025 located in ``text``, as ``check``
    does in a file (the CLI's ``-f``); without it the compiler raises ``UnsupportedFormula``
    for it, which the Python API keeps."""
    from speclang.analysis import check_bounds, misplaced_error
    from speclang.diagnostics import error
    from speclang.lower import lower_free
    from speclang.parser import parse_formula_text
    from speclang.syntax import Bounded, Call, walk

    path = "<formula>"
    tree, diags = parse_formula_text(text, path, weak_next=weak_next)
    if tree is not None:
        for node in walk(tree):
            if isinstance(node, Bounded):
                diags.extend(check_bounds(node))
            elif isinstance(node, Call):
                diags.append(error("E010", f'undeclared template "{node.name}"',
                                   node.name_span, "templates need a .spec file with `def`"))
        if tenses and not diags:
            from speclang.tenses import Tenses

            diags.extend(misplaced_error(m) for m in Tenses().of(tree, None).misplaced)
    if diags or tree is None:
        raise SpecErrors(diags, {path: text})
    return lower_free(tree)


def _program(path: str | None, text: str | None, weak_next: bool) -> Program:
    from speclang.analysis import Program

    program = Program(weak_next=weak_next)
    if text is not None:
        program.load_text(text, path or "<string>")
    else:
        assert path is not None
        program.load_path(path)
    program.check()
    return program


# Errors that concern only the specs whose formulas contain them: with ``keep_going`` those
# specs are left out and the others still load.
_SPEC_LOCAL = frozenset({"E025"})


def _module(program: Program, keep_going: bool = False) -> Module:
    from speclang.lower import build_module

    errors = program.errors
    if errors and not (keep_going and all(d.code in _SPEC_LOCAL for d in errors)):
        raise SpecErrors(program.diagnostics, program.sources)
    module = build_module(program)
    module.errors = errors
    return module


def load(path: str, *, weak_next: bool = False, keep_going: bool = False) -> Module:
    """Parse, check and lower a ``.spec`` file and its imports.

    Raises :class:`SpecErrors` if there is any error; warnings are in ``Module.warnings``.
    With ``keep_going``, a spec whose own formula has an error (E025, a future operator
    under a past one) is left out, with its errors in ``Module.rejected``, and the other
    specs load (every such error is in ``Module.errors``)."""
    return _module(_program(str(path), None, weak_next), keep_going)


def loads(text: str, path: str = "<string>", *, weak_next: bool = False,
          keep_going: bool = False) -> Module:
    """Like :func:`load` for text in memory (imports resolve relative to ``path``)."""
    return _module(_program(path, text, weak_next), keep_going)


def check_file(path: str, *, weak_next: bool = False) -> tuple[list[Diagnostic], dict[str, str]]:
    """Every diagnostic of a file and its imports (sorted), and the sources to render them."""
    program = _program(str(path), None, weak_next)
    return program.diagnostics, program.sources
