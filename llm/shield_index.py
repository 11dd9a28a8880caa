"""The shield's index: what is known per (spec, tokenizer) before any text is generated.

Framework-free (numpy, no torch or transformers), like outlines-core's index: the bytes and
text each token id adds (byte-level BPE and SentencePiece byte fallback read from the
vocabulary, so a character split over tokens can be held until it is whole), the steps from
each monitor state to the violation sink, per state the tokens that violate on their own as
a fresh unit (cached on disk), and the lazy rows' triggers (:mod:`speclang.llm.triggers`).
:mod:`speclang.llm.shield_guide` reads it per sequence; :mod:`speclang.llm.shield` holds the
transformers processors.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from speclang.compiler.graph import sink_distance
from speclang.llm.labels import UnitStream
from speclang.llm.monitor import TextMonitor
from speclang.llm.triggers import TriggerTables


def default_cache_dir() -> Path:
    base = os.environ.get("SPECLANG_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "speclang")
    return Path(base) / "llm"


def skipped_ids(tokenizer: Any) -> set[int]:
    """The ids ``decode(..., skip_special_tokens=True)`` drops: the named special tokens and
    every token added as special (``all_special_ids`` alone misses those, e.g. byte pieces
    registered as special tokens, which the decoded text then lacks)."""
    out = set(getattr(tokenizer, "all_special_ids", []) or [])
    added = getattr(tokenizer, "added_tokens_decoder", None) or {}
    out.update(i for i, t in added.items() if getattr(t, "special", False))
    return out


def tokenizer_hash(tokenizer: Any) -> str:
    vocab = sorted(tokenizer.get_vocab().items(), key=lambda kv: kv[1])
    h = hashlib.sha256(type(tokenizer).__name__.encode())
    h.update(json.dumps(vocab, ensure_ascii=False).encode("utf-8"))
    h.update(json.dumps(sorted(skipped_ids(tokenizer))).encode())
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
    special = skipped_ids(tokenizer)
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
    cache = (cache_dir or default_cache_dir()) / f"tokens-b2-{vocab_hash}.json"
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
        self.far = sink_distance(aut)  # steps to the sink, graph.FAR where unreachable
        self.reach = _units_per_token(self.texts, monitor.unit)
        key = hashlib.sha256(json.dumps([
            "bytes-2", aut.formula, list(aut.props), monitor.unit, vocab_hash,
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
            buf = io.BytesIO()
            np.savez_compressed(buf, static=np.packbits(static, axis=1))
            _write_atomic(path, buf.getvalue())
        self.static = static
        self.static_any: np.ndarray = np.asarray(static.any(axis=1))
        self.static_idx = [np.flatnonzero(row) for row in static]  # what masking writes
        # What lets most tokens pass without the monitor (llm.triggers); built in ~0.2 s.
        self.triggers = TriggerTables(monitor, self.texts)
        if self.partial.any():
            for st in {id(x): x for x in self.triggers.states if x is not None}.values():
                st.mask = st.mask | self.partial
                st.is_cand = st.mask.tolist()
