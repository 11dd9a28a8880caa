"""Which tokens can make a proposition true: what lets the shield skip the monitor, and the
score vector, on most generated tokens.

Every lexical pattern with a :class:`~llm.labels.MatchNeed` (a character class or one of a
few strings that every match contains) gives a *trigger*: a text without the need makes
the proposition false, and a text that lacks it can only gain it from what is appended. So
while the text a proposition can see (its *scope*: the sentence so far for ``@span`` and
``@sentence``, the pending unit for ``@word``) lacks the need, the only tokens that can make
it true are those that bring the need along: the *candidates*, precomputed per vocabulary
(a token holding the need, or ending a needed string that the text so far begins).

Per monitor state ``q`` the shield keeps the smallest set of triggers whose falsity keeps
the violation sink out of reach: every state reachable from ``q`` by letters in which they
are false (the other propositions taking any value) is not the sink, and steps on such
letters stay among those states. While no scope holds a need, then,

- the monitor cannot be in the sink and need not be stepped at all (the text is kept and
  fed at once when it is needed: units do not depend on how the text arrives), and
- a token that is not a candidate cannot lead into the sink, whatever the monitor's state.

For greedy decoding this leaves one question per token: is the model's choice (the argmax)
a candidate? Only when it is does the shield step the monitor and check it; when sampling,
only the candidates among the ``top_k`` are checked.
"""

from __future__ import annotations

import bisect
import re
import string
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import product
from typing import Any

import numpy as np

from speclang.llm.labels import match_need

# Props beyond this many are not tabulated (2^n letters per state).
_MAX_PROPS = 10


def ascii_fold_table(chars: Iterable[str]) -> dict[int, str]:
    """A ``str.translate`` table that maps every character ``re`` matches to an ASCII letter
    under IGNORECASE (A-Z, and a few others: the Kelvin sign, the long s...) to that letter
    in lower case, so that a case-insensitive ASCII string occurs in a text only if it
    occurs in the folded text. Other characters are kept as they are: they can match no
    ASCII character."""
    table: dict[int, str] = {ord(c): c.lower() for c in string.ascii_uppercase}
    others = sorted({c for c in chars if not c.isascii()})
    if not others:
        return table
    # One class test per character, then the letter for the few that pass.
    any_letter = re.compile("[a-z]", re.IGNORECASE)
    letters = [(a, re.compile(a, re.IGNORECASE)) for a in string.ascii_lowercase]
    for c in others:
        if any_letter.fullmatch(c) is None:
            continue
        for a, pat in letters:
            if pat.fullmatch(c) is not None:
                table[ord(c)] = a
                break
    return table


@dataclass
class Trigger:
    """One proposition's need, tabulated over a vocabulary."""

    prop: str
    scope: str  # "sentence": from the sentence start; "unit": from the pending unit's start
    has: list[bool]  # the token's text alone holds the need (a list: indexed per token)
    has_np: np.ndarray
    chars: re.Pattern[str] | None
    literals: tuple[str, ...]  # folded (empty for a character class)
    fold: dict[int, str] | None  # translate table for case-insensitive literals
    keep: int  # folded characters of the scope to keep: the longest literal minus one
    folded: list[str]  # per token, its folded text (literals only)
    literal_re: re.Pattern[str] | None
    cross: dict[str, frozenset[int]]  # folded text end L[:k] -> tokens starting with L[k:]

    def text_holds(self, text: str) -> bool:
        """Whether ``text`` holds the need (so the proposition may be true on it)."""
        if self.chars is not None:
            return self.chars.search(text) is not None
        folded = text.translate(self.fold) if self.fold is not None else text
        return self.literal_re.search(folded) is not None  # type: ignore[union-attr]

    def __post_init__(self) -> None:
        self._ends: dict[str, frozenset[int]] = {}

    def ends(self, tail: str) -> frozenset[int]:
        """The tokens that end one of the literals which the folded ``tail`` begins
        (memoised: a text end has at most ``keep`` characters)."""
        got = self._ends.get(tail)
        if got is None:
            got = frozenset().union(*(self.cross.get(tail[-k:], ())
                                      for k in range(1, len(tail) + 1)))
            if len(self._ends) < 65536:
                self._ends[tail] = got
        return got

    def fold_text(self, text: str) -> str:
        return text.translate(self.fold) if self.fold is not None else text

    def tail(self, text: str) -> str:
        """The folded end of ``text`` that a literal may continue."""
        return self.fold_text(text[-self.keep:]) if self.keep else ""


def make_trigger(prop: str, pattern: Any, texts: Sequence[str],
                 fold: dict[int, str] | None) -> Trigger | None:
    """The trigger of a lexical proposition (a ``TextPattern``), or None without a need."""
    need = match_need(pattern.compiled)
    if need is None:
        return None
    scope = "unit" if pattern.granularity == "word" else "sentence"
    if need.chars is not None:
        probe = need.chars
        has = [probe.search(t) is not None for t in texts]
        return Trigger(prop, scope, has, np.asarray(has, dtype=bool), probe, (), None, 0, [],
                       None, {})
    table = fold if need.ignore_case else None
    literals = need.literals
    folded = [t.translate(table) for t in texts] if table is not None else list(texts)
    literal_re = re.compile("|".join(map(re.escape, sorted(literals, key=len, reverse=True))))
    has = [literal_re.search(f) is not None for f in folded]
    # Tokens that end a literal which the text before them begins: by sorted folded text,
    # the tokens starting with a given string are one contiguous run.
    order = sorted(range(len(folded)), key=folded.__getitem__)
    keys = [folded[i] for i in order]
    cross: dict[str, list[int]] = {}
    for lit in literals:
        for k in range(1, len(lit)):
            rest = lit[k:]
            lo = bisect.bisect_left(keys, rest)
            hi = bisect.bisect_left(keys, rest + "\U0010ffff")
            if hi > lo:
                cross.setdefault(lit[:k], []).extend(order[lo:hi])
    return Trigger(prop, scope, has, np.asarray(has, dtype=bool), None, literals, table,
                   max(map(len, literals)) - 1, folded, literal_re,
                   {k: frozenset(v) for k, v in cross.items()})


@dataclass
class StateTriggers:
    """For one monitor state: the triggers whose falsity keeps the sink away (those with
    literals again in ``literal``, in order), and the tokens that hold one of their needs
    on their own (as a mask, and as a list for indexing one token)."""

    triggers: tuple[Trigger, ...]
    literal: tuple[Trigger, ...]
    mask: np.ndarray
    is_cand: list[bool]

    def ends_any(self, tails: Sequence[str], token: int) -> bool:
        """Whether ``token`` ends a needed string which the text begins, given the folded
        ends of the scopes (one per trigger of ``literal``)."""
        return any(token in trig.ends(tail)
                   for trig, tail in zip(self.literal, tails, strict=True))


class TriggerTables:
    """Per (monitor, vocabulary): the triggers of its propositions, and per state the
    :class:`StateTriggers` (None where the sink is not kept away by falsity of lexical
    needs alone, e.g. ``G a``, or propositions without a need)."""

    def __init__(self, monitor: Any, texts: Sequence[str]) -> None:
        aut, labeler = monitor.aut, monitor.labeler
        props = list(aut.props)
        fold = ascii_fold_table({c for t in texts for c in t})
        triggers: dict[str, Trigger] = {}
        for p in props:
            pattern = labeler.patterns.get(p)
            if pattern is None or p in labeler.classifiers:
                continue
            trig = make_trigger(p, pattern, texts, fold)
            if trig is not None:
                triggers[p] = trig
        self.triggers = triggers
        self.vocab = len(texts)
        self.states: list[StateTriggers | None] = [None] * aut.n_states
        # Per lazy state, the states that text without the needs of its triggers can lead
        # to (where a lazy row's monitor may really be before its text is fed).
        self.stays: list[frozenset[int]] = [frozenset()] * aut.n_states
        if aut.violation_sink is None or len(props) > _MAX_PROPS:
            return
        letters = [dict(zip(props, bits, strict=True))
                   for bits in product((False, True), repeat=len(props))]
        step = [[aut.step(q, letter) for letter in letters] for q in range(aut.n_states)]
        sink = aut.violation_sink

        def stays(q: int, false: set[str]) -> set[int]:
            """The states reached from ``q`` by letters in which ``false`` are false."""
            ok = [i for i, letter in enumerate(letters) if not any(letter[p] for p in false)]
            seen, todo = {q}, [q]
            while todo:
                s = todo.pop()
                if s == sink:
                    break
                for i in ok:
                    t = step[s][i]
                    if t not in seen:
                        seen.add(t)
                        todo.append(t)
            return seen

        def keeps_away(q: int, false: set[str]) -> bool:
            return sink not in stays(q, false)

        # Drop the triggers with the most candidates first: the fewer candidates, the
        # likelier a token is decided without the monitor.
        by_cost = sorted(triggers, key=lambda p: -int(triggers[p].has_np.sum()))
        shared: dict[tuple[str, ...], StateTriggers] = {}
        for q in range(aut.n_states):
            if q == sink:
                continue
            chosen = set(triggers)
            if not keeps_away(q, chosen):
                continue
            for p in by_cost:
                if keeps_away(q, chosen - {p}):
                    chosen.discard(p)
            key = tuple(p for p in props if p in chosen)
            st = shared.get(key)
            if st is None:  # states with the same triggers share one (the lists are large)
                trigs = tuple(triggers[p] for p in key)
                mask = np.zeros(len(texts), dtype=bool)
                for t in trigs:
                    mask |= t.has_np
                st = shared[key] = StateTriggers(
                    trigs, tuple(t for t in trigs if t.chars is None), mask, mask.tolist())
            self.states[q] = st
            self.stays[q] = frozenset(stays(q, chosen))
