"""The LLM judge (speclang.llm.judge) and `speclang audit --judge llm`, on the tiny
config-built model. The oracle for every score is a plain forward pass over the whole
prompt (no cached prefix, no batching), read at the last position."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from speclang.cli import main
from speclang.llm.audit import audit, split_annotations
from speclang.llm.judge import JudgePrompt, LLMJudge, PromptBudgetError

pytest.importorskip("transformers")

QUESTION = "Is it advice?"
SHOTS = [("Take 200 mg.", True), ("Hello!", False)]
TEXTS = ["Drink water and rest well.", "Hello! How can I help you today?",
         "A dose of 5 ml every four hours is common.", "x", "Sleep, fluids and patience.",
         "Call 911."]


@pytest.fixture(scope="module")
def lm() -> tuple[Any, Any]:
    """A tiny Llama whose tokenizer also learnt the prompt's words (a few tokens each, not
    one per letter): prompts with several examples then fit its 256 positions."""
    from speclang.llm.tiny import CORPUS, tiny_model, tiny_tokenizer

    words = [JudgePrompt(QUESTION).prefix([("Take 200 mg.", True), ("Hello!", False)])] * 3
    tok = tiny_tokenizer(corpus=CORPUS + words)
    return tiny_model(tok, arch="llama"), tok


def _oracle_p_yes(judge: LLMJudge, text: str) -> float:
    import torch

    ids = torch.tensor([judge.prompt_ids(text)])
    with torch.no_grad():
        logits = judge.model(input_ids=ids).logits[0, -1]
    pair = torch.stack([logits[judge.yes_id], logits[judge.no_id]])
    return float(torch.softmax(pair, dim=0)[0])


def test_cached_batched_scores_are_the_full_prompt_forward(tiny_lm: Any, tiny_tok: Any) -> None:
    # batch 4 over 6 texts of different lengths: right padding, a short last batch
    judge = LLMJudge(tiny_lm, tiny_tok, JudgePrompt(QUESTION), SHOTS, batch=4)
    got = judge.p_yes(TEXTS)
    assert got == pytest.approx([_oracle_p_yes(judge, t) for t in TEXTS], abs=1e-5)
    # the prompt is the header, the shots with their answers, then the sentence's question
    assert judge.prompt_text("Call 911.") == (
        "Answer each question about a sentence with yes or no.\n\n"
        f"Sentence: Take 200 mg.\nQuestion: {QUESTION}\nAnswer: yes\n\n"
        f"Sentence: Hello!\nQuestion: {QUESTION}\nAnswer: no\n\n"
        f"Sentence: Call 911.\nQuestion: {QUESTION}\nAnswer:")


def test_predict_and_deviation_follow_the_probability_of_the_wrong_answer(
        lm: tuple[Any, Any]) -> None:
    llama, tiny_tok = lm
    judge = LLMJudge(llama, tiny_tok, JudgePrompt(QUESTION), SHOTS, batch=3)
    p = np.array([_oracle_p_yes(judge, t) for t in TEXTS])
    labels = [True, False, True, False, False, True]
    assert judge.predict(TEXTS) == [bool(x > 0.5) for x in p]
    dev = judge.deviation(TEXTS, labels)
    wrong_mass = np.where(labels, 1 - p, p)
    assert dev == pytest.approx(wrong_mass - 0.5, abs=1e-5)
    # > 0 exactly for the wrong verdicts
    assert [bool(d > 0) for d in dev] == [pr != g for pr, g in
                                          zip(judge.predict(TEXTS), labels, strict=True)]


def test_the_audit_adds_the_most_deviant_instances_to_the_prompt(lm: tuple[Any, Any]) -> None:
    llama, tiny_tok = lm
    judge = LLMJudge(llama, tiny_tok, JudgePrompt(QUESTION), SHOTS)
    # label every text against the judge's verdict, so that all are wrong and the order
    # of additions is the order of the wrong answer's probability
    p = np.array([_oracle_p_yes(judge, t) for t in TEXTS])
    data = [(t, not bool(x > 0.5)) for t, x in zip(TEXTS, p, strict=True)]
    wrong = np.where([g for _, g in data], 1 - p, p)
    expected = [TEXTS[i] for i in np.argsort(-wrong, kind="stable")[:3]]
    rounds, _ = audit({"advice": judge}, {"advice": data}, add=3, max_rounds=2)
    assert [t for t, _, _ in rounds[0].added["advice"]] == expected
    assert [d for _, _, d in rounds[0].added["advice"]] == pytest.approx(
        sorted(wrong - 0.5, reverse=True)[:3], abs=1e-5)
    assert judge.examples == SHOTS  # the input judge is not changed
    # round 1 was measured with the added texts in the prompt, after the shots
    grown = LLMJudge(llama, tiny_tok, JudgePrompt(QUESTION),
                     SHOTS + [(t, g) for t, g, _ in rounds[0].added["advice"]])
    assert rounds[1].audited["advice"].tp + rounds[1].audited["advice"].tn == sum(
        (_oracle_p_yes(grown, t) > 0.5) == g for t, g in data)


def test_added_examples_appear_in_the_prompt_and_change_the_scores(lm: tuple[Any, Any]) -> None:
    llama, tiny_tok = lm
    judge = LLMJudge(llama, tiny_tok, JudgePrompt(QUESTION), SHOTS)
    before = judge.p_yes(["Call 911."])[0]
    other = judge.copy()
    judge.add_examples(["Rest\n and drink water."], [True])
    text = judge.prompt_text("Call 911.")
    assert f"Sentence: Rest and drink water.\nQuestion: {QUESTION}\nAnswer: yes\n\n" in text
    assert tiny_tok.decode(judge.prefix_ids()).endswith(
        f"Sentence: Rest and drink water.\nQuestion: {QUESTION}\nAnswer: yes\n\n")
    after = judge.p_yes(["Call 911."])[0]
    assert after == pytest.approx(_oracle_p_yes(judge, "Call 911."), abs=1e-5)
    assert after != pytest.approx(before, abs=1e-7)  # the cached score was dropped
    # the copy kept its own examples and scores
    assert other.examples == SHOTS and "Rest" not in other.prompt_text("x")
    assert other.p_yes(["Call 911."])[0] == pytest.approx(before)


def test_the_prompt_budget_is_refused_loudly_and_nothing_changes(lm: tuple[Any, Any]) -> None:
    llama, tiny_tok = lm
    prompt = JudgePrompt(QUESTION)
    probe = LLMJudge(llama, tiny_tok, prompt, SHOTS)
    prefix, query = len(probe.prefix_ids()), len(probe._ids_of_query("Call 911."))
    judge = LLMJudge(llama, tiny_tok, prompt, SHOTS, context=prefix + query)
    assert judge.predict(["Call 911."]) in ([True], [False])  # exactly at the budget: fits
    with pytest.raises(PromptBudgetError, match=r"over the judge's context of \d+ tokens"):
        judge.add_examples(["Hello!"], [False])
    assert judge.examples == SHOTS and len(judge.prefix_ids()) == prefix
    with pytest.raises(PromptBudgetError, match="the prompt for 'Drink water"):
        judge.predict(["Drink water and rest well, then see a doctor."])
    with pytest.raises(PromptBudgetError, match="the prompt with 2 in-context examples"):
        LLMJudge(llama, tiny_tok, prompt, SHOTS, context=prefix - 1)
    with pytest.raises(ValueError, match="context must be between 1 and the model's 256"):
        LLMJudge(llama, tiny_tok, prompt, SHOTS, context=257)


def test_chat_prompts_and_bad_answers(lm: tuple[Any, Any]) -> None:
    llama = lm[0]
    from speclang.llm.tiny import CHAT_TEMPLATE, tiny_tokenizer

    tok = tiny_tokenizer()
    with pytest.raises(ValueError, match="no chat template"):
        LLMJudge(llama, tok, JudgePrompt.for_chat(QUESTION), SHOTS)
    tok.chat_template = CHAT_TEMPLATE
    judge = LLMJudge(llama, tok, JudgePrompt.for_chat(QUESTION), SHOTS)
    assert judge.prompt_text("Call 911.") == (
        "system: Answer each question about a sentence with yes or no.\n"
        f"user: Take 200 mg.\n{QUESTION}\nassistant: Yes\nuser: Hello!\n{QUESTION}\n"
        f"assistant: No\nuser: Call 911.\n{QUESTION}\nassistant:")
    assert judge.p_yes(["Call 911."])[0] == pytest.approx(_oracle_p_yes(judge, "Call 911."),
                                                          abs=1e-5)
    with pytest.raises(ValueError, match="begin with the same token"):
        LLMJudge(llama, tok, JudgePrompt(QUESTION, yes=" no!", no=" no?"), SHOTS)


def test_split_keeps_known_texts_audited_and_sentences_on_one_side() -> None:
    texts = [f"s{i}" for i in range(20)]
    data = {"a": [(t, i % 2 == 0) for i, t in enumerate(texts)],
            "b": [(t, i % 3 == 0) for i, t in enumerate(texts)]}
    audited, held = split_annotations(data, 0.5, seed=3, keep=["s0", "s1"])
    held_a = {t for t, _ in held["a"]}
    assert held_a == {t for t, _ in held["b"]} and len(held_a) == 9  # half of 18
    assert not held_a & {"s0", "s1"}
    assert {t for t, _ in audited["a"]} == set(texts) - held_a
    assert split_annotations(data, 0.5, seed=3, keep=["s0", "s1"]) == (audited, held)
    with pytest.raises(ValueError, match="leaves a without held-out"):
        split_annotations({"a": [("x", True)]}, 0.4, seed=0)


# -- the command ---------------------------------------------------------------------------

ROWS = [("Take 5 ml.", True), ("Hi!", False), ("Rest well.", True), ("Bees.", False),
        ("Drink water.", True), ("Hello!", False)]


def _setup(tmp_path: Path) -> tuple[Path, Path]:
    from speclang.llm.learned import ExemplarLabeler, HashingEncoder

    ExemplarLabeler(HashingEncoder(64), ["Take 200 mg.", "Hello there."], [True, False],
                    proposition="advice").save(tmp_path / "advice.json")
    spec = tmp_path / "a.spec"
    spec.write_text('observe reply: text\nprop advice = reply classifies "advice.json"\n'
                    "spec s { G !advice }\n")
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps({"text": t, "labels": {"advice": g}}) + "\n"
                            for t, g in ROWS))
    return spec, data


def test_cli_llm_judge_reports_what_the_library_computes(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from speclang.llm.tiny import CHAT_TEMPLATE, tiny_model, tiny_tokenizer

    spec, data = _setup(tmp_path)
    out_dir = tmp_path / "out"
    assert main(["audit", str(spec), "--data", str(data), "--judge", "llm", "--model", "tiny",
                 "--question", QUESTION, "--add", "1", "--rounds", "3", "--format", "json",
                 "--out", str(out_dir)]) == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert "advice: judged 6 sentences" in captured.err  # progress, on stderr
    tok = tiny_tokenizer()
    tok.chat_template = CHAT_TEMPLATE
    judge = LLMJudge(tiny_model(tok, seed=0), tok, JudgePrompt.for_chat(QUESTION),
                     [("Take 200 mg.", True), ("Hello there.", False)])
    rounds, best = audit({"advice": judge}, {"advice": ROWS}, add=1, max_rounds=3)
    assert doc["judge"] == "llm"
    assert [r["audited"]["advice"]["accuracy"] for r in doc["rounds"]] == pytest.approx(
        [r.audited["advice"].accuracy for r in rounds])
    assert [[a["text"] for a in r["added"].get("advice", [])] for r in doc["rounds"]] == [
        [t for t, _, _ in r.added.get("advice", [])] for r in rounds]
    saved = json.loads((out_dir / "advice.judge.json").read_text())
    assert saved["question"] == QUESTION and saved["chat"] is True
    assert [(e["text"], e["label"]) for e in saved["examples"]] == best["advice"].examples


def test_cli_llm_judge_human_output_streams_rounds_with_a_held_out_split(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec, data = _setup(tmp_path)
    assert main(["audit", str(spec), "--data", str(data), "--judge", "llm", "--model", "tiny",
                 "--prompt", "plain", "--question", f"advice={QUESTION}", "--shots", "1",
                 "--heldout-share", "0.5", "--rounds", "2"]) == 0
    out = capsys.readouterr().out
    assert "advice 3 audited / 3 held out" in out
    assert "round 0" in out and "advice (held out): accuracy" in out and "best round:" in out


@pytest.mark.parametrize(("args", "code", "message"), [
    ([], 2, "give --question for advice"),
    (["--question", "other=Is it?"], 2, "write PROP=TEXT with PROP one of advice"),
    (["--question", QUESTION, "--context", "20"], 1,
     "over the judge's context of 20 tokens"),
    # round 0 fits (132 + 41 tokens); with one more example the prompt would not
    (["--question", QUESTION, "--context", "180", "--add", "1"], 1,
     "(the rounds above were measured; nothing was written)"),
    (["--question", QUESTION, "--shots", "-1"], 2, "--shots must be at least 0"),
    (["--question", QUESTION, "--heldout-share", "1.5"], 2, "--heldout-share must be"),
])
def test_cli_llm_judge_errors_are_clear(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        args: list[str], code: int, message: str) -> None:
    spec, data = _setup(tmp_path)
    rc = main(["audit", str(spec), "--data", str(data), "--judge", "llm", "--model", "tiny",
               "--prompt", "plain", *args])
    err = capsys.readouterr().err
    assert rc == code and message in err and "Traceback" not in err


def test_cli_llm_options_need_the_llm_judge(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    spec, data = _setup(tmp_path)
    assert main(["audit", str(spec), "--data", str(data), "--question", QUESTION]) == 2
    assert "are for --judge llm" in capsys.readouterr().err
