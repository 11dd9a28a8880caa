"""The speclang compiler: LTLf (with past) specifications to minimal DFAs with verdicts.

Public API: :func:`compile_formula`, :func:`compile_spec`, :func:`product`, and the errors
:class:`BudgetExceeded` / :class:`UnsupportedFormula`.

The compiler takes core IR (:mod:`speclang.compiler.ir`), never text, and imports nothing
of the front end: text and ``.spec`` files go through ``speclang.compile_formula`` /
``speclang.compile_file``, which parse and then call this package.
"""

from __future__ import annotations

if __name__ != "speclang.compiler":  # a bare `compiler` would load every module a second time
    raise ImportError(
        "speclang's compiler package is imported as `speclang.compiler`, not `compiler` "
        "(the bare name is not installed; run from a checkout, it would load every module twice)"
    )

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from speclang.compiler.budget import (
    DEFAULT_MAX_MEMORY,
    DEFAULT_MAX_NODES,
    DEFAULT_MAX_STATES,
    DEFAULT_TIMEOUT,
    Budget,
    BudgetExceeded,
    CompileError,
    UnsupportedFormula,
)
from speclang.compiler.ir import Formula

if TYPE_CHECKING:
    from speclang.compiler.automaton import Automaton, Verdict
    from speclang.compiler.product_monitor import ProductMonitor


def __getattr__(name: str) -> Any:
    # Automaton and Verdict bring numpy: loaded when first asked for, so that the front end
    # and the runtime can import the IR, keywords and comparisons without it
    # (`speclang check` needs no numpy).
    if name in ("Automaton", "Verdict"):
        from speclang.compiler import automaton

        return getattr(automaton, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def connect_pictures() -> None:
    """Give automata their drawers. The automaton draws itself (to_dot, Jupyter display) with
    viz, which sits above it: the package, which depends on both, connects them (when an
    automaton first draws itself), so no compiler module imports one above it."""
    from speclang.compiler import automaton, viz

    automaton.register_pictures(viz.to_dot, viz.svg_or_none)

__all__ = [
    "Automaton",
    "BudgetExceeded",
    "CompileError",
    "UnsupportedFormula",
    "Verdict",
    "compile_formula",
    "compile_spec",
    "product",
]


def compile_formula(
    f: Formula,
    *,
    name: str | None = None,
    max_states: int = DEFAULT_MAX_STATES,
    timeout: float | None = DEFAULT_TIMEOUT,
    max_nodes: int = DEFAULT_MAX_NODES,
    max_memory: int | None = DEFAULT_MAX_MEMORY,
    source_hash: str | None = None,
) -> Automaton:
    """Compile one formula (a core IR node) to its minimal complete DFA. Raises
    :class:`BudgetExceeded` when ``max_states`` states, ``max_nodes`` decision-diagram nodes,
    ``timeout`` seconds (default 60) or ``max_memory`` bytes of resident-memory growth
    (default 2 GiB) are exceeded (None: no limit), :class:`UnsupportedFormula` for future
    operators under past operators. Text is compiled by ``speclang.compile_formula``."""
    from speclang.compiler.build import build_automaton

    if not isinstance(f, Formula):
        raise TypeError(
            f"speclang.compiler.compile_formula takes a formula in core IR, not a "
            f"{type(f).__name__}; compile text with speclang.compile_formula(text)"
        )
    budget = Budget(name, max_states=max_states, max_nodes=max_nodes, timeout=timeout,
                    max_memory=max_memory)
    return build_automaton(f, budget, name=name, source_hash=source_hash)


def compile_spec(module: Any, spec_name: str, **budgets: Any) -> Automaton:
    """Compile the spec ``spec_name`` of a loaded ``speclang.Module``."""
    try:
        spec = module.specs[spec_name]
    except KeyError:
        known = ", ".join(module.specs) or "none"
        raise KeyError(f"no spec named `{spec_name}` (specs: {known})") from None
    budgets.pop("weak_next", None)
    aut = compile_formula(
        spec.formula,
        name=spec_name,
        source_hash=getattr(module, "source_hash", None),
        **budgets,
    )
    # A learned proposition is only as fixed as its labeler file: the artifact names the
    # file and its content hash (the source hash covers it too), so a monitor built from
    # it can refuse another labeler.
    derived = getattr(module, "derived", {}) or {}
    learned = {p: {"path": derived[p].path, "sha256": derived[p].sha256} for p in aut.props
               if getattr(derived.get(p), "op", None) == "classifies"}
    if learned:
        aut.meta["classifiers"] = learned
    return aut


def product(automata: Sequence[Automaton], **budgets: Any) -> ProductMonitor:
    """One monitor over the union of the parts' propositions that steps every part at once
    and keeps each part's state and verdict (see
    :class:`speclang.compiler.product_monitor.ProductMonitor`)."""
    from speclang.compiler.product_monitor import build_product

    return build_product(list(automata), **budgets)
