"""`speclang chat`, non-interactively, with the tiny offline model."""

from __future__ import annotations

from pathlib import Path

import pytest

from speclang.cli import main

ROOT = Path(__file__).resolve().parents[2]
CHATBOT = str(ROOT / "examples" / "chatbot.spec")


def test_chat_one_shot_prints_reply_and_verdict(capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch,
                                                tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    monkeypatch.setenv("SPECLANG_CACHE", str(tmp_path))
    code = main(["chat", CHATBOT, "--spec", "no_profanity", "--tiny", "--prompt", "Hello",
                 "--max-new-tokens", "8"])
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("assistant> ")
    assert "[verdict] " in out and "no_profanity" in out
    assert any(p.name.startswith("masks-") for p in (tmp_path / "llm").iterdir())


def test_interactive_chat_until_an_empty_line(capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    monkeypatch.setenv("SPECLANG_CACHE", str(tmp_path))
    lines = iter(["Hello", "Take 200", ""])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(lines))
    assert main(["chat", CHATBOT, "--spec", "dosage_disclaimer", "--tiny",
                 "--max-new-tokens", "4"]) == 0
    out = capsys.readouterr().out
    assert out.count("assistant> ") == 2 and out.count("[verdict] ") == 2
    assert "dosage_disclaimer" in out.splitlines()[0]


def test_chat_errors_are_clear(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["chat", CHATBOT, "--spec", "nope", "--tiny", "--prompt", "x"]) == 1
    assert "no spec named 'nope'" in capsys.readouterr().err
    # refer_diagnosis needs a classifier for `diagnosis`, which the CLI cannot provide.
    assert main(["chat", CHATBOT, "--spec", "refer_diagnosis", "--tiny", "--prompt", "x"]) == 1
    assert "diagnosis" in capsys.readouterr().err
    assert main(["chat", CHATBOT, "--spec", "no_profanity", "--max-new-tokens", "0"]) == 2


def test_label_a_finished_text_without_a_model(capsys: pytest.CaptureFixture[str],
                                               tmp_path: Path) -> None:
    import json

    reply = tmp_path / "reply.txt"
    reply.write_text("Take 400 mg now. I am not a doctor.", encoding="utf-8")
    assert main(["chat", CHATBOT, "--spec", "dosage_disclaimer", "--label", str(reply)]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["verdict"] == "violated" and got["first_violation"] == 2
    assert got["steps"][2]["text"] == "mg" and "dosage" in got["explanation"]
    assert main(["chat", CHATBOT, "--spec", "dosage_disclaimer", "--label",
                 str(tmp_path / "missing.txt")]) == 1
    assert "cannot read" in capsys.readouterr().err
