"""Decoding-time shields for ``transformers``: a logits processor that refuses tokens that
would drive a spec monitor into its violation sink, and a stopping criterion on violation.

How a token is judged (see docs/llm.md): appending its text to the sequence may complete
units (each one monitor step) and leaves a pending unit, which is judged *as if it ended
there*, so that "200 mg" is refused at " mg" rather than after the following space.

Cost control, per sequence and decoding step:

1. states from which the sink is further away than one token can move (``fast``) need no
   check at all;
2. per (spec, tokenizer) and monitor state, the tokens that violate on their own, as a fresh
   unit, are precomputed once (``static``) and cached on disk;
3. the remaining candidates are checked exactly, with their context, in logit order, only
   among the ``top_k`` best; everything unchecked is masked too, so the shield is sound:
   sampling only ever picks verified tokens (as top-k sampling would).

The check itself is :meth:`TextMonitor.would_violate`; the greedy path's check of the best
token is reused when the tracker feeds that token, so a token is labelled once.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import LogitsProcessor, StoppingCriteria

from llm.labels import UnitStream
from llm.monitor import TextMonitor


def default_cache_dir() -> Path:
    base = os.environ.get("SPECLANG_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "speclang")
    return Path(base) / "llm"


def tokenizer_hash(tokenizer: Any) -> str:
    vocab = sorted(tokenizer.get_vocab().items(), key=lambda kv: kv[1])
    h = hashlib.sha256(type(tokenizer).__name__.encode())
    h.update(json.dumps(vocab, ensure_ascii=False).encode("utf-8"))
    return h.hexdigest()[:20]


def token_texts(tokenizer: Any, cache_dir: Path | None = None,
                vocab_hash: str | None = None) -> list[str]:
    """The text each token id adds when decoded on its own (cached per tokenizer)."""
    vocab_hash = vocab_hash or tokenizer_hash(tokenizer)
    cache = (cache_dir or default_cache_dir()) / f"tokens-{vocab_hash}.json"
    if cache.is_file():
        return list(json.loads(cache.read_text(encoding="utf-8")))
    n = max(len(tokenizer), max(tokenizer.get_vocab().values()) + 1)
    texts = [tokenizer.decode([i], skip_special_tokens=True) for i in range(n)]
    _write_atomic(cache, json.dumps(texts, ensure_ascii=False).encode("utf-8"))
    return texts


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
        self.texts = token_texts(tokenizer, cache_dir, vocab_hash)
        aut = monitor.aut
        self.far = _sink_distance(aut)
        self.reach = _units_per_token(self.texts, monitor.unit)
        key = hashlib.sha256(json.dumps([
            aut.formula, list(aut.props), monitor.unit, vocab_hash,
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


class SequenceTracker:
    """Keeps a :class:`TextMonitor` in step with ``input_ids`` during ``generate``: every
    call feeds the tokens appended since the last call (idempotent, so the logits processor
    and the stopping criterion can share one)."""

    def __init__(self, monitor: TextMonitor, texts: Sequence[str]) -> None:
        self.monitor = monitor
        self.texts = texts
        self.prompt_len: int | None = None
        self.seen = 0

    def sync(self, input_ids: torch.Tensor) -> None:
        length = int(input_ids.shape[1])
        if self.prompt_len is None or length < self.seen:
            self.prompt_len = self.seen = length
            self.monitor.reset(int(input_ids.shape[0]))
            return
        if length == self.seen:
            return
        feed, texts = self.monitor.feed, self.texts
        if length == self.seen + 1:  # the usual case: one token per row since the last call
            try:
                last = input_ids.numpy()[:, -1].tolist()  # half the cost of torch's tolist
            except (TypeError, RuntimeError):
                last = input_ids[:, -1].tolist()
            for row, i in enumerate(last):
                feed(row, texts[i])
        else:
            for row, ids in enumerate(input_ids[:, self.seen:length].tolist()):
                feed(row, "".join(texts[i] for i in ids))
        self.seen = length

    def generated(self, row: int) -> str:
        return self.monitor.rows[row].stream.text


class SpecLogitsProcessor(LogitsProcessor):
    """Masks every token that would drive the monitor into the violation sink.

    ``top_k`` bounds the exact checks per step; ``keep`` stops them once that many safe
    tokens are found, and everything not verified is masked. ``keep=1`` is for greedy
    decoding: refused tokens are masked one by one until the best remaining one is safe,
    and the other scores are left alone (so put the shield last, and do not sample).
    Build one per ``generate`` call (it learns the prompt length on its first call)."""

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
    ) -> None:
        self.tables = tables or ShieldTables(monitor, tokenizer, cache_dir)
        self.tracker = SequenceTracker(monitor, self.tables.texts)
        self.monitor = monitor
        self.top_k = top_k
        self.keep = keep or top_k
        self.eos = tokenizer.eos_token_id
        self.interventions: list[Intervention] = []
        self.verbose = verbose
        self.checks = 0
        # Per state, as plain Python values (indexing numpy arrays costs more than the
        # whole check does): whether no token can reach the sink from it (or it is the
        # sink), and whether some token is banned there on its own.
        tables = self.tables
        sink = monitor.sink
        self._quiet = [bool(tables.far[q] > tables.reach) or q == sink
                       for q in range(monitor.aut.n_states)]
        self._any_static = [bool(x) for x in tables.static_any]

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

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        self.tracker.sync(input_ids)
        mon, tables = self.monitor, self.tables
        out = scores
        neg = float("-inf")
        rows, quiet, any_static, texts = mon.rows, self._quiet, self._any_static, tables.texts
        greedy = self.keep == 1
        view = None
        if greedy:
            # One numpy view of the whole batch: its argmax costs ~4 us per row at 49k
            # tokens when the scores are in cache (torch's takes far longer on CPU).
            try:
                view = scores.numpy()
            except (TypeError, RuntimeError):  # not CPU, or a dtype numpy lacks
                view = None
        for row in range(scores.shape[0]):
            q = rows[row].state
            if quiet[q]:
                continue  # no token can reach the sink from here (or it is reached already)
            if greedy:
                # Greedy fast path: the scores are only copied if the best token is refused,
                # and the check of the best token is reused when the tracker feeds it next.
                best = int(view[row].argmax()) if view is not None else _argmax(out[row])
                if not (any_static[q] and tables.static_np[q, best]) \
                        and not mon.would_violate(row, texts[best]):
                    self.checks += 1
                    continue
            if out is scores:
                out = scores.clone()
            line = out[row]
            try:  # the row's scores as a writable numpy view: scalar reads and writes on a
                arr, copied = line.numpy(), False  # torch tensor cost ~5 us each
            except (TypeError, RuntimeError):
                arr, copied = line.detach().to("cpu", torch.float32).numpy(), True
            best = int(arr.argmax())
            if any_static[q]:
                arr[tables.static_idx[q]] = neg
            allowed: list[int] = []
            if greedy:
                # Walk down the ranking until a safe token; nothing else changes, so the
                # cost is one argmax and one check per refused token.
                for _ in range(self.top_k):
                    t = int(arr.argmax())
                    if arr[t] == neg:
                        break
                    self.checks += 1
                    if not mon.would_violate(row, texts[t]):
                        allowed.append(t)
                        break
                    arr[t] = neg
            else:
                for t in _top_k(arr, self.top_k):
                    if arr[t] == neg:
                        break
                    self.checks += 1
                    if not mon.would_violate(row, texts[t], remember=False):
                        allowed.append(t)
                        if len(allowed) >= self.keep:
                            break
            if not allowed and self.eos is not None:
                allowed = [int(self.eos)]
            if allowed and allowed[0] != best:
                iv = Intervention(row, int(input_ids.shape[1]) - (self.tracker.prompt_len or 0),
                                  texts[best], len(allowed), self._reason(row, texts[best]))
                self.interventions.append(iv)
                if self.verbose:
                    print(iv, flush=True)
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
        self.tracker.sync(input_ids)
        mon = self.tracker.monitor
        return torch.tensor([mon.violated(r) for r in range(int(input_ids.shape[0]))],
                            dtype=torch.bool, device=input_ids.device)
