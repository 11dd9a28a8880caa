"""The shield's lazy path (llm.triggers, the lazy SequenceTracker, SpecLogitsProcessor's
greedy shortcut) against the independent reference: the post-hoc monitor (``label_text``)
run from scratch on the whole text, which judges the pending unit as if the text ended."""

from __future__ import annotations

import inspect
import re
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import speclang
from speclang.llm import TextMonitor, label_text
from speclang.llm.labels import match_need
from speclang.llm.shield import SequenceTracker
from speclang.llm.triggers import TriggerTables, ascii_fold_table
from speclang.model import TextPattern
from tests.llm.pushing import Push
from tests.llm.test_llm_shield_props import MOD, PIECES, SPECS
from tests.llm.test_llm_shield_props import shields as shields  # the fixture

# A small vocabulary: the property tests' pieces and a few more that split or fold needed
# strings ("da" + "mn", "Hell" + "o", the Kelvin sign in "\u212a"...), digits glued to units.
VOCAB = list(dict.fromkeys([
    *PIECES, "5mg", " 5 mg", "Hell", "hello", "shit", " crap", "DAMN", "dAmn", "\u212a",
    "da", "mn", " doc", "tor", " ell", "h", "HE", "LL", " not a", " consult a", "a doctor"]))
ID = {t: i for i, t in enumerate(VOCAB)}

_MONITORS: dict[tuple[str, str, str], TextMonitor] = {}
_TABLES: dict[tuple[str, str], TriggerTables] = {}


def _monitor(spec: str, unit: str, role: str) -> TextMonitor:
    """One monitor per (spec, unit, role): the code under test and the reference never
    share one."""
    key = (spec, unit, role)
    if key not in _MONITORS:
        _MONITORS[key] = TextMonitor.from_module(MOD, spec, unit=unit)
    return _MONITORS[key]


def _tables(spec: str, unit: str) -> TriggerTables:
    if (spec, unit) not in _TABLES:
        _TABLES[(spec, unit)] = TriggerTables(_monitor(spec, unit, "lazy"), VOCAB)
    return _TABLES[(spec, unit)]


def _violated(spec: str, unit: str, parts: list[str]) -> bool:
    """The reference verdict of the text made of ``parts``, as if it ended there."""
    mon = _monitor(spec, unit, "reference")
    return label_text(mon, parts if unit == "token" else "".join(parts)).violated


# --- 1. soundness of the candidates ----------------------------------------------------------

def _check_candidates(spec: str, unit: str, ids: list[int]) -> int:
    """Push ``ids`` one by one into a lazy tracker; at every point where the row is lazy,
    the text so far must be safe per the reference and every token that is no candidate
    must keep it safe. Returns how many lazy points were checked."""
    tracker = SequenceTracker(_monitor(spec, unit, "lazy"), VOCAB, _tables(spec, unit))
    tracker._reset(1)
    lazy_points = 0
    for n in range(len(ids) + 1):
        if n:
            tracker._push(0, ids[n - 1])
        st_ = tracker.lazy[0]
        if st_ is None:
            continue
        lazy_points += 1
        prefix = [VOCAB[i] for i in ids[:n]]
        assert not _violated(spec, unit, prefix), (spec, unit, prefix)
        tails = tracker.tails[0]
        for t, text in enumerate(VOCAB):
            if st_.is_cand[t] or st_.ends_any(tails, t):
                continue
            assert not _violated(spec, unit, [*prefix, text]), (spec, unit, prefix, text)
    return lazy_points


_DISCLAIMER_OVER_A_BLANK_LINE = [ID[" not"], ID[" a"], ID["\n\n"], ID[" doctor"], ID[" 200"]]

ids_strategy = st.lists(st.integers(0, len(VOCAB) - 1), max_size=10)


@pytest.mark.parametrize("unit", ["word", "sentence"])
@settings(max_examples=300, deadline=None)
@given(spec=st.sampled_from(SPECS), ids=ids_strategy)
def test_no_candidate_keeps_the_reference_safe(unit: str, spec: str, ids: list[int]) -> None:
    _check_candidates(spec, unit, ids)


# Token units depend on how the text arrives, so the deferred tokens must be fed one by one:
# fed at once, ' not a\n\n doctor 200' was one unit in which the disclaimer matched across
# the blank line (and ' mg' was let through), and 'TakeDAMN' one unit without a swear word.
@settings(max_examples=100, deadline=None)
@given(spec=st.sampled_from(SPECS), ids=ids_strategy)
@example(spec="dd", ids=_DISCLAIMER_OVER_A_BLANK_LINE)
@example(spec="clean", ids=[ID["Take"], ID["DAMN"]])
def test_no_candidate_keeps_the_reference_safe_token_units(spec: str, ids: list[int]) -> None:
    _check_candidates(spec, "token", ids)


def test_candidate_check_reaches_lazy_points_and_skips_tokens() -> None:
    """The property above is not vacuous: rows do go lazy, with tokens decided unchecked,
    and a needed string split over two tokens is a candidate by its end."""
    assert _check_candidates("both", "word", [ID["Take"], ID[" 200"]]) == 2
    tables = _tables("clean", "word")
    tracker = SequenceTracker(_monitor("clean", "word", "lazy"), VOCAB, tables)
    tracker._reset(1)
    tracker._push(0, ID["da"])
    st_ = tracker.lazy[0]
    assert st_ is not None and not st_.is_cand[ID["mn"]]
    assert st_.ends_any(tracker.tails[0], ID["mn"])  # "da" + "mn" = "damn"
    assert not st_.ends_any(tracker.tails[0], ID["tor"])
    assert st_.is_cand[ID["DAMN"]] and st_.is_cand[ID["dAmn"]] and not st_.is_cand[ID[" fine"]]
    # The Kelvin sign is no letter of "damn"/"hell": no candidate; "HE" + "LL" is one.
    tracker._push(0, ID["HE"])
    st_ = tracker.lazy[0]
    assert st_ is not None and st_.ends_any(tracker.tails[0], ID["LL"])


# --- shield fixtures ------------------------------------------------------------------------

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


def _shield(spec: str, tok: Any, tables: Any, unit: str = "word", **kw: Any) -> Any:
    from speclang.llm.shield import SpecLogitsProcessor

    return SpecLogitsProcessor(TextMonitor.from_module(MOD, spec, unit=unit), tok,
                               tables=tables, **kw)


TARGETS = [" Take 200 mg now.", " Oh damn it, hell no", " Wow!! ok then", "Take 5mg then",
           " I am not a doctor. Take 5 mg."]
RISKY = (" mg", "mg", " damn", " hell", "!", " doctor", " 200", "2", " 5", " d", "ell", "n")


# --- 2. multi-step greedy equals the oracle ---------------------------------------------------

@pytest.mark.parametrize("spec", SPECS)
def test_greedy_steps_pick_the_best_token_the_reference_allows(
        shields: dict[str, Any], tiny_tok: Any, spec: str) -> None:
    tables = shields[spec][1]
    texts = tables.texts
    boost = sorted({i for p in RISKY for i in tiny_tok(p, add_special_tokens=False)["input_ids"]})
    eos = tiny_tok.eos_token_id
    lazy_steps = refusals = 0
    for seed in range(2 * len(TARGETS)):
        gen = torch.Generator().manual_seed(seed)
        target = tiny_tok(TARGETS[seed % len(TARGETS)], add_special_tokens=False)["input_ids"]
        modes = {lz: _shield(spec, tiny_tok, tables, keep=1, top_k=400, lazy=lz)
                 for lz in (True, False)}
        ids = torch.zeros(1, 1, dtype=torch.long)
        out_ids: list[int] = []
        for k in range(16):
            scores = torch.randn(1, len(tiny_tok), generator=gen)
            scores[0, boost] += 2.0
            if k < len(target):  # the model would like to write the target
                scores[0, target[k]] += 5.0
            scores[0, eos] -= 10.0
            chosen = {lz: int(sh(ids, scores.clone())[0].argmax()) for lz, sh in modes.items()}
            assert chosen[True] == chosen[False], (spec, seed, out_ids)
            best = chosen[True]
            so_far = "".join(texts[i] for i in out_ids)
            ranked = torch.argsort(scores[0], descending=True).tolist()
            refusals += ranked.index(best) > 0
            for t in ranked[:ranked.index(best)]:  # everything preferred was unsafe
                assert _violated(spec, "word", [so_far, texts[t]]), (so_far, texts[t])
            if best == eos:
                break
            assert not _violated(spec, "word", [so_far, texts[best]]), (so_far, texts[best])
            out_ids.append(best)
            ids = torch.cat([ids, torch.tensor([[best]])], dim=1)
        for sh in modes.values():
            sh.tracker.sync(ids)
            assert sh.tracker.generated(0) == tiny_tok.decode(out_ids, skip_special_tokens=True)
        lazy_steps += modes[True].lazy_steps
        assert modes[False].lazy_steps == 0
    if spec != "spaced":
        assert refusals > 0 and lazy_steps > 0
    else:
        # "trail" (/mg\s/) has no need, so "spaced" is never lazy; and no word unit holds
        # a match of it (the match ends where the next word starts), so nothing is refused.
        assert refusals == 0 and lazy_steps == 0


# --- 3. lazy and eager generate the same text -------------------------------------------------



PUSH = " Take 200 mg. Oh damn, hell!! I am not a doctor. Take 5 mg."


def _generate(lm: Any, tok: Any, push: str, shield: Any, n: int = 24,
              stops: list[Any] | None = None) -> list[int]:
    enc = tok(["Hello"], return_tensors="pt")
    lp = transformers.LogitsProcessorList([Push(tok, push, enc["input_ids"].shape[1]), shield])
    out = lm.generate(**enc, max_new_tokens=n, do_sample=False, logits_processor=lp,
                      stopping_criteria=transformers.StoppingCriteriaList(stops or []))
    return out[0, enc["input_ids"].shape[1]:].tolist()


@pytest.mark.parametrize("spec", ["dd", "clean", "both"])
def test_lazy_and_eager_generate_the_same(tiny_lm: Any, tiny_tok: Any,
                                          shields: dict[str, Any], spec: str) -> None:
    runs = {}
    for lz in (True, False):
        shield = _shield(spec, tiny_tok, shields[spec][1], keep=1, lazy=lz)
        ids = _generate(tiny_lm, tiny_tok, PUSH, shield)
        prompt = tiny_tok(["Hello"], return_tensors="pt")["input_ids"][0].tolist()
        shield.tracker.sync(torch.tensor([prompt + ids]))  # the last token too
        ivs = [(iv.row, iv.position, iv.refused, iv.chosen_from, iv.reason)
               for iv in shield.interventions]
        runs[lz] = (ids, ivs, shield.tracker.generated(0), shield.lazy_steps)
    assert runs[True][:3] == runs[False][:3]
    ids, ivs, text, _ = runs[True]
    assert ivs, "the push must make the shield intervene"
    assert text == tiny_tok.decode(ids, skip_special_tokens=True)
    assert not _violated(spec, "word", [text])
    assert runs[True][3] > 0 and runs[False][3] == 0


def test_lazy_and_eager_generate_the_same_token_units(tiny_lm: Any, tiny_tok: Any,
                                                      tmp_path: Any) -> None:
    from speclang.llm.shield import ShieldTables

    mon = TextMonitor.from_module(MOD, "dd", unit="token")
    tables = ShieldTables(mon, tiny_tok, tmp_path)
    push = " I am not a\n\n doctor Take 200 mg now"
    got = {}
    for lz in (True, False):
        shield = _shield("dd", tiny_tok, tables, unit="token", keep=1, lazy=lz)
        ids = _generate(tiny_lm, tiny_tok, push, shield, n=20)
        got[lz] = (ids, [(iv.position, iv.refused) for iv in shield.interventions])
    assert got[False][1], "the eager shield refuses the dosage"
    assert got[True] == got[False]


# --- 4. the stopping criterion with a lazy tracker --------------------------------------------

STOP_TEXTS = [" Take 200 mg of it now please", "Oh damn it, hell no.", "Wow!! ok then",
              "I am not a doctor. Take 5 mg.", " fine words only here", "dam n hel l 2 m g",
              " Take 5mg\n\nthen hell"]


@pytest.mark.parametrize("unit", ["word", "sentence"])
@pytest.mark.parametrize("spec", ["dd", "clean", "both", "calm"])
def test_stopping_criterion_on_a_lazy_tracker_stops_as_the_eager_one(
        shields: dict[str, Any], tiny_tok: Any, spec: str, unit: str) -> None:
    from speclang.llm.shield import ShieldTables, ViolationStoppingCriteria

    tables = shields[spec][1] if unit == "word" else ShieldTables(
        TextMonitor.from_module(MOD, spec, unit=unit), tiny_tok, shields[spec][1].cache_path
        .parent)
    texts = tables.texts
    rows = [tiny_tok(t, add_special_tokens=False)["input_ids"] for t in STOP_TEXTS]
    n = max(map(len, rows))
    rows = [r + [tiny_tok.eos_token_id] * (n - len(r)) for r in rows]
    shield = _shield(spec, tiny_tok, tables, unit=unit, keep=1)  # lazy, greedy
    lazy_stop = ViolationStoppingCriteria(shield.tracker)
    eager_mon = TextMonitor.from_module(MOD, spec, unit=unit)
    eager_stop = ViolationStoppingCriteria(SequenceTracker(eager_mon, texts))
    ids = torch.tensor([[1]] * len(rows))
    stopped = 0
    for k in range(n + 1):
        if k:
            ids = torch.cat([ids, torch.tensor([[r[k - 1]] for r in rows])], dim=1)
        # The shield sees the step first (as in generate), the stopping criterion after it;
        # its scores only set its greedy argmax: here, the token that comes next.
        scores = torch.zeros(len(rows), len(tiny_tok))
        for i, r in enumerate(rows):
            scores[i, r[k] if k < n else 0] = 1.0
        shield(ids, scores)
        got, want = lazy_stop(ids, None), eager_stop(ids, None)
        assert got.tolist() == want.tolist(), (spec, unit, k, [texts[i] for i in rows[0][:k]])
        stopped += int(want.sum())
    for i in range(len(rows)):
        assert shield.tracker.generated(i) == eager_mon.rows[i].stream.text
    assert shield.lazy_steps > 0
    # A @word proposition is judged on whole units: no sentence is one swear word.
    assert (stopped == 0) == ((spec, unit) == ("clean", "sentence"))


def test_stopping_criterion_on_a_lazy_tracker_token_units() -> None:
    from speclang.llm.shield import ViolationStoppingCriteria

    lazy_mon = TextMonitor.from_module(MOD, "clean", unit="token")
    lazy = ViolationStoppingCriteria(
        SequenceTracker(lazy_mon, VOCAB, TriggerTables(lazy_mon, VOCAB)))
    eager = ViolationStoppingCriteria(
        SequenceTracker(TextMonitor.from_module(MOD, "clean", unit="token"), VOCAB))
    ids = torch.tensor([[ID["\n"]]])  # the prompt
    assert lazy(ids).tolist() == eager(ids).tolist() == [False]
    for token in ("Take", "DAMN", " fine"):
        ids = torch.cat([ids, torch.tensor([[ID[token]]])], dim=1)
        assert lazy(ids).tolist() == eager(ids).tolist(), token
    assert eager(ids).tolist() == [True]


# --- 5. unit tests ------------------------------------------------------------------------------

def test_ascii_fold_table_folds_what_re_folds_onto_ascii_letters() -> None:
    table = ascii_fold_table("\u212ax\u017f\u00e9Q")
    assert table[0x212A] == "k" and table[0x17F] == "s"
    assert 0xE9 not in table
    assert table[ord("Q")] == "q" and ord("q") not in table
    assert "D\u212aMN\u017f\u00e9".translate(table) == "dkmns\u00e9"


def test_a_state_whose_sink_needs_a_true_prop_gets_no_triggers() -> None:
    mod = speclang.loads('observe reply: text\nprop fine = reply matches /okay/\n'
                         'prop shout = reply matches /!!+/\n'
                         'spec g { G fine }\nspec calm { G !shout }')
    mon = TextMonitor.from_module(mod, "g", unit="word")
    tables = TriggerTables(mon, VOCAB)
    assert "fine" in tables.triggers  # it has a need ("okay"), yet its falsity is the danger
    assert tables.states[mon.aut.initial] is None
    calm = TextMonitor.from_module(mod, "calm", unit="word")
    st_ = TriggerTables(calm, VOCAB).states[calm.aut.initial]
    assert st_ is not None and [t.prop for t in st_.triggers] == ["shout"]
    assert st_.is_cand[ID["!"]] and not st_.is_cand[ID["Take"]]


def test_a_classifier_proposition_gets_no_trigger() -> None:
    mod = speclang.loads('observe reply: text\nprop bad = reply contains "doctor" @word\n'
                         'spec s { G !bad }')
    plain = TextMonitor.from_module(mod, "s", unit="word")
    assert "bad" in TriggerTables(plain, VOCAB).triggers
    assert TriggerTables(plain, VOCAB).states[plain.aut.initial] is not None
    judged = TextMonitor.from_module(mod, "s", unit="word",
                                     classifiers={"bad": lambda s: "doc" in s})
    tables = TriggerTables(judged, VOCAB)
    assert tables.triggers == {}
    assert all(s is None for s in tables.states)


def _compiled(prop: str) -> re.Pattern[str]:
    pattern = MOD.derived[prop]
    assert isinstance(pattern, TextPattern)
    return pattern.compiled


def test_match_need_of_the_dosage_and_the_disclaimer() -> None:
    dosage = match_need(_compiled("dosage"))
    assert dosage is not None and dosage.literals == () and dosage.chars is not None
    assert all(dosage.chars.search(d) for d in "0123456789")
    assert not any(dosage.chars.search(c) for c in "mgMG .,")
    disclaimer = match_need(_compiled("disclaimer"))
    assert disclaimer is not None and disclaimer.chars is None and disclaimer.ignore_case
    assert set(disclaimer.literals) == {"consult", "doctor"}
    swear = match_need(_compiled("swear"))
    assert swear is not None and set(swear.literals) == {"damn", "hell"}
    assert match_need(_compiled("trail")) is None  # "mg" is too short, "m" a letter


def test_call_signature_is_what_transformers_inspects(shields: dict[str, Any],
                                                       tiny_tok: Any) -> None:
    shield = _shield("dd", tiny_tok, shields["dd"][1], keep=1)
    assert list(inspect.signature(shield.__call__).parameters) == ["input_ids", "scores"]
    ids = tiny_tok(["Take 200"], return_tensors="pt")["input_ids"]
    scores = torch.randn(1, len(tiny_tok), generator=torch.Generator().manual_seed(1))
    out = transformers.LogitsProcessorList([shield])(ids, scores.clone())
    direct = _shield("dd", tiny_tok, shields["dd"][1], keep=1)(ids, scores.clone())
    assert out.shape == scores.shape and torch.equal(out, direct)


# --- 6. text fed from outside between calls -----------------------------------------------------

@pytest.mark.parametrize("lazy", [True, False])
def test_greedy_notices_text_fed_between_calls(shields: dict[str, Any], tiny_tok: Any,
                                               lazy: bool) -> None:
    mg = tiny_tok(" mg", add_special_tokens=False)["input_ids"][0]
    prompt = tiny_tok(["Take 200"], return_tensors="pt")["input_ids"]
    scores = torch.randn(1, len(tiny_tok), generator=torch.Generator().manual_seed(3))
    scores[0, mg] = 50.0
    for fed in (False, True):
        shield = _shield("dd", tiny_tok, shields["dd"][1], keep=1, lazy=lazy)
        shield(prompt, torch.zeros(1, len(tiny_tok)))  # learns the prompt, resets the monitor
        if fed:
            shield.monitor.feed(0, "Take 200")  # the reply continues the prompt
        out = shield(prompt, scores.clone())
        chosen = int(out[0].argmax())
        if not fed:  # nothing before it: " mg" is fine
            assert chosen == mg
            continue
        assert chosen != mg and out[0, mg] == float("-inf")
        assert not _violated("dd", "word", ["Take 200", shield.tables.texts[chosen]])
        assert shield.interventions and shield.interventions[-1].refused == " mg"
