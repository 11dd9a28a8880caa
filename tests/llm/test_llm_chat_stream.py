"""`speclang chat` streams: the reply's text arrives token by token, each shield intervention
sits in the stream exactly where the refused token would have gone, and characters split
over byte-level tokens are only shown whole. The model is the tiny offline one, made to want
a dosage by a processor that pushes a fixed text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("transformers")

import speclang  # noqa: E402
from speclang.cli import main  # noqa: E402
from speclang.llm import TextMonitor, label_text  # noqa: E402
from speclang.llm.chat import ChatSession, ReplyStreamer  # noqa: E402
from tests.llm.pushing import Push  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
CHATBOT = str(ROOT / "examples" / "chatbot.spec")
MOD = speclang.loads('observe r: text\nprop dosage = r matches /\\d+\\s?mg/\n'
                     'spec never { G !dosage }')


def pushing(model: Any, text: str, tok: Any) -> Any:
    """``model`` whose ``generate`` first pushes ``text`` (the shield stays last)."""
    import transformers

    plain = model.generate

    def generate(**kw: Any) -> Any:
        push = Push(tok, text, kw["input_ids"].shape[1])
        kw["logits_processor"] = transformers.LogitsProcessorList(
            [push, *kw.get("logits_processor", [])])
        out = plain(**kw)
        model.generated = out[0, kw["input_ids"].shape[1]:].tolist()
        return out

    model.generate = generate
    return model


def _session(tok: Any, text: str, spec: str = "never", n: int = 12) -> ChatSession:
    from speclang.llm.tiny import tiny_model

    model = pushing(tiny_model(tok), text, tok)
    return ChatSession(model, tok, TextMonitor.from_module(MOD, spec), max_new_tokens=n,
                       system=None)


def test_the_reply_streams_with_interventions_in_place(tiny_tok: Any, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPECLANG_CACHE", str(tmp_path))
    session = _session(tiny_tok, " Take 200 mg of it.")
    events: list[tuple[str, Any]] = []
    turn = session.reply("How much?", lambda t: events.append(("text", t)),
                         lambda iv: events.append(("shield", iv)))
    texts = [t for kind, t in events if kind == "text"]
    assert len(texts) > 3  # token by token, not the reply at the end
    assert "".join(texts).strip() == turn.reply
    assert "200 mg" not in turn.reply and not label_text(session.monitor, turn.reply).violated
    notes = [(i, iv) for i, (kind, iv) in enumerate(events) if kind == "shield"]
    assert notes and [iv for _, iv in notes] == turn.interventions
    # Each intervention comes right after the text of the tokens generated before it.
    generated = session.model.generated
    for i, iv in notes:
        before = "".join(t for kind, t in events[:i] if kind == "text")
        assert before == tiny_tok.decode(generated[:iv.position], skip_special_tokens=True)
        assert "dosage" in iv.reason


def test_split_characters_are_shown_whole(tiny_tok: Any, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPECLANG_CACHE", str(tmp_path))
    text = " Take \u0665 ok \u00b5g \u4e2d"  # not in the tiny corpus: one token per byte
    ids = tiny_tok(text, add_special_tokens=False)["input_ids"]
    assert len(ids) > len(text)  # so some characters are split over tokens
    session = _session(tiny_tok, text, n=len(ids))
    pieces: list[str] = []
    turn = session.reply("Hi", pieces.append)
    assert all("\ufffd" not in p for p in pieces)
    assert "".join(pieces).strip() == turn.reply == text.strip()


def test_streamer_is_for_one_sequence(tiny_tok: Any) -> None:
    import torch

    s = ReplyStreamer(tiny_tok, lambda t: None)
    s.put(torch.tensor([[1, 2]]))  # the prompt
    with pytest.raises(ValueError, match="batch size 1"):
        s.put(torch.tensor([[1], [2]]))


def test_cli_shows_each_intervention_inline(capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    import speclang.llm.tiny as tiny

    monkeypatch.setenv("SPECLANG_CACHE", str(tmp_path))
    plain = tiny.tiny_model
    monkeypatch.setattr(tiny, "tiny_model", lambda tok, **kw: pushing(
        plain(tok, **kw), " Take 200 mg of it.", tok))
    assert main(["chat", CHATBOT, "--spec", "dosage_disclaimer", "--tiny", "--prompt",
                 "How much?", "--max-new-tokens", "10"]) == 0
    out = capsys.readouterr().out.splitlines()
    reply = out[0]
    assert reply.startswith("assistant>  Take 200")
    assert "[shield: refused " in reply and "would violate dosage_disclaimer: makes dosage true" \
        in reply
    assert reply.index("Take 200") < reply.index("[shield: ")
    assert out[1].startswith("[verdict] ") and "violated" not in out[1].split(":")[0][10:]


def test_the_model_loads_while_the_user_types(capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    import threading

    import speclang.llm.tiny as tiny

    monkeypatch.setenv("SPECLANG_CACHE", str(tmp_path))
    typed = threading.Event()
    plain = tiny.tiny_tokenizer

    def tokenizer_after_the_first_prompt(*a: Any, **kw: Any) -> Any:
        # Loaded before the prompt (in the main thread), this would wait in vain.
        assert typed.wait(60), "the model was loaded before the user could type"
        return plain(*a, **kw)

    monkeypatch.setattr(tiny, "tiny_tokenizer", tokenizer_after_the_first_prompt)
    lines = iter(["Hello", ""])

    def user(prompt: str = "") -> str:
        typed.set()
        return next(lines)

    monkeypatch.setattr("builtins.input", user)
    assert main(["chat", CHATBOT, "--spec", "no_profanity", "--tiny",
                 "--max-new-tokens", "3"]) == 0
    assert capsys.readouterr().out.count("[verdict] ") == 1


def test_a_failed_load_is_reported_after_the_prompt(capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from speclang.llm import smollm

    def missing(*a: Any, **kw: Any) -> Any:
        raise FileNotFoundError("SmolLM2 needs the model package: pip install ...")

    monkeypatch.setattr(smollm, "load", missing)
    monkeypatch.setattr("builtins.input", lambda prompt="": "Hello")
    assert main(["chat", CHATBOT, "--spec", "no_profanity"]) == 1
    assert "SmolLM2 needs the model package" in capsys.readouterr().err
    assert main(["chat", CHATBOT, "--spec", "no_profanity", "--threads", "0"]) == 2
