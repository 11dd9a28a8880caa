"""speclang: safety specifications for learning agents.

Public front-end API (for users and the CLI):

- :func:`parse_formula` - one free formula -> core IR (any proposition names allowed);
- :func:`load` / :func:`loads` - a ``.spec`` file -> checked, lowered :class:`Module`;
- :func:`check_file` - all diagnostics (errors and warnings) of a file, for ``speclang check``.

Errors are raised as :class:`SpecErrors`, whose ``str()`` is the rendered diagnostics. The
functions live in :mod:`speclang.loader`, where the layers below this façade import them from.
"""

from __future__ import annotations

from speclang.diagnostics import Diagnostic, Span, SpecErrors, render
from speclang.loader import check_file, load, loads, parse_formula
from speclang.model import Comparison, Conjunct, Module, ObservableType, SpecDef

__version__ = "0.1.0"

__all__ = [
    "Comparison", "Conjunct", "Diagnostic", "Module", "ObservableType", "SpecDef",
    "SpecErrors", "Span", "check_file", "load", "loads", "parse_formula", "render",
]
