"""The four runtime-verification verdicts of a monitor state.

Its own module so that the algorithms below the automaton (graph, tables) can name verdicts
without importing :mod:`speclang.compiler.automaton`, which re-exports it.
"""

from __future__ import annotations

import enum


class Verdict(enum.IntEnum):
    """Four-valued runtime-verification verdict of a state."""

    SATISFIED = 0  # accepting, and every continuation is accepted
    PRESUMABLY_SATISFIED = 1  # accepting now, can still be lost
    PRESUMABLY_VIOLATED = 2  # not accepting now, can still be met
    VIOLATED = 3  # no continuation is accepted (the violation sink)

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Verdict:
        return cls[text.upper()]
