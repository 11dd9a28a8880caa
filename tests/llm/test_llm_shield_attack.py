"""Attacks on the shield (issue 16): Hypothesis draws a spec (lexical patterns over words with
non-ASCII characters, word or sentence units), a tokenizer built on the fly with multi-byte
pieces (byte-level BPE, or SentencePiece-style BPE with byte fallback), a decoding mode
(greedy, sampling, beam search with several beams and returned sequences), prompts of
different lengths (left padding) and random scores that keep pushing towards texts that
violate the spec; one processor serves two ``generate`` calls. The oracle is independent of
the shield: the post-hoc monitor (``label_text``) on each decoded reply.

The CI profile runs a few dozen examples; ``SPECLANG_SHIELD_EXAMPLES=2000`` is the long sweep
(docs/testing.md), whose totals are printed at the end of the module.
"""

from __future__ import annotations

import functools
import os
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

import speclang  # noqa: E402
from speclang.llm import TextMonitor, label_text  # noqa: E402
from speclang.llm.shield import (  # noqa: E402
    ShieldTables,
    SpecLogitsProcessor,
    ViolationStoppingCriteria,
)

settings.register_profile(
    "speclang-shield", deadline=None, derandomize=False,
    max_examples=int(os.environ.get("SPECLANG_SHIELD_EXAMPLES", "30")),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                           HealthCheck.data_too_large])
PROFILE = settings.get_profile("speclang-shield")

# Words with characters of two, three and four UTF-8 bytes, a digit that \d matches but
# ASCII does not ("٥"), a ligature, and letters whose case folding is special.
WORDS = ["mg", "doctor", "été", "naïve", "straße", "groß", "٥", "中文", "😀", "Ωmega",
         "ﬁne", "İstanbul", "ünit"]
CORPUS = [
    "Take 200 mg of it.", "I am not a doctor, see a doctor.", "Hello! How can I help?",
    "Die Straße ist groß, sehr groß.", "Un été naïve et très beau.", "Prenez ٥ mg ou 5 mg.",
    "中文 😀 and more text.", "Ωmega is ﬁne in İstanbul.", "One ünit per dose, two units.",
    "Drink water and rest well.",
]
# A few characters stay out of the fallback tokenizer's alphabet (they become byte tokens).
FALLBACK_ALPHABET = list("\u2581abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                         "0123456789.,!?é")
PROMPTS = ["Hello", "Take", "Die Straße", "中", "Please tell me the dose of it now", "é"]


def _byte_level(vocab_size: int) -> Any:
    from speclang.llm.tiny import tiny_tokenizer

    return tiny_tokenizer(vocab_size, CORPUS)


def _byte_fallback(vocab_size: int, special_bytes: bool = False) -> Any:
    """A SentencePiece-style tokenizer (Llama's layout): metaspace pieces, BPE with byte
    fallback (<0xNN> pieces for characters outside the alphabet), and the decoder that
    fuses bytes and strips the leading space. The byte pieces are ordinary vocabulary
    entries, as in Llama's; with ``special_bytes`` they are registered as special tokens
    (which ``skip_special_tokens`` drops from the decoded text)."""
    import json

    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(byte_fallback=True, unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="first",
                                                 split=True)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, show_progress=False,
        special_tokens=["<eos>", "<pad>", *(f"<0x{b:02X}>" for b in range(256))],
        initial_alphabet=FALLBACK_ALPHABET, limit_alphabet=len(FALLBACK_ALPHABET))
    tok.train_from_iterator(CORPUS * 4, trainer)
    tok.decoder = decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(),
                                     decoders.Fuse(), decoders.Strip(" ", 1, 0)])
    if not special_bytes:
        spec = json.loads(tok.to_str())
        spec["added_tokens"] = [t for t in spec["added_tokens"]
                                if not t["content"].startswith("<0x")]
        tok = Tokenizer.from_str(json.dumps(spec))
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<eos>", pad_token="<pad>", padding_side="left")


TOKENIZERS = {"byte-level 300": (_byte_level, 300), "byte-level 600": (_byte_level, 600),
              "byte-fallback 340": (_byte_fallback, 340),
              "byte-fallback 520": (_byte_fallback, 520),
              "byte-fallback 400, special byte pieces": (
                  functools.partial(_byte_fallback, special_bytes=True), 400)}


@functools.cache
def tokenizer_and_model(kind: str) -> tuple[Any, Any]:
    from speclang.llm.tiny import tiny_model

    build, size = TOKENIZERS[kind]
    tok = build(size)
    return tok, tiny_model(tok, hidden=16, layers=1)


# --- random specs ----------------------------------------------------------------------

@st.composite
def props(draw: Any) -> tuple[str, list[str]]:
    """One proposition's definition and texts that make it true (the attack's targets)."""
    w1, w2 = draw(st.sampled_from(WORDS)), draw(st.sampled_from(WORDS))
    e1, e2 = re.escape(w1), re.escape(w2)
    flags = draw(st.sampled_from(["", "i"]))
    kind = draw(st.sampled_from(["word", "dose", "pair", "contains", "class"]))
    if kind == "word":
        body, hits = f"matches /\\b{e1}\\b/{flags}", [f" {w1} ", f" {w1.upper()}."]
    elif kind == "dose":
        body, hits = f"matches /\\d+\\s?{e1}/{flags}", [f" 5 {w1}", f" ٥{w1}", f" 20{w1}"]
    elif kind == "pair":
        body, hits = f"matches /{e1}\\s+{e2}/{flags}", [f" {w1} {w2}", f"{w1}  {w2}"]
    elif kind == "contains":
        body, hits = f'contains {{"{w1} {w2}", "{w1}"}}', [f" {w1} {w2}.", f" {w1} "]
    else:
        body, hits = f"matches /[é٥ß😀]{e1}/{flags}", [f" é{w1}", f"😀{w1}", f" ٥{w1}"]
    unit = draw(st.sampled_from(["", " @span", " @word", " @sentence"]))
    return body + unit, hits


FORMULAS = ["G !a", "G(a -> O b)", "G !(a & b)", "G(b -> WX !a)"]


@st.composite
def specs(draw: Any) -> tuple[str, list[str]]:
    (a, hits_a), (b, hits_b) = draw(props()), draw(props())
    formula = draw(st.sampled_from(FORMULAS))
    text = f"observe reply: text\nprop a = reply {a}\nprop b = reply {b}\nspec s {{ {formula} }}\n"
    return text, hits_a + hits_b


# --- the attacker ----------------------------------------------------------------------

class Attack:
    """Random scores that keep pushing each row towards the targets: the next token of
    a target whose beginning the row ends with gets a large boost, a target's first token
    a smaller one."""

    def __init__(self, tok: Any, targets: list[str], seed: int) -> None:
        self.targets = [ids for t in targets
                        if (ids := tok(t, add_special_tokens=False)["input_ids"])]
        self.gen = torch.Generator().manual_seed(seed)

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        out = 2.0 * torch.randn(scores.shape, generator=self.gen)
        for r, row in enumerate(input_ids.tolist()):
            for tgt in self.targets:
                for k in range(min(len(tgt) - 1, len(row)), 0, -1):
                    if row[-k:] == tgt[:k]:
                        out[r, tgt[k]] += 9.0
                        break
                else:
                    out[r, tgt[0]] += 4.0
        return out


MODES = {
    "greedy keep=1": ({"do_sample": False}, {"keep": 1}),
    "greedy": ({"do_sample": False}, {}),
    "sampling": ({"do_sample": True, "top_k": 0}, {}),
    "sampling x2": ({"do_sample": True, "top_k": 0, "num_return_sequences": 2}, {}),
    "beam 2": ({"do_sample": False, "num_beams": 2}, {}),
    "beam 3 x3": ({"do_sample": False, "num_beams": 3, "num_return_sequences": 3}, {}),
    "beam 3 x2 sampled": ({"do_sample": True, "top_k": 0, "num_beams": 3,
                           "num_return_sequences": 2}, {}),
}

STATS: Counter[str] = Counter()
_TABLES: dict[tuple[str, str, str], ShieldTables] = {}


@pytest.fixture(scope="module", autouse=True)
def _report(request: Any) -> Any:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a 1-layer model of width 16: threads only cost time
    yield
    torch.set_num_threads(threads)
    if STATS["examples"]:
        line = ", ".join(f"{k} {v}" for k, v in sorted(STATS.items()))
        reporter = request.config.pluginmanager.getplugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"\nshield attack totals: {line}")


def _generate(lm: Any, tok: Any, prompts: list[str], procs: list[Any], stops: list[Any],
              n: int, kw: dict[str, Any], seed: int) -> list[str]:
    enc = tok(prompts, return_tensors="pt", padding=True)
    torch.manual_seed(seed)
    with torch.no_grad():
        out = lm.generate(**enc, max_new_tokens=n, pad_token_id=tok.pad_token_id,
                          eos_token_id=tok.eos_token_id,
                          logits_processor=transformers.LogitsProcessorList(procs),
                          stopping_criteria=transformers.StoppingCriteriaList(stops), **kw)
    plen = enc["input_ids"].shape[1]
    return [tok.decode(row[plen:], skip_special_tokens=True) for row in out]


@PROFILE
@given(spec=specs(), unit=st.sampled_from(["word", "sentence"]),
       kind=st.sampled_from(sorted(TOKENIZERS)), mode=st.sampled_from(sorted(MODES)),
       calls=st.lists(st.lists(st.sampled_from(PROMPTS), min_size=1, max_size=3),
                      min_size=1, max_size=2),
       seed=st.integers(0, 2**31 - 1), n=st.integers(4, 10), top_k=st.sampled_from([4, 16]),
       lazy=st.booleans(), stop=st.booleans())
def test_no_shielded_reply_violates_the_spec(
        tmp_path_factory: Any, spec: tuple[str, list[str]], unit: str, kind: str, mode: str,
        calls: list[list[str]], seed: int, n: int, top_k: int, lazy: bool,
        stop: bool) -> None:
    text, targets = spec
    module = speclang.loads(text)
    tok, lm = tokenizer_and_model(kind)
    gen_kw, shield_kw = MODES[mode]
    key = (text, unit, kind)
    if key not in _TABLES:
        cache = Path(tmp_path_factory.getbasetemp()) / "shield-attack-cache"
        _TABLES[key] = ShieldTables(TextMonitor.from_module(module, "s", unit=unit), tok,
                                    cache)
    mon = TextMonitor.from_module(module, "s", unit=unit)
    shield = SpecLogitsProcessor(mon, tok, tables=_TABLES[key], top_k=top_k, lazy=lazy,
                                 **shield_kw)
    stops = [ViolationStoppingCriteria(shield.tracker)] if stop else []
    oracle = TextMonitor.from_module(module, "s", unit=unit)
    event(f"mode: {mode}")
    event(f"tokenizer: {kind}")
    for i, prompts in enumerate(calls):  # one processor, reused across calls
        attack = Attack(tok, targets, seed + i)
        replies = _generate(lm, tok, prompts, [attack, shield], stops, n, gen_kw, seed + i)
        STATS["replies"] += len(replies)
        if i == 0:  # how strong the attack is: the same run without the shield
            bare = _generate(lm, tok, prompts, [Attack(tok, targets, seed)], [], n, gen_kw,
                             seed)
            STATS["unshielded replies"] += len(bare)
            STATS["unshielded replies that violate"] += sum(
                label_text(oracle, r).violated for r in bare)
        for reply in replies:
            verdict = label_text(oracle, reply)
            assert not verdict.violated, (text, unit, kind, mode, prompts, reply,
                                          verdict.explanation)
    STATS["examples"] += 1
    STATS["interventions"] += len(shield.interventions)


@pytest.mark.parametrize("special", [False, True])
def test_byte_pieces_count_as_text_unless_decoding_skips_them(special: bool) -> None:
    """Found by the attack above: byte pieces registered as special tokens are dropped by
    ``skip_special_tokens``; judged as U+FFFD, "mg <0xB1> mg" passed the shield and decoded
    to "mg  mg"."""
    from speclang.llm.shield_index import token_bytes

    tok = _byte_fallback(400, special_bytes=special)
    i = tok.convert_tokens_to_ids("<0xB1>")
    mg = tok.convert_tokens_to_ids("\u2581mg")
    assert tok.decode([mg, i, mg], skip_special_tokens=True) == ("mg mg" if special
                                                                 else "mg\ufffd mg")
    assert token_bytes(tok)[i] == (b"" if special else b"\xb1")
