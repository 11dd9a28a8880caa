"""Resource budgets of a compilation, and the errors raised when one is exceeded.

The DFA of an LTLf formula can be doubly exponential in its size, so every construction
loop polls a :class:`Budget`: a state count, a decision-diagram node count (which bounds
memory) and a wall-clock deadline. Exceeding any of them raises :class:`BudgetExceeded`
long before the machine runs out of memory.
"""

from __future__ import annotations

import time

DEFAULT_MAX_STATES = 100_000
# ~150 bytes per node in the Python lists and unique table: about 1.2 GB at the limit.
DEFAULT_MAX_NODES = 8_000_000


class CompileError(Exception):
    """Base class of the errors the compiler raises for a formula it cannot compile."""


class UnsupportedFormula(CompileError):
    """The formula uses a construct the translation does not support (future operators
    nested inside past operators)."""

    def __init__(self, subformula: str, reason: str) -> None:
        self.subformula = subformula
        self.reason = reason
        super().__init__(f"unsupported formula `{subformula}`: {reason}")


class BudgetExceeded(CompileError):
    """A compilation exceeded one of its budgets (``max_states``, ``max_nodes`` or
    ``timeout``)."""

    def __init__(
        self, spec: str | None, budget: str, limit: float, reached: float, what: str = ""
    ) -> None:
        self.spec = spec
        self.budget = budget
        self.limit = limit
        self.reached = reached
        subject = f"spec `{spec}`" if spec else "formula"
        unit = " s" if budget == "timeout" else ""
        extra = f" {what}" if what else ""
        super().__init__(
            f"{subject}: budget {budget}={limit:g}{unit} exceeded (reached {reached:g}{unit}"
            f"{extra}); raise the budget or simplify the specification"
        )


class Budget:
    """Limits of one compilation; ``check_*`` raise :class:`BudgetExceeded`."""

    __slots__ = ("spec", "max_states", "max_nodes", "timeout", "start", "deadline")

    def __init__(
        self,
        spec: str | None = None,
        *,
        max_states: int = DEFAULT_MAX_STATES,
        max_nodes: int = DEFAULT_MAX_NODES,
        timeout: float | None = None,
    ) -> None:
        if max_states < 1:
            raise ValueError("max_states must be at least 1")
        if timeout is not None and timeout <= 0:
            raise ValueError("timeout must be positive")
        self.spec = spec
        self.max_states = max_states
        self.max_nodes = max_nodes
        self.timeout = timeout
        self.start = time.monotonic()
        self.deadline = None if timeout is None else self.start + timeout

    def check_states(self, n: int) -> None:
        if n > self.max_states:
            raise BudgetExceeded(self.spec, "max_states", self.max_states, n)

    def too_many_residuals(self, n: int) -> None:
        """Distinct residual formulas (candidate states) far beyond ``max_states``."""
        raise BudgetExceeded(
            self.spec, "max_states", self.max_states, n, "distinct residual formulas"
        )

    def residual_limit(self) -> int:
        return 4 * self.max_states + 1024

    def check_nodes(self, n: int) -> None:
        if n > self.max_nodes:
            raise BudgetExceeded(self.spec, "max_nodes", self.max_nodes, n)
        self.check_time()

    def check_time(self) -> None:
        if self.deadline is not None:
            now = time.monotonic()
            if now > self.deadline:
                assert self.timeout is not None
                raise BudgetExceeded(self.spec, "timeout", self.timeout, round(now - self.start, 3))
