"""The shield's bypasses found by trying it as a user would (issue 16): beam search
reordering rows, one processor reused across ``generate`` calls, and characters split
across byte-level BPE tokens. Each is judged by the post-hoc monitor on the decoded text."""

from __future__ import annotations

from typing import Any

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import speclang  # noqa: E402
from speclang.llm import TextMonitor, label_text  # noqa: E402
from speclang.llm.shield import SpecLogitsProcessor  # noqa: E402
from tests.llm.pushing import Push  # noqa: E402

SPEC = r'''
observe reply: text
prop dosage = reply matches /\b\d+\s?mg\b/i
spec never { G !dosage }
'''
MOD = speclang.loads(SPEC)


def _violated(text: str) -> bool:
    return label_text(TextMonitor.from_module(MOD, "never"), text).violated


def _ids(tok: Any, text: str) -> list[int]:
    return tok(text, add_special_tokens=False)["input_ids"]


def test_beam_reordered_rows_keep_their_own_state(tiny_tok: Any, tmp_path: Any) -> None:
    """Between two steps beam search swaps the rows: the row that now holds "200" must be
    judged by its own text, so " mg" is refused there."""
    shield = SpecLogitsProcessor(TextMonitor.from_module(MOD, "never"), tiny_tok,
                                 cache_dir=tmp_path, top_k=8)
    prompt = _ids(tiny_tok, "Hello")
    two, hundred = _ids(tiny_tok, "200")
    t, ak = _ids(tiny_tok, "Tak")[:2]
    mg = _ids(tiny_tok, " mg")[0]
    v = len(tiny_tok)
    shield(torch.tensor([prompt, prompt]), torch.zeros(2, v))
    shield(torch.tensor([prompt + [two], prompt + [t]]), torch.zeros(2, v))
    scores = torch.zeros(2, v)
    scores[:, mg] = 50.0
    rows = [prompt + [t, ak], prompt + [two, hundred]]  # swapped
    out = shield(torch.tensor(rows), scores)
    texts = [tiny_tok.decode(r[len(prompt):]) for r in rows]
    assert texts == ["Tak", "200"]
    assert torch.isfinite(out[0, mg])  # "Tak mg" is fine
    assert not torch.isfinite(out[1, mg])  # "200 mg" is not
    assert _violated("200 mg") and not _violated("Tak mg")




def _generate(lm: Any, tok: Any, prompts: list[str], push: str, shield: Any, n: int,
              **kw: Any) -> list[str]:
    enc = tok(prompts, return_tensors="pt", padding=True)
    plen = enc["input_ids"].shape[1]
    lp = transformers.LogitsProcessorList([Push(tok, push, plen), shield])
    out = lm.generate(**enc, max_new_tokens=n, logits_processor=lp, **kw)
    return [tok.decode(row[plen:], skip_special_tokens=True) for row in out]


def test_a_processor_reused_across_generate_calls_starts_over(
        tiny_lm: Any, tiny_tok: Any, tmp_path: Any) -> None:
    """The second, longer prompt is not generated text: "200 mg" right after it is refused
    (the old tracker read it as "...ay200 mg", where no number starts)."""
    shield = SpecLogitsProcessor(TextMonitor.from_module(MOD, "never"), tiny_tok,
                                 cache_dir=tmp_path, top_k=8)
    _generate(tiny_lm, tiny_tok, ["Hello"], " Take", shield, 3, do_sample=False)
    prompt = "Hello! How can I help you today? Please say"
    for _ in range(2):  # and once more with the same prompt
        text = _generate(tiny_lm, tiny_tok, [prompt], "200 mg", shield, 6, do_sample=False)[0]
        assert not _violated(text), text
    fresh = SpecLogitsProcessor(TextMonitor.from_module(MOD, "never"), tiny_tok,
                                cache_dir=tmp_path, top_k=8)
    assert _generate(tiny_lm, tiny_tok, [prompt], "200 mg", fresh, 6,
                     do_sample=False)[0] == text


@pytest.mark.parametrize("kw", [
    {"do_sample": False, "num_beams": 4, "num_return_sequences": 4},
    {"do_sample": False, "num_beams": 3, "num_return_sequences": 2},
    {"do_sample": True, "num_return_sequences": 3, "top_k": 0},
])
def test_shielded_generate_never_violates_in_batches_with_padding(
        tiny_lm: Any, tiny_tok: Any, tmp_path: Any, kw: dict[str, Any]) -> None:
    shield = SpecLogitsProcessor(TextMonitor.from_module(MOD, "never"), tiny_tok,
                                 cache_dir=tmp_path, top_k=16)
    prompts = ["Hello", "Take 5", "A dose of"]
    for seed in range(3):
        torch.manual_seed(seed)
        for push in (" 200 mg", " Take 500 mg of it", "0 mg"):
            texts = _generate(tiny_lm, tiny_tok, prompts, push, shield, 8,
                              pad_token_id=tiny_tok.pad_token_id, **kw)
            assert len(texts) == len(prompts) * kw["num_return_sequences"]
            for text in texts:
                assert not _violated(text), (kw, seed, push, text)


def test_a_character_split_over_byte_tokens_is_judged_whole(
        tiny_lm: Any, tiny_tok: Any, tmp_path: Any) -> None:
    """"٥" (an Arabic-Indic five, a digit to ``\\d``) is two byte-level tokens, each of which
    decodes to U+FFFD on its own: judged per token, "Take ٥ mg" passed the shield."""
    ids = _ids(tiny_tok, " ٥")
    assert len(ids) >= 3 and all(tiny_tok.decode([i]) in (" ", "\ufffd") for i in ids)
    assert _violated("Take ٥ mg")
    for unit in ("word", "token"):
        shield = SpecLogitsProcessor(TextMonitor.from_module(MOD, "never", unit=unit),
                                     tiny_tok, cache_dir=tmp_path, top_k=8)
        text = _generate(tiny_lm, tiny_tok, ["Hello"], " Take ٥ mg", shield, 8,
                         do_sample=False)[0]
        assert text.startswith(" Take ٥") and not _violated(text), text
        assert shield.interventions


def test_greedy_leaves_only_eos_when_nothing_checked_is_safe(tiny_tok: Any,
                                                             tmp_path: Any) -> None:
    """With every checked token refused, the tokens below the ``top_k`` were never checked:
    greedy masking left them their scores, so argmax took one of them instead of EOS
    (found by tests/llm/test_llm_shield_attack.py)."""
    shield = SpecLogitsProcessor(TextMonitor.from_module(MOD, "never"), tiny_tok,
                                 cache_dir=tmp_path, top_k=1, keep=1)
    prompt = torch.tensor([_ids(tiny_tok, "Hello")])
    v = len(tiny_tok)
    shield(prompt, torch.zeros(1, v))
    shield.monitor.feed(0, "Take 200")
    scores = torch.randn(1, v, generator=torch.Generator().manual_seed(0))
    scores[0, _ids(tiny_tok, " mg")[0]] = 50.0
    scores[0, tiny_tok.eos_token_id] = -50.0
    out = shield(prompt, scores)
    assert int(out[0].argmax()) == tiny_tok.eos_token_id
    assert torch.isfinite(out[0]).sum() == 1


def test_rewards_accept_every_trl_completion_format() -> None:
    from speclang.llm.rewards import spec_reward

    reward = spec_reward(TextMonitor.from_module(MOD, "never"))
    bad, good = "Take 200 mg now.", "Drink water."
    completions = [
        bad, good,
        [{"role": "assistant", "content": bad}],
        [{"role": "assistant", "content": None, "tool_calls": [{"name": "f"}]}],
        [{"role": "assistant", "content": [{"type": "text", "text": "Take 200"},
                                           {"type": "image"}, {"type": "text",
                                                               "text": " mg"}]}],
        [{"role": "user", "content": bad}, {"role": "assistant", "content": good}],
    ]
    assert reward(prompts=["q"] * 6, completions=completions) == [
        -1.0, 0.5, -1.0, 0.5, -1.0, 0.5]
