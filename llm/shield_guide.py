"""The shield's guide: per token sequence, the monitor state and which next tokens are safe.

Framework-free (numpy arrays in, numpy arrays out), like outlines-core's guide. The monitor
state is a function of the token sequence, not of the row that holds it: each call looks
every row up by its content among the previous call's sequences, so a row continues the
sequence it extends by one token (beam search reorders and duplicates rows,
``num_return_sequences`` repeats them), and a call whose rows continue nothing starts over
with each row as a new prompt (a processor reused across ``generate`` calls, a pipeline over
a dataset, left-padded batches). What cannot be followed that way is refused with an error,
never guessed: a call in which some rows continue earlier sequences and others do not, and a
row that goes back inside an earlier sequence's generated text (assisted decoding).

How a token is judged (see docs/llm.md): appending its text to the sequence may complete
units (each one monitor step) and leaves a pending unit, which is judged *as if it ended
there*, so that "200 mg" is refused at " mg" rather than after the following space.

Cost control, per sequence and decoding step:

1. lazy rows (:mod:`speclang.llm.triggers`): while the text lacks what the patterns that could
   lead into the sink need (a digit, a swear word's letters...), the monitor is not stepped
   and only *candidate* tokens, which bring such a need, can violate; greedy decoding then
   costs one argmax and a lookup per row, and the monitor is fed only when a candidate is
   the best token or the text holds a need; sampling feeds a lazy row only when a
   candidate is among its ``top_k``, or when its unfed text may have reached a state from
   which no token reaches the sink (such a row is left unmasked);
2. per (spec, tokenizer) and monitor state, the tokens that violate on their own, as a fresh
   unit, are precomputed once (:class:`~speclang.llm.shield_index.ShieldTables`);
3. the remaining tokens are checked exactly, with their context, in logit order, only
   among the ``top_k`` best (found for all rows of a step at once, :func:`top_k_rows`);
   everything unchecked is masked too, so the shield is sound:
   sampling only ever picks verified tokens (as top-k sampling would).

The check itself is :meth:`TextMonitor.would_violate`; the greedy path's check of the best
token is reused when the tracker feeds that token, so a token is labelled once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from speclang.llm.monitor import TextMonitor, _Row
from speclang.llm.shield_index import ShieldTables, utf8_step
from speclang.llm.triggers import StateTriggers, TriggerTables


class UnfollowableSequences(RuntimeError):
    """A call's rows cannot be matched to the sequences the shield has judged."""


def _top_k(arr: np.ndarray, k: int) -> list[int]:
    """The indices of the ``k`` largest scores, best first (ties in any order; NaN scores
    rank last, so they are never verified)."""
    return top_k_rows(arr[None, :], k)[0]


# Groups of this many scores: the block top-k below reads one maximum per group.
_GROUP = 32


def top_k_rows(scores: np.ndarray, k: int) -> list[list[int]]:
    """:func:`_top_k` of every row of ``scores`` (batch x vocabulary) at once.

    On a large vocabulary the scores of a row are cut into ``_GROUP`` interleaved groups
    (``scores[r].reshape(_GROUP, -1)``: one element-wise maximum over contiguous rows, a few
    microseconds for 49k scores); the ``k``-th largest group maximum is a threshold that at
    least ``k`` scores reach (each of those ``k`` groups has one), so every one of the ``k``
    largest scores reaches it too, and only the groups whose maximum reaches it (about ``k``
    of them) are read again. A row with NaN scores, or whose threshold lets through more
    than a few groups (ties, scores masked to -inf), is sorted whole instead."""
    b, n = scores.shape
    k = min(k, n)
    groups = n // _GROUP
    out: list[list[int]] = []
    if groups < 4 * k:
        return [_top_k_sorted(row, k) for row in scores]
    m = groups * _GROUP
    gmax = scores[:, :m].reshape(b, _GROUP, groups).max(axis=1)  # NaN propagates
    thr = np.partition(gmax, groups - k, axis=1)[:, groups - k]
    offsets = np.arange(_GROUP)[:, None] * groups
    for r in range(b):
        row, t = scores[r], thr[r]
        cols = np.flatnonzero(gmax[r] >= t)
        if not t > -np.inf or cols.shape[0] > 4 * k or np.isnan(gmax[r]).any():
            out.append(_top_k_sorted(row, k))  # (t is NaN or -inf; or ties)
            continue
        idx = (offsets + cols).ravel()
        idx = idx[row[idx] >= t]
        if m < n:  # the last scores, in no group
            idx = np.concatenate([idx, m + np.flatnonzero(row[m:] >= t)])
        if idx.shape[0] < k:  # only with NaN scores beyond the groups
            out.append(_top_k_sorted(row, k))
            continue
        out.append(idx[np.argsort(row[idx], kind="stable")[::-1][:k]].tolist())
    return out


def _top_k_sorted(arr: np.ndarray, k: int) -> list[int]:
    order = np.argsort(np.where(np.isnan(arr), -np.inf, arr), kind="stable")[::-1]
    return order[:k].tolist()


def _no_candidate(st: StateTriggers | None, tails: list[str], t: int) -> bool:
    """Whether token ``t`` is safe without a check: it is no candidate of a lazy row whose
    literal scopes end in ``tails``."""
    return st is not None and not st.is_cand[t] and not (st.literal and st.ends_any(tails, t))


def as_ids(input_ids: Any) -> np.ndarray:
    """A 2-d integer array of token ids (a CPU tensor is viewed, not copied)."""
    if isinstance(input_ids, np.ndarray):
        return input_ids
    return np.asarray(input_ids)


@dataclass
class Intervention:
    """The shield refused the model's preferred token at one step of one sequence."""

    row: int
    position: int  # generated tokens before this step
    refused: str  # the best-scored token's text
    chosen_from: int  # how many verified tokens remained
    reason: str

    def __str__(self) -> str:
        return (f"[shield] sequence {self.row}, token {self.position}: refused "
                f"{self.refused!r} ({self.reason}); {self.chosen_from} safe candidates left")


class SequenceTracker:
    """Keeps a :class:`TextMonitor` in step with the token sequences of ``generate``: every
    call takes the tokens appended since the last call (idempotent, so the logits processor
    and the stopping criterion can share one). Row ``r`` of the monitor is the sequence in
    row ``r`` of the latest call; each row's state comes from the sequence it continues (see
    the module docstring), and ``prompt_lens[r]`` is where its generated text begins.

    With ``triggers`` (see :mod:`speclang.llm.triggers`) the monitor is stepped lazily: while no
    proposition's scope holds its need, the new token ids are only kept (the monitor cannot
    be in the sink then, and stepping it costs more than the shield's budget per token), and
    their text is fed at once when the exact state is needed (:meth:`settle`). Read the
    monitor after :meth:`flush`, or use :meth:`generated` and :meth:`violated`."""

    def __init__(self, monitor: TextMonitor, texts: Sequence[str],
                 triggers: TriggerTables | None = None,
                 pieces: Sequence[bytes] | None = None,
                 tails: Sequence[bytes] | None = None) -> None:
        self.monitor = monitor
        self.texts = texts
        # With the tokens' bytes, a character split over tokens is decoded once whole:
        # ``held`` keeps, per row, the bytes of the character still incomplete.
        self.pieces = pieces
        self.token_tails: Sequence[bytes] = tails if tails is not None else ()  # read with pieces
        self.held: list[bytes] = []
        self.triggers = triggers
        self.prompt_lens: list[int] = []
        self.starts = 0  # how many times a call started over with new prompts
        # Per row: the state's triggers while the row is lazy (None: fed at once), the ids
        # not yet fed, per literal trigger the folded end of its scope, the length of the
        # monitor's text when this was worked out (a row fed from outside is redone), and
        # the token the shield found to be no candidate at its last call (the greedy choice,
        # if nothing changed it), whose feeding then needs no test.
        self.lazy: list[StateTriggers | None] = []
        self.deferred: list[list[int]] = []
        self.tails: list[list[str]] = []
        self.marks: list[int] = []
        self.expected: list[int] = []
        # The previous call's sequences (the keys of the rows' states) and, built on
        # demand, their index by content.
        self.prev: np.ndarray | None = None
        self.prev_index: dict[bytes, int] | None = None

    def _reset(self, batch: int) -> None:
        self.monitor.reset(batch)
        self.held = [b""] * batch
        self.lazy = [None] * batch
        self.deferred = [[] for _ in range(batch)]
        self.tails = [[] for _ in range(batch)]
        self.marks = [-1] * batch
        self.expected = [-1] * batch
        self.prompt_lens = [0] * batch
        for row in range(batch):
            self._checkpoint(row)

    def _checkpoint(self, row: int) -> None:
        """Decide from the monitor's exact state and text whether ``row`` may go lazy."""
        r = self.monitor.rows[row]
        stream = r.stream
        self.marks[row] = len(stream.text)
        self.expected[row] = -1
        st = self.triggers.states[r.state] if self.triggers is not None else None
        if self.held and self.held[row]:
            st = None  # a character is incomplete: every next token is checked
        tails: list[str] = []
        if st is not None:
            for trig in st.triggers:
                start = stream.sentence_start if trig.scope == "sentence" else stream.unit_start
                scope = stream.text[start:]
                if trig.text_holds(scope):
                    st, tails = None, []
                    break
                if trig.chars is None:
                    tails.append(trig.tail(scope))
        self.lazy[row] = st
        self.tails[row] = tails

    def settle(self, row: int) -> None:
        """Feed ``row``'s deferred text to the monitor (its state is then exact)."""
        pending = self.deferred[row]
        if pending:
            texts, feed = self.texts, self.monitor.feed
            if self.monitor.unit == "token":  # each piece is a unit of its own
                for i in pending:
                    feed(row, texts[i])
            else:  # units do not depend on how the text arrives: feed it at once
                feed(row, "".join([texts[i] for i in pending]))
            pending.clear()
        self._checkpoint(row)

    def flush(self) -> None:
        for row in range(len(self.deferred)):
            self.settle(row)

    def _fed_outside(self, row: int) -> bool:
        """Whether the monitor's text of ``row`` changed since the last checkpoint."""
        return len(self.monitor.rows[row].stream.text) != self.marks[row]

    def _push(self, row: int, token: int) -> None:
        """Take one new token of ``row``: keep it while the row stays lazy, else feed."""
        if self._fed_outside(row):
            self.settle(row)  # start over from the monitor's text
        st = self.lazy[row]
        pieces = self.pieces
        if pieces is not None and (self.held[row] or self.token_tails[token]):
            self.settle(row)
            text, self.held[row] = utf8_step(self.held[row], pieces[token])
            self.monitor.feed(row, text)
            self._checkpoint(row)
            return
        if st is None:
            self.monitor.feed(row, self.texts[token])
            self._checkpoint(row)
            return
        tails = self.tails[row]
        if token == self.expected[row]:  # no candidate: only the literals' ends move on
            hot = False
            for i, trig in enumerate(st.literal):
                tails[i] = (tails[i] + trig.folded[token])[-trig.keep:]
        else:
            hot = any(trig.has[token] for trig in st.triggers if trig.chars is not None)
            for i, trig in enumerate(st.literal):
                if hot:
                    break
                seen = tails[i] + trig.folded[token]
                hot = trig.literal_re.search(seen) is not None  # type: ignore[union-attr]
                tails[i] = seen[-trig.keep:]
        self.deferred[row].append(token)
        if hot:
            self.settle(row)

    def _parents(self, ids: np.ndarray) -> tuple[list[int], bool]:
        """Per row of ``ids``, the row of the previous call whose sequence it is or
        continues by one token (-1: none), and whether it is one token longer."""
        prev = self.prev
        batch = ids.shape[0]
        if prev is None or ids.shape[1] not in (prev.shape[1], prev.shape[1] + 1):
            return [-1] * batch, False
        step = ids.shape[1] == prev.shape[1] + 1
        index = self.prev_index
        if index is None:
            index = self.prev_index = {row.tobytes(): r for r, row in enumerate(prev)}
        heads = np.ascontiguousarray(ids[:, :-1] if step else ids)
        return [index.get(row.tobytes(), -1) for row in heads], step

    def _remap(self, parents: list[int]) -> None:
        """Give row ``r`` the monitor state of previous row ``parents[r]`` (copied when
        two rows continue the same one)."""
        rows, taken = self.monitor.rows, set()
        new_rows = []
        for p in parents:
            r = rows[p]
            if p in taken:
                r = _Row(r.stream.copy(), r.state, list(r.steps))
            taken.add(p)
            new_rows.append(r)
        self.monitor.rows = new_rows
        self.lazy = [self.lazy[p] for p in parents]
        self.held = [self.held[p] for p in parents]
        self.deferred = [list(self.deferred[p]) for p in parents]
        self.tails = [list(self.tails[p]) for p in parents]
        self.marks = [self.marks[p] for p in parents]
        self.expected = [self.expected[p] for p in parents]
        self.prompt_lens = [self.prompt_lens[p] for p in parents]

    def _start(self, ids: np.ndarray) -> None:
        """Every row is a new prompt: refuse rows that go back inside a sequence judged
        before (generated text the shield let through would be taken for prompt)."""
        prev = self.prev
        length = ids.shape[1]
        if prev is not None and length < prev.shape[1]:
            for r, row in enumerate(ids):
                for p, old in enumerate(prev):
                    if length > self.prompt_lens[p] and np.array_equal(old[:length], row):
                        raise UnfollowableSequences(
                            f"row {r} goes back to token {length} of a sequence whose "
                            f"generated text began at token {self.prompt_lens[p]}: the "
                            "shield follows sequences one token at a time (assisted or "
                            "speculative decoding is not supported; for a new prompt that "
                            "repeats generated text, use a fresh processor)")
        self.starts += 1
        self._reset(int(ids.shape[0]))
        self.prompt_lens = [length] * int(ids.shape[0])

    def sync(self, input_ids: Any) -> None:
        ids = as_ids(input_ids)
        prev = self.prev
        if prev is not None and ids.shape[0] == prev.shape[0]:
            # The usual cases, rows in place: the next token, or the same call again (the
            # stopping criterion after the processor).
            if ids.shape[1] == prev.shape[1] + 1 and np.array_equal(ids[:, :-1], prev):
                self._advance(ids)
                return
            if ids.shape == prev.shape and np.array_equal(ids, prev):
                self._recheck()
                return
        parents, step = self._parents(ids)
        if all(p < 0 for p in parents):
            self._start(ids)
            self._keep(ids)
            return
        lost = [r for r, p in enumerate(parents) if p < 0]
        if lost:
            raise UnfollowableSequences(
                f"rows {lost} of this call continue no sequence of the previous call while "
                "the others do: the shield cannot tell their generated text from their "
                "prompt (call it on every decoding step, with every sequence)")
        self._remap(parents)
        if step:
            self._advance(ids)
        else:
            self._recheck()
            self._keep(ids)

    def _recheck(self) -> None:
        for row in range(len(self.marks)):
            if self._fed_outside(row):
                self.settle(row)

    def _advance(self, ids: np.ndarray) -> None:
        """Take one new token per row (the last column of ``ids``)."""
        last = ids[:, -1].tolist()
        self._keep(ids)
        lazy, expected, deferred = self.lazy, self.expected, self.deferred
        for row, i in enumerate(last):
            st = lazy[row]
            # The common case inline: the token the shield let pass in a lazy row with
            # no literal scope to follow. (Feeding the monitor from outside while
            # ``generate`` runs is not supported; between calls it is noticed.)
            if st is not None and i == expected[row] and not st.literal:
                deferred[row].append(i)
            else:
                self._push(row, i)

    def _keep(self, ids: np.ndarray) -> None:
        self.prev = np.array(ids, copy=True)
        self.prev_index = None

    def piece(self, row: int, token: int) -> tuple[str, bool]:
        """The exact text ``token`` adds to ``row`` and whether it leaves a character
        incomplete (then the text as decoded if generation stopped there ends in U+FFFD)."""
        pieces = self.pieces
        if pieces is None or not (self.held[row] or self.token_tails[token]):
            return self.texts[token], False
        text, held = utf8_step(self.held[row], pieces[token])
        return text, bool(held)

    def violated(self, row: int) -> bool:
        if self.lazy[row] is not None and not self._fed_outside(row):
            return False  # the sink is out of reach while lazy (see llm.triggers)
        self.settle(row)
        return self.monitor.violated(row)

    def generated(self, row: int) -> str:
        self.settle(row)
        return self.monitor.rows[row].stream.text




class ShieldGuide:
    """Masks, in a batch of scores, every token that would drive the monitor into the
    violation sink (see :class:`~speclang.llm.shield.SpecLogitsProcessor` for the options).
    :meth:`process` takes the token ids and scores of one decoding step as numpy arrays and
    returns the scores, or a masked copy of them."""

    def __init__(self, monitor: TextMonitor, tables: ShieldTables, *, top_k: int = 32,
                 keep: int | None = None, eos: int | None = None, verbose: bool = False,
                 lazy: bool = True) -> None:
        if top_k < 1:
            raise ValueError(f"top_k must be at least 1, not {top_k}")
        if keep is not None and not 1 <= keep <= top_k:
            raise ValueError(f"keep must be between 1 and top_k ({top_k}), not {keep}")
        self.tables = tables
        self.tracker = SequenceTracker(monitor, tables.texts,
                                       tables.triggers if lazy else None,
                                       tables.bytes, tables.tails)
        self.monitor = monitor
        self.top_k = top_k
        self.keep = keep or top_k
        self.eos = eos
        self.interventions: list[Intervention] = []
        self.verbose = verbose
        self.checks = 0
        self.lazy_steps = 0  # row steps decided without the monitor
        # Per state, as plain Python values (indexing numpy arrays costs more than the
        # whole check does): whether no token can reach the sink from it (or it is the
        # sink), and whether some token is banned there on its own.
        sink = monitor.sink
        self._quiet = [bool(tables.far[q] > tables.reach) or q == sink
                       for q in range(monitor.aut.n_states)]
        self._any_static = [bool(x) for x in tables.static_any]
        # Per lazy state: whether the text not yet fed may have led to a quiet state (whose
        # row is left unmasked), so that a sampled row must be fed to be masked exactly.
        stays = tables.triggers.stays
        self._may_quiet = [any(self._quiet[s] for s in stays[q]) or self._quiet[q]
                           for q in range(monitor.aut.n_states)]

    def _unsafe(self, row: int, token: int, *, remember: bool = True) -> bool:
        text, partial = self.tracker.piece(row, token)
        mon = self.monitor
        if mon.would_violate(row, text, remember=remember):
            return True
        return partial and mon.would_violate(row, text + "\ufffd", remember=False)

    def _reason(self, row: int, text: str) -> str:
        probe = self.monitor.rows[row].stream.copy()
        units = probe.append(text)
        pending = probe.pending()
        if pending is not None:
            units.append(pending)
        true = sorted({p for u in units for p, v in self.monitor.labeler.label(probe.text, u)
                       .items() if v})
        name = self.monitor.aut.name or "the spec"
        return f"would violate {name}: makes {', '.join(true) or 'nothing'} true"

    def _intervened(self, row: int, position: int, best: int, chosen_from: int) -> None:
        texts = self.tables.texts
        iv = Intervention(row, position, texts[best], chosen_from,
                          self._reason(row, texts[best]))
        self.interventions.append(iv)
        if self.verbose:
            print(iv, flush=True)

    def process(self, ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """``scores`` (batch x vocabulary) for the sequences ``ids``, unsafe tokens masked:
        ``scores`` itself when nothing is masked, else a masked copy."""
        tracker = self.tracker
        tracker.sync(ids)
        lazy = tracker.lazy
        length = int(ids.shape[1])
        out = scores
        if self.keep == 1:
            # Greedy: a lazy row whose best token is no candidate needs nothing more.
            expected, tails = tracker.expected, tracker.tails
            for row, best in enumerate(scores.argmax(1).tolist()):
                st = lazy[row]
                if st is not None and not st.is_cand[best] and (
                        not st.literal or not st.ends_any(tails[row], best)):
                    expected[row] = best
                    self.lazy_steps += 1
                    continue
                out = self._guard(row, length, scores, out, best)
            return out
        # Sampling and beam search: every row keeps only its verified tokens among its
        # top_k, found for all rows at once; the output is written once, row by row.
        tops = top_k_rows(scores, self.top_k)
        kept = [self._verified(row, length, scores, top) for row, top in enumerate(tops)]
        if all(a is None for a in kept):
            return scores
        out = np.full_like(scores, float("-inf"))
        for row, allowed in enumerate(kept):
            if allowed is None:
                out[row] = scores[row]
            elif allowed:
                vals = scores[row, allowed]
                out[row, allowed] = vals if np.isfinite(vals).all() else 0.0
        return out

    def _verified(self, row: int, length: int, scores: np.ndarray,
                  top: list[int]) -> list[int] | None:
        """The tokens of ``row`` that keep their scores when sampling (the safe ones among
        ``top``, the row's ``top_k`` best; EOS alone when none is safe), or None when the
        row is left as it is (no token can reach the sink from its state)."""
        tracker, mon, tables = self.tracker, self.monitor, self.tables
        neg = float("-inf")
        # The candidates of this step, decided by the row's text before any settling: a
        # token that is none of them is safe (llm.triggers).
        st = tracker.lazy[row]
        tails = tracker.tails[row]  # settling replaces the list, it does not change it
        is_cand = st.is_cand if st is not None else []
        # The tokens that end a needed string which the text begins (StateTriggers.ends_any
        # for every token at once: usually none).
        ends: frozenset[int] = frozenset().union(
            *(trig.ends(tail) for trig, tail in zip(st.literal, tails, strict=True))) \
            if st is not None and st.literal else frozenset()
        best = top[0] if top else -1
        if st is not None and not self._may_quiet[mon.rows[row].state] \
                and not any(is_cand[t] or t in ends for t in top):
            # No candidate among the top_k: all of them are safe whatever state the
            # unfed text leads to, and none of those states leaves the row unmasked, so
            # the text is not fed (the same tokens as below, without the monitor).
            allowed: list[int] = []
            for t, v in zip(top, scores[row, top].tolist(), strict=True):
                if v == neg or len(allowed) >= self.keep:
                    break
                allowed.append(t)
            if allowed:
                self.lazy_steps += 1
                return allowed
        if st is not None:
            tracker.settle(row)  # the checks need the exact state
        q = mon.rows[row].state
        if self._quiet[q]:
            return None
        # The static table judges a token's own text: not what it makes of a held byte.
        if self._any_static[q] and not tracker.held[row] and top \
                and bool(tables.static[q, top].any()):
            # Tokens banned on their own are masked before the top_k is taken, so that it
            # holds top_k tokens that are not (rare: only then is the row sorted again).
            arr = scores[row].copy()
            arr[tables.static_idx[q]] = float("-inf")
            top = top_k_rows(arr[None, :], self.top_k)[0]
            values = arr[top].tolist()
        else:
            values = scores[row, top].tolist()
        allowed = []
        for t, v in zip(top, values, strict=True):
            if v == neg:
                break
            if st is None or is_cand[t] or t in ends:
                self.checks += 1
                if self._unsafe(row, t, remember=False):
                    continue
            allowed.append(t)
            if len(allowed) >= self.keep:
                break
        if not allowed and self.eos is not None:
            allowed = [int(self.eos)]  # tokens below the top_k were never checked
        if allowed and allowed[0] != best:
            self._intervened(row, length - tracker.prompt_lens[row], best, len(allowed))
        return allowed

    def _guard(self, row: int, length: int, scores: np.ndarray, out: np.ndarray,
               best: int) -> np.ndarray:
        """The greedy shield (``keep=1``) on one row with the monitor: ``out`` (``scores``,
        or a copy of it once a row is masked) with the refused tokens above the best safe
        one masked; ``best`` is the row's argmax."""
        tracker, mon, tables = self.tracker, self.monitor, self.tables
        neg = float("-inf")
        # The candidates of this step, decided by the row's text before any settling: a
        # token that is none of them is safe (llm.triggers).
        st = tracker.lazy[row]
        tails = tracker.tails[row]  # settling replaces the list, it does not change it
        if st is not None:
            tracker.settle(row)  # the checks need the exact state
        q = mon.rows[row].state
        if self._quiet[q]:
            return out  # no token can reach the sink from here (or it is reached already)
        # The static table judges a token's own text: not what it makes of a held byte.
        any_static = self._any_static[q] and not tracker.held[row]
        # The scores are only copied if the best token is refused, and the check of the
        # best token is reused when the tracker feeds it next.
        if not (any_static and tables.static[q, best]) and not self._unsafe(row, best):
            self.checks += 1
            return out
        if out is scores:
            out = scores.copy()
        arr = out[row]  # a writable view
        if any_static:
            arr[tables.static_idx[q]] = neg
        allowed: list[int] = []
        # Walk down the ranking until a safe token; nothing else changes, so the cost is
        # one argmax and one check per refused token.
        for _ in range(self.top_k):
            t = int(arr.argmax())
            if arr[t] == neg:
                break
            if _no_candidate(st, tails, t):
                allowed.append(t)
                break
            self.checks += 1
            if not self._unsafe(row, t):
                allowed.append(t)
                break
            arr[t] = neg
        if allowed:
            if allowed[0] != best:
                self._intervened(row, length - tracker.prompt_lens[row], best, 1)
            return out  # the walk leaves the verified token on top
        # Nothing in the top_k is safe (tokens below them were never checked): EOS alone.
        if self.eos is None:
            arr.fill(neg)
            return out
        eos = int(self.eos)
        value = float(arr[eos])
        arr.fill(neg)
        arr[eos] = value if np.isfinite(value) else 0.0
        if eos != best:
            self._intervened(row, length - tracker.prompt_lens[row], best, 1)
        return out
