"""Spec rewards read every completion format TRL's GRPOTrainer passes (``reward_func(
prompts=..., completions=..., completion_ids=..., **dataset columns)``), and a spec that also
reads the prompt gets it as its context observable."""

from __future__ import annotations

import pytest

import speclang
from speclang.llm import TextMonitor, label_text
from speclang.llm.rewards import completion_text, prompt_text, spec_reward

MOD = speclang.loads('observe r: text\nprop v = r matches /[aeiou]/i\nspec novowel { G !v }\n'
                     'prop d = r contains "doctor"\nspec dr { F d }\n'
                     'prop xy = r contains "xy"\nspec noxy { G !xy }')
# A dose only where the user asked for one: the prompt is an observable of the spec.
ASKED = speclang.loads(
    'observe prompt: text\nobserve reply: text\n'
    'prop asked = prompt contains {"dose", "how much"}\n'
    'prop dosage = reply matches /\\b\\d+\\s?mg\\b/\n'
    'spec dose_if_asked { G(dosage -> asked) }\n'
    'prop said_no = prompt contains "no numbers"\n'
    'prop number = reply matches /\\d/\n'
    'spec numbers_allowed { G(said_no -> !number) }\n'
    'spec both { G(dosage -> asked) & G(said_no -> !number) }')


def novowel() -> object:
    return spec_reward(TextMonitor.from_module(MOD, "novowel"))


def test_plain_strings() -> None:
    assert novowel()(prompts=["p", "p"], completions=["xyz 123", "hello"]) == [0.5, -1.0]


def test_conversational_messages_as_trl_builds_them() -> None:
    completions = [[{"role": "assistant", "content": "xyz"}],
                   [{"role": "assistant", "content": "oh no"}]]
    prompts = [[{"role": "user", "content": "hi"}]] * 2
    assert novowel()(prompts=prompts, completions=completions, completion_ids=[[1], [2]],
                     trainer_state=None) == [0.5, -1.0]
    # TRL's own reward functions take messages without a role to be the completion's.
    assert completion_text([{"content": "abc"}]) == "abc"


def test_tool_calls_have_no_content_and_tool_results_are_not_the_model_text() -> None:
    call = {"role": "assistant", "content": None,
            "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": {}}}]}
    # The tool's answer holds vowels; it is not the model's text, so it cannot violate.
    completion = [call, {"role": "tool", "name": "f", "content": "some vowels"},
                  {"role": "assistant", "content": "xyz"}]
    assert completion_text(completion) == "xyz"
    assert novowel()(prompts=["p"], completions=[completion]) == [0.5]
    assert novowel()(prompts=["p"], completions=[[call]]) == [0.5]  # no text at all
    bad = [call, {"role": "tool", "content": "x"}, {"role": "assistant", "content": "bad"}]
    assert novowel()(prompts=["p"], completions=[bad]) == [-1.0]


def test_content_part_lists() -> None:
    parts = [{"role": "assistant", "content": [
        {"type": "image", "image": None}, {"type": "text", "text": "see a "},
        {"type": "text", "text": "doctor"}]}]
    assert completion_text(parts) == "see a doctor"
    dr = spec_reward(TextMonitor.from_module(MOD, "dr"))
    assert dr(prompts=["p"], completions=[parts, [{"role": "assistant", "content": [
        {"type": "text", "text": "rest"}]}]]) == [1.0, -0.5]


def test_separate_messages_are_separate_sentences() -> None:
    # "x" and "y" of two messages are two sentences, never one word "xy".
    two = [{"role": "assistant", "content": "x"}, {"role": "assistant", "content": "y"}]
    assert completion_text(two) == "x\n\ny"
    f = spec_reward(TextMonitor.from_module(MOD, "noxy"))
    assert f(prompts=["p"], completions=[two, "xy"]) == [0.5, -1.0]
    steps = label_text(TextMonitor.from_module(MOD, "noxy", unit="sentence"),
                       completion_text(two)).steps
    assert [s.text.strip() for s in steps] == ["x", "y"]


def test_bad_formats_are_clear_errors() -> None:
    with pytest.raises(TypeError, match="a completion is a string or a list of messages"):
        completion_text(3)
    with pytest.raises(TypeError, match="content is a string, None or a list of parts"):
        completion_text([{"role": "assistant", "content": 3}])
    with pytest.raises(TypeError, match="a message is a dict"):
        completion_text(["xy"])


def test_prompt_text_is_the_users_messages() -> None:
    chat = [{"role": "system", "content": "how much is fine"},
            {"role": "user", "content": "hello"}, {"role": "assistant", "content": "hi"},
            {"role": "user", "content": [{"type": "text", "text": "what dose?"}]}]
    assert prompt_text(chat) == "hello\n\nwhat dose?"
    assert prompt_text("raw prompt") == "raw prompt"


def test_the_prompt_is_the_specs_context_observable() -> None:
    f = spec_reward(TextMonitor.from_module(ASKED, "dose_if_asked", observable="reply"))
    prompts = ["What dose of ibuprofen?", "Tell me about ibuprofen.",
               [{"role": "system", "content": "dose"}, {"role": "user", "content": "hi"}],
               [{"role": "user", "content": "How much can I take?"}]]
    reply = "Take 200 mg."
    # Asked: fine; not asked: violated; the system prompt is not the user asking.
    assert f(prompts=prompts, completions=[reply] * 4) == [0.5, -1.0, -1.0, 0.5]
    # The reply's own words never count as the prompt's: "dose" in the reply asks nothing.
    assert f(prompts=["hi"], completions=["A dose is 200 mg."]) == [-1.0]


def test_a_dataset_column_can_be_the_context() -> None:
    mon = TextMonitor.from_module(ASKED, "numbers_allowed", observable="reply")
    f = spec_reward(mon, context={"prompt": "instructions"})
    out = f(prompts=["a", "b"], completions=["take 2", "take 2"],
            instructions=["no numbers please", "anything"])
    assert out == [-1.0, 0.5]
    with pytest.raises(ValueError, match="'instructions', which this call does not pass"):
        f(prompts=["a"], completions=["x"])
    with pytest.raises(ValueError, match="one value per completion"):
        f(prompts=["a"], completions=["x"], instructions=["a", "b"])


def test_context_observables_must_be_named() -> None:
    with pytest.raises(ValueError, match="several text observables .prompt, reply."):
        TextMonitor.from_module(ASKED, "dose_if_asked")
    mon = TextMonitor.from_module(ASKED, "dose_if_asked", observable="reply")
    with pytest.raises(ValueError, match="exactly the observables prompt"):
        spec_reward(mon, context={"other": "prompts"})
    # Without the prompt the monitor refuses to guess the context proposition.
    with pytest.raises(ValueError, match="'asked' reads the text observable 'prompt'"):
        label_text(mon, "Take 200 mg.")
    with pytest.raises(ValueError, match="no proposition reads 'reply' as context"):
        mon.set_context({"reply": "x"})


def test_context_matches_an_independent_reading() -> None:
    """Per completion the reward equals the verdict of the reply with the prompt's truth
    values worked out by hand (stdlib ``re`` on the prompt, the spec's formula by hand)."""
    import re

    f = spec_reward(TextMonitor.from_module(ASKED, "both", observable="reply"))
    prompts = ["how much?", "no numbers, what dose?", "hello", "no numbers"]
    replies = ["200 mg", "200 mg", "take 2", "none"]
    got = f(prompts=prompts, completions=replies)
    for p, r, g in zip(prompts, replies, got, strict=True):
        asked = re.search(r"(?<!\w)(?:how\s+much|dose)(?!\w)", p, re.I) is not None
        said_no = re.search(r"(?<!\w)no\s+numbers(?!\w)", p, re.I) is not None
        violated = ((re.search(r"\b\d+\s?mg\b", r) is not None and not asked)
                    or (said_no and re.search(r"\d", r) is not None))
        assert (g == -1.0) == violated, (p, r, g)
