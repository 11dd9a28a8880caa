"""Property tests of the shield's fast paths against the independent reference: the post-hoc
monitor (``label_text``) run from scratch on the text with the candidate token appended.

The fast paths under test: the check of a candidate reused when that candidate is fed, the
proposition values remembered per unit, the per-state decision trees, the quick necessary
tests run before slow patterns, and the sentence scans that start only at punctuation runs.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import speclang
from speclang.llm import TextMonitor, UnitStream, label_text
from speclang.llm.labels import match_prefilter

SPEC = r'''
observe reply: text
prop dosage = reply matches /\b\d+(?:[.,]\d+)?\s?(?:mg|ml|milligrams?)\b/i
prop disclaimer = reply contains {"not a doctor", "consult a doctor"} @sentence
prop swear = reply matches /\b(?:damn|hell)\b/i @word
prop shout = reply matches /!!+/
prop trail = reply matches /mg\s/
spec dd { G(dosage -> O disclaimer) }
spec clean { G !swear }
spec calm { G !shout }
spec both { G(!swear & (dosage -> O disclaimer)) }
spec spaced { G !trail }
'''
MOD = speclang.loads(SPEC)
SPECS = ["dd", "clean", "calm", "both", "spaced"]
UNITS = ["token", "word", "sentence"]

# Pieces as a tokenizer would produce them: leading spaces, sub-words, digits, punctuation
# runs, blank lines, closing quotes, and characters that ``re`` folds onto ASCII letters
# under IGNORECASE ("ſ" ~ "s", the Kelvin sign ~ "k").
PIECES = ["Take", " take", " 200", "200", "2", ".5", " mg", "mg", "m", "g", " ml", " milligrams",
          ".", ",", "!", "!!", "?", "???", " ", "  ", "\n", "\n\n", " I", " am", " not", " a",
          " doctor", " conſult", " consult", " damn", "dam", "n", " hell", "o", "ation", "\"",
          ")", " is", " fine", "\u212a", "e.g."]
pieces = st.lists(st.sampled_from(PIECES), max_size=14)


def _reference(spec: str, unit: str, parts: list[str]) -> bool:
    mon = TextMonitor.from_module(MOD, spec, unit=unit)
    return label_text(mon, parts if unit == "token" else "".join(parts)).violated


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(SPECS), st.sampled_from(UNITS), pieces, st.sampled_from(PIECES))
def test_would_violate_is_the_reference_verdict_of_the_extended_text(
        spec: str, unit: str, prefix: list[str], piece: str) -> None:
    mon = TextMonitor.from_module(MOD, spec, unit=unit)
    mon.reset(1)
    for p in prefix:
        mon.feed(0, p)
    assume(not mon.violated(0))
    expected = _reference(spec, unit, [*prefix, piece])
    assert mon.would_violate(0, piece, remember=False) == expected  # sampling's way
    assert mon.would_violate(0, piece) == expected  # greedy's way
    assert mon.would_violate(0, piece, remember=False) == expected  # after it, same answer


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(SPECS), st.sampled_from(UNITS), pieces,
       st.lists(st.lists(st.sampled_from(PIECES), min_size=1, max_size=4), max_size=8))
def test_feeding_after_checks_equals_feeding_alone(
        spec: str, unit: str, text: list[str], candidates: list[list[str]]) -> None:
    """Checks leave the stream alone, and a fed piece that was checked (its probe reused)
    or not gives the same states and steps as a monitor that never checked anything."""
    checked = TextMonitor.from_module(MOD, spec, unit=unit)
    plain = TextMonitor.from_module(MOD, spec, unit=unit)
    checked.reset(1)
    plain.reset(1)
    for i, p in enumerate(text):
        for j, c in enumerate(candidates[i] if i < len(candidates) else []):
            checked.would_violate(0, c, remember=j % 2 == 0)
        if i < len(candidates) and i % 2 == 0:  # the piece fed next was checked
            checked.would_violate(0, p, remember=i % 4 == 0)
        checked.feed(0, p)
        plain.feed(0, p)
        assert checked.state(0) == plain.state(0)
    checked.finish(0)
    plain.finish(0)
    strip = [(s.text, s.true, s.state, s.verdict) for s in plain.rows[0].steps]
    assert [(s.text, s.true, s.state, s.verdict) for s in checked.rows[0].steps] == strip


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["word", "sentence"]), pieces, st.data())
def test_units_do_not_depend_on_how_the_text_arrives(unit: str, parts: list[str],
                                                     data: Any) -> None:
    text = "".join(parts)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=6)))

    def units(chunks: list[str]) -> list[tuple[str, int]]:
        s = UnitStream(unit)
        out = [u for c in chunks for u in s.append(c)] + s.finish()
        # A sentence unit completes at the first blank line, so when whitespace arrives bit
        # by bit the rest of it is not part of it (it is when the text comes at once): only
        # trailing whitespace may differ.
        return [(s.text[u.start:u.end].rstrip() if unit == "sentence"
                 else s.text[u.start:u.end], u.sentence_start) for u in out]

    chunks = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    assert units(chunks) == units([text]) == units(list(text))


# --- the quick necessary tests (match_prefilter) --------------------------------------------

ATOMS = [r"\d+", r"\d", r"mg", r"doctor", r"not\s+a\s+doctor", r"(?:mg|ml|g)", r"\s?",
         r"[.,]", r"\b", r"(?<!\w)", r"(?!\w)", r"(?:abc|)", r"x*", r"(?:hell|damn)",
         r"[^a]", r".", r"(\d)\1", r"k", r"s", r"(?:\d|a)", r"!!+", r"[0-9.]+"]
FLAGS = [0, re.IGNORECASE, re.IGNORECASE | re.ASCII]
TEXT = st.text(alphabet=list("0123456789 .,!mgldoctrnaxbhesk\u017f\u212a\u0130\nMGDOK"),
               max_size=30)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(ATOMS), min_size=1, max_size=4), st.sampled_from(FLAGS),
       st.lists(TEXT, min_size=1, max_size=5))
def test_prefilter_never_rules_out_a_match(atoms: list[str], flags: int,
                                           texts: list[str]) -> None:
    pattern = re.compile("".join(atoms), flags)
    quick = match_prefilter(pattern)
    assume(quick is not None)
    for text in texts:
        if pattern.search(text) is not None:
            assert quick(text), (pattern.pattern, text)


def test_prefilters_found_for_the_example_patterns() -> None:
    chatbot = speclang.load("examples/chatbot.spec")
    found = {p: match_prefilter(d.compiled) is not None for p, d in chatbot.derived.items()}
    assert found == {"dosage": True, "disclaimer": True, "referral": True, "profanity": True}
    dosage = match_prefilter(chatbot.derived["dosage"].compiled)
    assert dosage is not None and not dosage("take two tablets") and dosage("take 2")
    # Case folding beyond ASCII is left to the pattern itself.
    disclaimer = match_prefilter(chatbot.derived["disclaimer"].compiled)
    assert disclaimer is not None and disclaimer("CONSULT A DOCTOR") and disclaimer("\u017f")


# --- the shield against the reference ----------------------------------------------------

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def shields(tiny_tok: Any, tmp_path_factory: Any) -> dict[str, Any]:
    from speclang.llm.shield import ShieldTables

    cache = tmp_path_factory.mktemp("masks")
    out = {}
    for spec in SPECS:
        mon = TextMonitor.from_module(MOD, spec, unit="word")
        out[spec] = (mon, ShieldTables(mon, tiny_tok, cache))
    return out


def _favouring(tok: Any, seed: int, pieces: tuple[str, ...], boost: float) -> Any:
    """Random scores over the vocabulary with the first token of each piece raised by
    ``boost``, so that tokens that matter to the specs are often on top."""
    scores = torch.randn(1, len(tok), generator=torch.Generator().manual_seed(seed))
    for p in pieces:
        for i in tok(p, add_special_tokens=False)["input_ids"][:1]:
            scores[0, i] += boost
    return scores


def _primed(shields: dict[str, Any], tok: Any, spec: str, prefix: str, **kw: Any) -> Any:
    from speclang.llm.shield import SpecLogitsProcessor

    mon, tables = shields[spec]
    shield = SpecLogitsProcessor(mon, tok, tables=tables, **kw)
    prompt = torch.zeros(1, 1, dtype=torch.long)
    shield(prompt, torch.zeros(1, len(tok)))  # learns the prompt, resets the monitor
    mon.feed(0, prefix)  # the generated text so far
    return shield, prompt


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(SPECS), pieces, st.integers(0, 2**31 - 1))
def test_greedy_shield_picks_the_best_token_the_reference_allows(
        shields: dict[str, Any], tiny_tok: Any, spec: str, prefix: list[str],
        seed: int) -> None:
    text = "".join(prefix)
    assume(not _reference(spec, "word", [text]))  # judged so far as if it ended here
    shield, prompt = _primed(shields, tiny_tok, spec, text, keep=1, top_k=400)
    scores = _favouring(tiny_tok, seed, (" mg", "mg", " damn", " hell", "!", " doctor"), 4.0)
    texts = shield.tables.texts
    out = shield(prompt, scores.clone())
    chosen = int(out[0].argmax())
    ranked = torch.argsort(scores[0], descending=True).tolist()
    for t in ranked[:ranked.index(chosen)]:  # everything the model preferred was unsafe
        assert _reference(spec, "word", [text, texts[t]]), (text, texts[t])
    if chosen != tiny_tok.eos_token_id:
        assert not _reference(spec, "word", [text, texts[chosen]]), (text, texts[chosen])


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(SPECS), pieces, st.integers(0, 2**31 - 1))
def test_sampling_shield_keeps_exactly_the_safe_tokens_among_the_top_k(
        shields: dict[str, Any], tiny_tok: Any, spec: str, prefix: list[str],
        seed: int) -> None:
    text = "".join(prefix)
    assume(not _reference(spec, "word", [text]))
    k = 24
    shield, prompt = _primed(shields, tiny_tok, spec, text, top_k=k)
    scores = _favouring(tiny_tok, seed, (" mg", "mg", " damn", "!", " doctor"), 3.0)
    tables = shield.tables
    state = shield.monitor.state(0)
    out = shield(prompt, scores.clone())
    texts = tables.texts
    if bool(torch.isfinite(out[0]).all()):  # a state from which no token reaches the sink
        assert shield.guide._quiet[state]
        top = torch.topk(scores[0], k).indices.tolist()
        assert not any(_reference(spec, "word", [text, texts[t]]) for t in top)
        return
    # The candidates: the k best tokens among those not banned on their own in this state.
    ranked = scores.clone()
    ranked[0, torch.from_numpy(tables.static[state])] = float("-inf")
    top = torch.topk(ranked[0], k).indices.tolist()
    safe = {t for t in top if not _reference(spec, "word", [text, texts[t]])}
    finite = set(torch.isfinite(out[0]).nonzero().flatten().tolist())
    if safe:
        # Sound and, within the top k, exact; beyond it everything is masked (as top-k
        # sampling would), which is the one place where the shield is conservative.
        assert finite == safe
        assert all(out[0, t] == scores[0, t] for t in safe)
    else:
        assert finite == {tiny_tok.eos_token_id}


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**31 - 1), st.sampled_from([1, 8, 32]), st.booleans())
def test_top_k_of_a_large_vocabulary_is_torch_topk(seed: int, k: int, ties: bool) -> None:
    import numpy as np

    from speclang.llm.shield import _top_k

    rng = np.random.default_rng(seed)
    scores = rng.standard_normal(49152).astype(np.float32)
    if ties:  # many equal scores, and masked ones
        scores = np.round(scores, 1)
        scores[rng.integers(0, 49152, 500)] = -np.inf
    got = _top_k(scores, k)
    want = torch.topk(torch.from_numpy(scores), k).values.numpy()
    assert len(set(got)) == k and np.array_equal(scores[got], want)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**31 - 1), st.sampled_from([1, 8, 32, 50]), st.integers(1, 5),
       st.sampled_from([49152, 49157, 32001, 4000, 320]),
       st.sampled_from(["plain", "ties", "masked", "nan", "few finite"]))
def test_block_top_k_of_every_row_is_torch_topk(seed: int, k: int, rows: int, vocab: int,
                                                kind: str) -> None:
    """The top_k of all rows at once (group maxima, then only the groups that reach the
    k-th largest) against torch.topk with NaN ranked last."""
    import numpy as np

    from speclang.llm.shield_guide import top_k_rows

    rng = np.random.default_rng(seed)
    scores = rng.standard_normal((rows, vocab)).astype(np.float32)
    if kind == "ties":
        scores = np.round(scores, 1)
    elif kind == "masked":
        scores[:, rng.integers(0, vocab, vocab // 2)] = -np.inf
    elif kind == "nan":
        scores[:, rng.integers(0, vocab, 40)] = np.nan
    elif kind == "few finite":  # fewer finite scores than k in some rows
        scores[:] = -np.inf
        scores[:, rng.integers(0, vocab, 3)] = 1.0
    got = top_k_rows(scores, k)
    for r in range(rows):
        row = np.where(np.isnan(scores[r]), -np.inf, scores[r])
        want = torch.topk(torch.from_numpy(row), min(k, vocab)).values.numpy()
        assert len(set(got[r])) == min(k, vocab) and np.array_equal(row[got[r]], want)


@settings(max_examples=200, deadline=None)
@given(pieces)
def test_trailing_run_shortcut_finds_the_same_run_start(parts: list[str]) -> None:
    from speclang.llm.labels import _run_start

    s = UnitStream("word")
    for p in parts:
        s.append(p)
        assert [s._run_start(i) for i in range(len(s.text) + 1)] == \
            [_run_start(s.text, i) for i in range(len(s.text) + 1)]


def test_without_decision_trees_checks_evaluate_whole_letters(monkeypatch: Any) -> None:
    """Monitors over more propositions than a tree is built for take the other path."""
    import speclang.llm.monitor as text_monitor

    monkeypatch.setattr(text_monitor, "_MAX_TREE_PROPS", 0)
    cases = [("Take 200", " mg"), ("I am not a doctor. Take 200", " mg"), ("oh", " damn"),
             ("Wow", "!!"), ("Take 5", "mg"), ("fine", " text")]
    for spec in SPECS:
        for prefix, piece in cases:
            mon = TextMonitor.from_module(MOD, spec, unit="word")
            mon.reset(1)
            mon.feed(0, prefix)
            assert mon._sink_tree(mon.state(0)) == ()
            expected = _reference(spec, "word", [prefix, piece])
            assert mon.would_violate(0, piece) == expected, (spec, prefix, piece)
            assert mon.would_violate(0, piece, remember=False) == expected
