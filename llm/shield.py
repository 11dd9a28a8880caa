"""Decoding-time shields for ``transformers``: a logits processor that refuses tokens that
would drive a spec monitor into its violation sink, and a stopping criterion on violation.

How a token is judged (see docs/llm.md): appending its text to the sequence may complete
units (each one monitor step) and leaves a pending unit, which is judged *as if it ended
there*, so that "200 mg" is refused at " mg" rather than after the following space.

Cost control, per sequence and decoding step:

1. lazy rows (:mod:`speclang.llm.triggers`): while the text lacks what the patterns that could lead
   into the sink need (a digit, a swear word's letters...), the monitor is not stepped and
   only *candidate* tokens, which bring such a need, can violate; greedy decoding then
   costs one argmax and a lookup per row, and the monitor is fed only when a candidate is
   the best token or the text holds a need;
2. per (spec, tokenizer) and monitor state, the tokens that violate on their own, as a fresh
   unit, are precomputed once (``static``) and cached on disk;
3. the remaining tokens are checked exactly, with their context, in logit order, only
   among the ``top_k`` best; everything unchecked is masked too, so the shield is sound:
   sampling only ever picks verified tokens (as top-k sampling would).

The check itself is :meth:`TextMonitor.would_violate`; the greedy path's check of the best
token is reused when the tracker feeds that token, so a token is labelled once.
"""

from __future__ import annotations

import codecs
import hashlib
import inspect
import json
import os
import re
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import LogitsProcessor, StoppingCriteria

from speclang.llm.labels import UnitStream
from speclang.llm.monitor import TextMonitor, _Row
from speclang.llm.triggers import StateTriggers, TriggerTables


def default_cache_dir() -> Path:
    base = os.environ.get("SPECLANG_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "speclang")
    return Path(base) / "llm"


def tokenizer_hash(tokenizer: Any) -> str:
    vocab = sorted(tokenizer.get_vocab().items(), key=lambda kv: kv[1])
    h = hashlib.sha256(type(tokenizer).__name__.encode())
    h.update(json.dumps(vocab, ensure_ascii=False).encode("utf-8"))
    return h.hexdigest()[:20]


def _byte_level_map() -> dict[str, int]:
    """The printable stand-in character of each byte in byte-level BPE vocabularies
    (GPT-2's scheme: printable Latin-1 bytes stand for themselves, the others are shifted
    past U+0100), inverted."""
    keep = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    out, extra = {}, 0
    for b in range(256):
        if b in keep:
            out[chr(b)] = b
        else:
            out[chr(256 + extra)] = b
            extra += 1
    return out


_BYTE_FALLBACK = re.compile(r"<0x([0-9A-Fa-f]{2})>")


def token_bytes(tokenizer: Any) -> list[bytes]:
    """The bytes each token id adds to the decoded text (special tokens none, as with
    ``skip_special_tokens``): read from the vocabulary for byte-level BPE (GPT-2, SmolLM2)
    and SentencePiece byte fallback (``<0xE2>``), where one character may be split over
    several tokens; other tokenizers decode whole characters per token."""
    n = max(len(tokenizer), max(tokenizer.get_vocab().values()) + 1)
    special = set(getattr(tokenizer, "all_special_ids", []) or [])
    backend = getattr(tokenizer, "backend_tokenizer", None)
    kind = json.loads(backend.to_str()).get("decoder") if backend is not None else None
    kind_s = json.dumps(kind)
    pieces = tokenizer.convert_ids_to_tokens(list(range(n)))
    byte_map = _byte_level_map() if '"ByteLevel"' in kind_s else None
    fallback = '"ByteFallback"' in kind_s
    out: list[bytes] = []
    for i, piece in enumerate(pieces):
        if i in special or piece is None:
            out.append(b"")
        elif byte_map is not None and all(c in byte_map for c in piece):
            out.append(bytes(byte_map[c] for c in piece))
        elif fallback and _BYTE_FALLBACK.fullmatch(piece):
            out.append(bytes([int(piece[3:5], 16)]))
        elif fallback:
            out.append(piece.replace("\u2581", " ").encode("utf-8"))
        else:
            out.append(tokenizer.decode([i], skip_special_tokens=True).encode("utf-8"))
    return out


def utf8_step(held: bytes, data: bytes) -> tuple[str, bytes]:
    """Decode ``held + data`` as far as it forms whole characters: the text and the bytes
    of an incomplete trailing character, held until a later token completes it. Invalid
    bytes become U+FFFD, as the tokenizers' lossy decoding makes them."""
    dec = codecs.getincrementaldecoder("utf-8")("replace")
    text = dec.decode(held + data, final=False)
    return text, dec.getstate()[0]


def token_texts(tokenizer: Any, cache_dir: Path | None = None,
                vocab_hash: str | None = None) -> tuple[list[str], list[bytes], list[bytes]]:
    """Per token id: the text it adds after whole characters (its complete characters),
    its bytes, and the bytes of an incomplete character it ends with (cached per
    tokenizer)."""
    vocab_hash = vocab_hash or tokenizer_hash(tokenizer)
    cache = (cache_dir or default_cache_dir()) / f"tokens-b1-{vocab_hash}.json"
    if cache.is_file():
        got = json.loads(cache.read_text(encoding="utf-8"))
        raw = [bytes.fromhex(h) for h in got["bytes"]]
    else:
        raw = token_bytes(tokenizer)
        _write_atomic(cache, json.dumps({"bytes": [b.hex() for b in raw]}).encode())
    texts, tails = [], []
    for b in raw:
        text, tail = utf8_step(b"", b)
        texts.append(text)
        tails.append(tail)
    return texts, raw, tails


def _write_atomic(path: Path, data: bytes) -> None:
    # Several processes (xdist workers) may build the same cache entry at once.
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _sink_distance(aut: Any) -> np.ndarray:
    """Steps from each state to the violation sink (a large number when unreachable)."""
    n = aut.n_states
    far = np.full(n, 1 << 30, dtype=np.int64)
    sink = aut.violation_sink
    if sink is None:
        return far
    preds: list[set[int]] = [set() for _ in range(n)]
    for q in range(n):
        for t in aut.successors(q):
            preds[t].add(q)
    far[sink] = 0
    todo = deque([sink])
    while todo:
        t = todo.popleft()
        for q in preds[t]:
            if far[q] > far[t] + 1:
                far[q] = far[t] + 1
                todo.append(q)
    return far


def _units_per_token(texts: Sequence[str], unit: str) -> int:
    """An upper bound on the monitor steps one token can cause (plus the pending unit)."""
    worst = 1
    for t in texts:
        if unit == "token":
            n = 1
        elif unit == "word":
            n = len(t.split()) + 1
        else:
            n = sum(t.count(c) for c in ".!?\n") + 1
        worst = max(worst, n)
    return worst + 1


def _numpy_ok(t: torch.Tensor) -> bool:
    return t.device.type == "cpu" and t.dtype in (torch.float32, torch.float64, torch.float16)


def _argmax(t: torch.Tensor) -> int:
    # On CPU numpy's argmax over a 49k vocabulary takes ~6 us, torch's ~100 us.
    return int(t.numpy().argmax()) if _numpy_ok(t) else int(torch.argmax(t))


def _top_k(arr: np.ndarray, k: int) -> list[int]:
    """The indices of the ``k`` largest scores, best first, as ``torch.topk`` would give
    them (up to the order of ties) in under half its time on a 49k vocabulary: the k-th
    largest of every 16th score is a threshold that at least ``k`` scores reach, so only
    those (about 1 %) are sorted."""
    n = arr.shape[0]
    k = min(k, n)
    if n > 64 * k:
        sub = arr[::16]
        thr = np.partition(sub, sub.shape[0] - k)[sub.shape[0] - k]
        cand = np.flatnonzero(arr >= thr)
        if cand.shape[0] >= k:  # fewer only with NaN scores
            return cand[np.argsort(arr[cand], kind="stable")[::-1][:k]].tolist()
    return torch.topk(torch.from_numpy(arr), k).indices.tolist()


def _no_candidate(st: StateTriggers | None, tails: list[str], t: int) -> bool:
    """Whether token ``t`` is safe without a check: it is no candidate of a lazy row whose
    literal scopes end in ``tails``."""
    return st is not None and not st.is_cand[t] and not (st.literal and st.ends_any(tails, t))


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


class ShieldTables:
    """Per (spec, tokenizer) data: token texts and, per monitor state, the tokens that
    reach the sink on their own. Built once and cached on disk under a key hashing the
    compiled monitor, its text patterns, the unit and the tokenizer's vocabulary."""

    def __init__(self, monitor: TextMonitor, tokenizer: Any, cache_dir: Path | None = None):
        cache_dir = cache_dir or default_cache_dir()
        vocab_hash = tokenizer_hash(tokenizer)  # hashing 49k entries costs ~0.3 s: once
        self.texts, self.bytes, self.tails = token_texts(tokenizer, cache_dir, vocab_hash)
        # Tokens that leave part of a character pending: their text depends on what comes
        # next, so they are always checked (never skipped as harmless).
        self.partial = np.array([bool(t) for t in self.tails], dtype=bool)
        aut = monitor.aut
        self.far = _sink_distance(aut)
        self.reach = _units_per_token(self.texts, monitor.unit)
        key = hashlib.sha256(json.dumps([
            "bytes-1", aut.formula, list(aut.props), monitor.unit, vocab_hash,
            {p: str(monitor.labeler.patterns.get(p)) for p in aut.props},
        ]).encode()).hexdigest()[:24]
        path = cache_dir / f"masks-{key}.npz"
        self.cache_path = path
        n, v = aut.n_states, len(self.texts)
        if path.is_file():
            with np.load(path) as z:
                static = np.unpackbits(z["static"], axis=1, count=v).astype(bool)
        else:
            static = np.zeros((n, v), dtype=bool)
            if monitor.labeler.lexical_only:
                probe = TextMonitor(aut, monitor.labeler, unit=monitor.unit)
                for q in np.flatnonzero(self.far <= self.reach):
                    if q == aut.violation_sink:
                        continue
                    probe.rows[0].state = int(q)
                    probe.rows[0].stream = UnitStream(monitor.unit)
                    for i, text in enumerate(self.texts):
                        if text and probe.would_violate(0, text):
                            static[q, i] = True
            import io

            buf = io.BytesIO()
            np.savez_compressed(buf, static=np.packbits(static, axis=1))
            _write_atomic(path, buf.getvalue())
        self.static_np = static
        self.static = torch.from_numpy(static)
        self.static_any: np.ndarray = np.asarray(static.any(axis=1))
        self.static_idx = [np.flatnonzero(row) for row in static]  # what masking writes
        # What lets most tokens pass without the monitor (llm.triggers); built in ~0.2 s.
        self.triggers = TriggerTables(monitor, self.texts)
        if self.partial.any():
            for st in {id(x): x for x in self.triggers.states if x is not None}.values():
                st.mask = st.mask | self.partial
                st.is_cand = st.mask.tolist()


class SequenceTracker:
    """Keeps a :class:`TextMonitor` in step with ``input_ids`` during ``generate``: every
    call takes the tokens appended since the last call (idempotent, so the logits processor
    and the stopping criterion can share one).

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
        self.prompt_len: int | None = None
        self.seen = 0
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
        # The previous call's input ids (rows of the same length) and, built on demand,
        # their index by content: what tells a continuation from a new ``generate`` call.
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

    def _parents(self, ids: np.ndarray) -> list[int] | None:
        """Which row of the previous call each row of ``ids`` continues (the state is a
        function of the token sequence, not of the row: beam search reorders and
        duplicates rows, ``num_return_sequences`` repeats them), or None when ``ids`` is
        no continuation of that call by at most one token: a new ``generate`` call (a
        processor reused across calls, a pipeline over a dataset) starts over."""
        prev = self.prev
        if prev is None or ids.shape[1] not in (self.seen, self.seen + 1):
            return None
        index = self.prev_index
        if index is None:
            index = self.prev_index = {row.tobytes(): r for r, row in enumerate(prev)}
        head = np.ascontiguousarray(ids[:, :self.seen])
        if head.shape == prev.shape and np.array_equal(head, prev):
            return list(range(ids.shape[0]))  # the usual case: rows in place
        parents = []
        for row in head:
            p = index.get(row.tobytes())
            if p is None:
                return None
            parents.append(p)
        return parents

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

    def sync(self, input_ids: torch.Tensor) -> None:
        try:  # numpy's view and shape cost less than torch's on the per-token path
            ids = input_ids.numpy()
        except (TypeError, RuntimeError):
            ids = input_ids.detach().to("cpu").numpy()
        length = ids.shape[1]
        parents = self._parents(ids) if self.prompt_len is not None else None
        if parents is None:
            self.prompt_len = self.seen = length
            self._reset(int(ids.shape[0]))
            self._keep(ids)
            return
        if parents != list(range(len(parents))) or len(parents) != len(self.marks):
            self._remap(parents)
        if length == self.seen:
            for row in range(len(self.marks)):
                if self._fed_outside(row):
                    self.settle(row)
            return
        # One token per row since the last call.
        last = ids[:, -1].tolist()
        self.seen = length
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


# transformers' LogitsProcessorList calls inspect.signature(processor.__call__) on every step
# (~11 us on CPU); a function with this precomputed signature answers in ~1 us.
_CALL_SIGNATURE = inspect.Signature([
    inspect.Parameter("input_ids", inspect.Parameter.POSITIONAL_OR_KEYWORD),
    inspect.Parameter("scores", inspect.Parameter.POSITIONAL_OR_KEYWORD)])


class SpecLogitsProcessor(LogitsProcessor):
    """Masks every token that would drive the monitor into the violation sink.

    ``top_k`` bounds the exact checks per step; ``keep`` stops them once that many safe
    tokens are found, and everything not verified is masked. ``keep=1`` is for greedy
    decoding: refused tokens are masked one by one until the best remaining one is safe,
    and the other scores are left alone (so put the shield last, and do not sample).
    ``lazy=False`` steps the monitor on every token instead of only when needed (see
    :mod:`speclang.llm.triggers`; the result is the same). One processor may serve many
    ``generate`` calls (a pipeline over a dataset): a call whose rows do not continue the
    previous call's rows by one token starts over with a new prompt, and rows are followed
    by their token sequence, so beam search's reordering and ``num_return_sequences`` are
    handled. (A new prompt that happens to be a previous row plus one token is
    indistinguishable from a continuation; assisted generation is not supported.)

    >>> import speclang
    >>> from speclang.llm import TextMonitor
    >>> from speclang.llm.tiny import tiny_tokenizer
    >>> mod = speclang.load("examples/chatbot.spec")
    >>> shield = SpecLogitsProcessor(TextMonitor.from_module(mod, "no_profanity"),
    ...                              tiny_tokenizer(), keep=1)
    """

    def __init__(
        self,
        monitor: TextMonitor,
        tokenizer: Any,
        *,
        top_k: int = 32,
        keep: int | None = None,
        cache_dir: Path | None = None,
        tables: ShieldTables | None = None,
        verbose: bool = False,
        lazy: bool = True,
    ) -> None:
        if top_k < 1:
            raise ValueError(f"top_k must be at least 1, not {top_k}")
        if keep is not None and not 1 <= keep <= top_k:
            raise ValueError(f"keep must be between 1 and top_k ({top_k}), not {keep}")
        self.tables = tables or ShieldTables(monitor, tokenizer, cache_dir)
        self.tracker = SequenceTracker(monitor, self.tables.texts,
                                       self.tables.triggers if lazy else None,
                                       self.tables.bytes, self.tables.tails)
        self.monitor = monitor
        self.top_k = top_k
        self.keep = keep or top_k
        self.eos = tokenizer.eos_token_id
        self.interventions: list[Intervention] = []
        self.verbose = verbose
        self.checks = 0
        self.lazy_steps = 0  # row steps decided without the monitor
        # Per state, as plain Python values (indexing numpy arrays costs more than the
        # whole check does): whether no token can reach the sink from it (or it is the
        # sink), and whether some token is banned there on its own.
        tables = self.tables
        sink = monitor.sink
        self._quiet = [bool(tables.far[q] > tables.reach) or q == sink
                       for q in range(monitor.aut.n_states)]
        self._any_static = [bool(x) for x in tables.static_any]

        def call(input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
            return self(input_ids, scores)

        call.__signature__ = _CALL_SIGNATURE  # type: ignore[attr-defined]
        self.__dict__["__call__"] = call

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

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        tracker = self.tracker
        tracker.sync(input_ids)
        lazy = tracker.lazy
        # One numpy view of the whole batch: its argmax costs far less than torch's on CPU.
        try:
            view = scores.numpy()
        except (TypeError, RuntimeError):  # not CPU, or a dtype numpy lacks
            view = None
        if self.keep == 1 and view is not None:
            # Greedy: a lazy row whose best token is no candidate needs nothing more.
            expected, tails = tracker.expected, tracker.tails
            out = scores
            for row, best in enumerate(view.argmax(1).tolist()):
                st = lazy[row]
                if st is not None and not st.is_cand[best] and (
                        not st.literal or not st.ends_any(tails[row], best)):
                    expected[row] = best
                    self.lazy_steps += 1
                    continue
                out = self._guard(row, input_ids, scores, out, view, best)
            return out
        out = scores
        for row in range(scores.shape[0]):
            out = self._guard(row, input_ids, scores, out, view, -1)
        return out

    def _guard(self, row: int, input_ids: torch.Tensor, scores: torch.Tensor,
               out: torch.Tensor, view: np.ndarray | None, best: int) -> torch.Tensor:
        """The shield on one row with the monitor: ``out`` (``scores``, or a copy of it once
        a row is masked) with the row's unsafe tokens masked; ``best`` is the row's argmax
        when known (greedy), else -1."""
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
        greedy = self.keep == 1
        # The static table judges a token's own text: not what it makes of a held byte.
        any_static = self._any_static[q] and not tracker.held[row]
        if greedy:
            # The scores are only copied if the best token is refused, and the check of the
            # best token is reused when the tracker feeds it next.
            if best < 0:
                best = int(view[row].argmax()) if view is not None else _argmax(out[row])
            if not (any_static and tables.static_np[q, best]) \
                    and not self._unsafe(row, best):
                self.checks += 1
                return out
        if out is scores:
            out = scores.clone()
        line = out[row]
        try:  # the row's scores as a writable numpy view: scalar reads and writes on a
            arr, copied = line.numpy(), False  # torch tensor cost ~5 us each
        except (TypeError, RuntimeError):
            arr, copied = line.detach().to("cpu", torch.float32).numpy(), True
        best = int(arr.argmax())
        if any_static:
            arr[tables.static_idx[q]] = neg
        allowed: list[int] = []
        if greedy:
            # Walk down the ranking until a safe token; nothing else changes, so the cost
            # is one argmax and one check per refused token.
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
        else:
            for t in _top_k(arr, self.top_k):
                if arr[t] == neg:
                    break
                if not _no_candidate(st, tails, t):
                    self.checks += 1
                    if self._unsafe(row, t, remember=False):
                        continue
                allowed.append(t)
                if len(allowed) >= self.keep:
                    break
        if not allowed and self.eos is not None:
            allowed = [int(self.eos)]
        if allowed and allowed[0] != best:
            self._intervened(row, int(input_ids.shape[1]) - (tracker.prompt_len or 0), best,
                             len(allowed))
        if not (greedy and allowed and arr[allowed[0]] != neg):
            # Only the verified tokens keep their scores (the best remaining score is
            # already the verified token for greedy, unless only EOS is left).
            keep_vals = arr[allowed].copy()
            arr.fill(neg)
            arr[allowed] = keep_vals if np.isfinite(keep_vals).all() else 0.0
        if copied:
            out[row] = torch.from_numpy(arr).to(out.device, out.dtype)
        return out


class ViolationStoppingCriteria(StoppingCriteria):
    """Stops each sequence whose monitor reached the violation sink. Pass the shield's
    ``tracker`` to share its monitor, or a fresh :class:`SequenceTracker`."""

    def __init__(self, tracker: SequenceTracker) -> None:
        self.tracker = tracker

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor | None = None,
                 **kwargs: Any) -> torch.Tensor:
        tracker = self.tracker
        tracker.sync(input_ids)
        return torch.tensor([tracker.violated(r) for r in range(int(input_ids.shape[0]))],
                            dtype=torch.bool, device=input_ids.device)
