"""The shield's three layers (issue 13): the index and the guide work on numpy alone, the
transformers processor only translates tensors, and what ``generate`` would make unsound
is refused at the first call."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import speclang  # noqa: E402
from speclang.llm import TextMonitor  # noqa: E402
from speclang.llm.shield import SpecLogitsProcessor, UnfollowableSequences  # noqa: E402
from speclang.llm.shield_guide import ShieldGuide  # noqa: E402
from speclang.llm.shield_index import ShieldTables  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
MOD = speclang.loads(r'''
observe reply: text
prop dosage = reply matches /\b\d+\s?mg\b/i
spec never { G !dosage }
''')


def test_index_and_guide_import_no_framework() -> None:
    code = ("import sys, speclang.llm.shield_index, speclang.llm.shield_guide\n"
            "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"


def test_the_processor_returns_what_the_guide_computes_on_numpy(
        tiny_tok: Any, tmp_path: Path) -> None:
    mon = TextMonitor.from_module(MOD, "never")
    tables = ShieldTables(mon, tiny_tok, tmp_path)
    proc = SpecLogitsProcessor(mon, tiny_tok, tables=tables, top_k=8)
    guide = ShieldGuide(TextMonitor.from_module(MOD, "never"), tables, top_k=8,
                        eos=tiny_tok.eos_token_id)
    ids = tiny_tok(["Take", "Hello there"], return_tensors="pt", padding=True)["input_ids"]
    two = tiny_tok(" 200", add_special_tokens=False)["input_ids"][:1]
    scores = torch.randn(2, len(tiny_tok), generator=torch.Generator().manual_seed(3))
    scores[:, tiny_tok(" mg", add_special_tokens=False)["input_ids"][0]] = 30.0
    # The prompts, then a step whose generated " 200" makes " mg" unsafe.
    for step in (ids, torch.cat([ids, torch.tensor([two, two])], dim=1)):
        want = guide.process(step.numpy(), scores.numpy())
        got = proc(step, scores.clone())
        assert np.array_equal(got.numpy(), want)
    assert not np.isfinite(want).all()  # something was masked


def _generate(lm: Any, tok: Any, shield: Any, **kw: Any) -> Any:
    enc = tok(["Take 200"], return_tensors="pt")
    return lm.generate(**enc, max_new_tokens=4, pad_token_id=tok.pad_token_id,
                       logits_processor=transformers.LogitsProcessorList([shield]), **kw)


@pytest.mark.parametrize("kw", [{"do_sample": True}, {"do_sample": False, "num_beams": 2}])
def test_greedy_only_masking_is_refused_under_sampling_and_beams(
        tiny_lm: Any, tiny_tok: Any, tmp_path: Path, kw: dict[str, Any]) -> None:
    shield = SpecLogitsProcessor(TextMonitor.from_module(MOD, "never"), tiny_tok,
                                 cache_dir=tmp_path, keep=1)
    with pytest.raises(ValueError, match="keep=1"):
        _generate(tiny_lm, tiny_tok, shield, **kw)
    _generate(tiny_lm, tiny_tok, shield, do_sample=False)  # greedy is what it is for


def test_assisted_decoding_is_refused(tiny_lm: Any, tiny_tok: Any, tmp_path: Path) -> None:
    shield = SpecLogitsProcessor(TextMonitor.from_module(MOD, "never"), tiny_tok,
                                 cache_dir=tmp_path)
    with pytest.raises(UnfollowableSequences, match="assisted"):
        _generate(tiny_lm, tiny_tok, shield, do_sample=False, prompt_lookup_num_tokens=2)


def test_rows_that_follow_no_sequence_are_refused(tiny_tok: Any, tmp_path: Path) -> None:
    shield = SpecLogitsProcessor(TextMonitor.from_module(MOD, "never"), tiny_tok,
                                 cache_dir=tmp_path)
    v = len(tiny_tok)
    shield(torch.tensor([[5, 6], [7, 8]]), torch.zeros(2, v))
    shield(torch.tensor([[5, 6, 9], [7, 8, 9]]), torch.zeros(2, v))
    with pytest.raises(UnfollowableSequences, match=r"rows \[1\]"):
        shield(torch.tensor([[5, 6, 9, 9], [1, 2, 3, 4]]), torch.zeros(2, v))
    shield(torch.tensor([[5, 6, 9, 9], [7, 8, 9, 9]]), torch.zeros(2, v))
    # Going back inside generated text: what the shield let through would become prompt.
    with pytest.raises(UnfollowableSequences, match="goes back"):
        shield(torch.tensor([[5, 6, 9]]), torch.zeros(1, v))
    shield(torch.tensor([[5, 6]]), torch.zeros(1, v))  # the same prompt again is new
    assert shield.tracker.prompt_lens == [2]


def test_scores_numpy_cannot_view_are_masked_in_their_own_dtype(tiny_tok: Any,
                                                                tmp_path: Path) -> None:
    """bfloat16 (like scores on a GPU) has no numpy view: the check runs on a float32 copy
    and the masked scores come back as bfloat16, the same tokens masked."""
    mon = TextMonitor.from_module(MOD, "never")
    tables = ShieldTables(mon, tiny_tok, tmp_path)
    ids = torch.tensor([tiny_tok("Take 200", add_special_tokens=False)["input_ids"]])
    scores = torch.randn(1, len(tiny_tok), generator=torch.Generator().manual_seed(1))
    scores[0, tiny_tok(" mg", add_special_tokens=False)["input_ids"][0]] = 30.0
    scores = scores.to(torch.bfloat16).float()  # values both dtypes hold exactly
    masked = {}
    for dtype in (torch.float32, torch.bfloat16):
        proc = SpecLogitsProcessor(TextMonitor.from_module(MOD, "never"), tiny_tok,
                                   tables=tables, top_k=8)
        proc(ids[:, :1], torch.zeros(1, len(tiny_tok), dtype=dtype))
        proc.monitor.feed(0, "Take 200")
        out = proc(ids[:, :1], scores.to(dtype))
        assert out.dtype == dtype
        masked[dtype] = torch.isfinite(out[0]).tolist()
    assert masked[torch.float32] == masked[torch.bfloat16]
    assert sum(masked[torch.float32]) < len(tiny_tok)
