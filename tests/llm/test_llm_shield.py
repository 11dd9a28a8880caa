"""The decoding-time shield on a tiny offline model: refused tokens, interventions, the
stopping criterion, sound masking, and the on-disk mask cache."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import speclang  # noqa: E402
from speclang.llm import TextMonitor, label_text  # noqa: E402
from speclang.llm.shield import (  # noqa: E402
    SequenceTracker,
    ShieldTables,
    SpecLogitsProcessor,
    ViolationStoppingCriteria,
)
from tests.llm.pushing import Push  # noqa: E402

SPEC = r'''
observe reply: text
prop dosage = reply matches /\b\d+\s?mg\b/i
prop disclaimer = reply contains {"not a doctor"} @sentence
spec dd { G(dosage -> O disclaimer) }
spec never { G !dosage }
'''
MOD = speclang.loads(SPEC)




def _generate(tiny_lm: Any, tok: Any, prompt: str, push: str, procs: list[Any],
              stops: list[Any] | None = None, n: int = 12) -> list[int]:
    enc = tok([prompt], return_tensors="pt")
    lp = transformers.LogitsProcessorList(
        [Push(tok, push, enc["input_ids"].shape[1]), *procs])
    out = tiny_lm.generate(**enc, max_new_tokens=n, do_sample=False, logits_processor=lp,
                           stopping_criteria=transformers.StoppingCriteriaList(stops or []))
    return out[0, enc["input_ids"].shape[1]:].tolist()


def test_unshielded_model_writes_the_dosage(tiny_lm: Any, tiny_tok: Any) -> None:
    ids = _generate(tiny_lm, tiny_tok, "Hello", " Take 200 mg of it.", [])
    text = tiny_tok.decode(ids, skip_special_tokens=True)
    assert "200 mg" in text
    assert label_text(TextMonitor.from_module(MOD, "never"), text).violated


@pytest.mark.parametrize("unit", ["token", "word", "sentence"])
def test_shield_refuses_the_dosage_and_says_why(tiny_lm: Any, tiny_tok: Any, tmp_path: Path,
                                                unit: str) -> None:
    mon = TextMonitor.from_module(MOD, "never", unit=unit)
    shield = SpecLogitsProcessor(mon, tiny_tok, cache_dir=tmp_path, top_k=8)
    ids = _generate(tiny_lm, tiny_tok, "Hello", " Take 200 mg of it.", [shield])
    text = tiny_tok.decode(ids, skip_special_tokens=True)
    assert "200 mg" not in text.replace("  ", " ")
    # The post-hoc monitor, independent of the shield's bookkeeping, agrees.
    assert not label_text(TextMonitor.from_module(MOD, "never"), text).violated
    assert shield.interventions, "the shield never intervened"
    first = shield.interventions[0]
    assert "dosage" in first.reason and "never" in first.reason
    assert "mg" in first.refused or "m" in first.refused


def test_shield_allows_the_dosage_after_a_disclaimer(tiny_lm: Any, tiny_tok: Any,
                                                     tmp_path: Path) -> None:
    mon = TextMonitor.from_module(MOD, "dd", unit="word")
    shield = SpecLogitsProcessor(mon, tiny_tok, cache_dir=tmp_path, top_k=8)
    push = " I am not a doctor. Take 200 mg."
    ids = _generate(tiny_lm, tiny_tok, "Hello", push, [shield], n=20)
    assert tiny_tok.decode(ids, skip_special_tokens=True).startswith(push)
    assert shield.interventions == []


def test_every_unverified_token_is_masked(tiny_tok: Any, tmp_path: Path) -> None:
    mon = TextMonitor.from_module(MOD, "never", unit="word")
    shield = SpecLogitsProcessor(mon, tiny_tok, cache_dir=tmp_path, top_k=5)
    prompt = tiny_tok(["Take 200"], return_tensors="pt")["input_ids"]
    shield(prompt, torch.zeros(1, len(tiny_tok)))  # learns the prompt
    mon.feed(0, "Take 200")  # the prompt is context here: the reply continues it
    scores = torch.randn(1, len(tiny_tok))
    mg = tiny_tok(" mg", add_special_tokens=False)["input_ids"][0]
    scores[0, mg] = 50.0
    out = shield(prompt, scores)
    finite = torch.isfinite(out[0]).nonzero().flatten().tolist()
    assert mg not in finite and 0 < len(finite) <= 5
    for t in finite:  # each survivor really is safe, by the monitor's own check
        assert not mon.would_violate(0, tiny_tok.decode([t]))


def test_stopping_criterion_stops_on_violation(tiny_lm: Any, tiny_tok: Any) -> None:
    mon = TextMonitor.from_module(MOD, "never", unit="word")
    texts = [tiny_tok.decode([i]) for i in range(len(tiny_tok))]
    stop = ViolationStoppingCriteria(SequenceTracker(mon, texts))
    ids = _generate(tiny_lm, tiny_tok, "Hello", " Take 200 mg of it and more words here.", [],
                    [stop], n=30)
    text = tiny_tok.decode(ids, skip_special_tokens=True)
    assert "200 mg" in text and not text.rstrip().endswith("here.")
    assert mon.violated(0)


def test_masks_are_cached_on_disk_per_spec_and_tokenizer(tiny_tok: Any, tmp_path: Path) -> None:
    mod = speclang.loads('observe r: text\nprop bad = r contains "doctor" @word\n'
                         'spec s { G !bad }')
    mon = TextMonitor.from_module(mod, "s", unit="word")
    first = ShieldTables(mon, tiny_tok, tmp_path)
    assert first.cache_path.is_file()
    doctor = [i for i, t in enumerate(first.texts) if t.strip().lower() == "doctor"]
    assert doctor and all(first.static[0, i] for i in doctor)
    again = ShieldTables(mon, tiny_tok, tmp_path)
    assert (first.static == again.static).all()
    other = TextMonitor.from_module(MOD, "never", unit="word")
    assert ShieldTables(other, tiny_tok, tmp_path).cache_path != first.cache_path
