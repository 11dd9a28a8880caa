"""Resource budgets of a compilation, and the errors raised when one is exceeded.

The DFA of an LTLf formula can be doubly exponential in its size, so every construction
loop polls a :class:`Budget`: a state count, a decision-diagram node count, a wall-clock
deadline and the growth of the process's resident memory. Exceeding any of them raises
:class:`BudgetExceeded` long before the machine runs out of memory.

The defaults keep a laptop responsive: a compilation that would run longer than a minute or
grow the process by more than 2 GiB stops with the error instead (docs/language.md).
"""

from __future__ import annotations

import os
import time

DEFAULT_MAX_STATES = 100_000
# ~150 bytes per node in the Python lists and unique table: about 1.2 GB at the limit.
DEFAULT_MAX_NODES = 8_000_000
DEFAULT_TIMEOUT = 60.0  # seconds
DEFAULT_MAX_MEMORY = 2 << 30  # bytes of resident-memory growth during one compilation
# Resident memory is read at most this often (a /proc read costs a few microseconds; the
# construction allocates at most ~100 MB in this time, well inside 10% of the limit).
_MEMORY_EVERY = 0.02


def resident_bytes() -> int | None:
    """The process's resident set size, or None where /proc is not available."""
    try:
        with open("/proc/self/statm", "rb") as fh:
            return int(fh.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return None


_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


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
        unit = {"timeout": " s", "max_memory": " MiB"}.get(budget, "")
        extra = f" {what}" if what else ""
        if budget == "max_memory":  # shown in MiB, counted in bytes
            limit, reached = round(limit / (1 << 20)), round(reached / (1 << 20))
        super().__init__(
            f"{subject}: budget {budget}={limit:g}{unit} exceeded (reached {reached:g}{unit}"
            f"{extra}); raise the budget or simplify the specification"
        )


class Budget:
    """Limits of one compilation; ``check_*`` raise :class:`BudgetExceeded`."""

    __slots__ = ("spec", "max_states", "max_nodes", "timeout", "start", "deadline",
                 "max_memory", "_rss0", "_next_memory")

    def __init__(
        self,
        spec: str | None = None,
        *,
        max_states: int = DEFAULT_MAX_STATES,
        max_nodes: int = DEFAULT_MAX_NODES,
        timeout: float | None = DEFAULT_TIMEOUT,
        max_memory: int | None = DEFAULT_MAX_MEMORY,
    ) -> None:
        """``timeout`` / ``max_memory`` None: unlimited."""
        if max_states < 1:
            raise ValueError("max_states must be at least 1")
        if timeout is not None and timeout <= 0:
            raise ValueError("timeout must be positive")
        if max_memory is not None and max_memory <= 0:
            raise ValueError("max_memory must be positive")
        self.spec = spec
        self.max_states = max_states
        self.max_nodes = max_nodes
        self.timeout = timeout
        self.start = time.monotonic()
        self.deadline = None if timeout is None else self.start + timeout
        self.max_memory = max_memory
        self._rss0 = resident_bytes() if max_memory is not None else None
        self._next_memory = self.start + _MEMORY_EVERY

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
        """The deadline, and (at most every 20 ms) the growth of resident memory."""
        now = time.monotonic()
        if self.deadline is not None and now > self.deadline:
            assert self.timeout is not None
            raise BudgetExceeded(self.spec, "timeout", self.timeout, round(now - self.start, 3))
        if self._rss0 is not None and now >= self._next_memory:
            self._next_memory = now + _MEMORY_EVERY
            self.check_memory()

    def check_memory(self, coming: int = 0) -> None:
        """Resident growth so far, plus ``coming`` bytes about to be allocated at once (an
        array built in one numpy call grows the process between two polls)."""
        if self._rss0 is None or self.max_memory is None:
            return
        rss = resident_bytes()
        if rss is not None and rss - self._rss0 + coming > self.max_memory:
            what = "of resident memory grown"
            if coming:
                what += f", {coming / (1 << 20):.0f} MiB more about to be allocated"
            raise BudgetExceeded(self.spec, "max_memory", self.max_memory, rss - self._rss0,
                                 what)
