"""Intrinsic Fear for text: catastrophe labels, a danger model that learns, and the
``intrinsic_fear`` method end to end on a tiny model."""

from __future__ import annotations

import random
from typing import Any

import torch

import speclang
from speclang.llm.fear import DangerModel, auc, first_violation_token, horizon_labels, token_pieces
from speclang.llm.monitor import TextMonitor
from speclang.llm.progressive import run_method
from speclang.llm.trainer import TrainConfig

DOSE = speclang.loads("observe r: text\nprop dose = r matches /[0-9]+ ?mg/\n"
                      "prop a = r matches /a/i\nspec nd { G !dose }\nspec na { G !a }\n"
                      "progression p = [na, nd]")


def test_catastrophe_is_the_token_that_completes_the_violating_unit() -> None:
    word = TextMonitor.from_module(DOSE, "nd", unit="word")
    # A word unit completes when the next one starts, or at the end of the text.
    assert first_violation_token([word], ["Take", " 200", " mg", " now", " ok"]) == 3
    assert first_violation_token([word], ["Take", " 200", " mg"]) == 2
    assert first_violation_token([word], ["Take", " 2", " pills"]) is None
    # Any spec counts, the earliest wins.
    token_a = TextMonitor.from_module(DOSE, "na", unit="token")
    assert first_violation_token([word, token_a], ["Take", " 200", " mg"]) == 0
    assert horizon_labels(5, 3, 2).tolist() == [0.0, 0.0, 1.0, 1.0]
    assert horizon_labels(3, None, 2).tolist() == [0.0, 0.0, 0.0]


def test_token_pieces_rebuild_the_decoded_text(tiny_tok: Any) -> None:
    ids = tiny_tok("Take 200 mg of ibuprofen.")["input_ids"]
    assert "".join(token_pieces(tiny_tok, ids)) == tiny_tok.decode(ids)


def test_danger_model_separates_prefixes_before_a_violation_on_held_out_texts(
        tiny_tok: Any, tiny_lm: Any) -> None:
    rng = random.Random(0)
    word = TextMonitor.from_module(DOSE, "nd", unit="word")
    drugs = ["ibuprofen", "paracetamol", "medicine", "tablets"]
    texts = [f"Take {rng.choice([5, 200, 500])} mg of {rng.choice(drugs)} now." for _ in range(30)]
    texts += [f"Drink water and rest, {rng.choice(drugs)} helps." for _ in range(30)]
    rng.shuffle(texts)
    feats, labels = [], []
    with torch.no_grad():
        for t in texts:
            ids = tiny_tok(t)["input_ids"]
            # The state that chooses token j is the final hidden state at position j - 1;
            # a leading end-of-sequence token stands in for the prompt.
            x = torch.tensor([[tiny_tok.eos_token_id] + ids])
            h = tiny_lm(input_ids=x, output_hidden_states=True).hidden_states[-1][0, :-1]
            y = horizon_labels(len(ids), first_violation_token(
                [word], token_pieces(tiny_tok, ids)), horizon=3)
            feats.append(h[:len(y)])
            labels.append(y)
    torch.manual_seed(0)
    model = DangerModel(feats[0].shape[1], steps=200, seed=0)
    model.add(torch.cat(feats[:40]), torch.cat(labels[:40]))
    model.fit()
    held_x, held_y = torch.cat(feats[40:]), torch.cat(labels[40:])
    assert 0 < held_y.sum() < len(held_y)
    assert auc(model.danger(held_x).tolist(), held_y.tolist()) > 0.8


def test_danger_model_predicts_nothing_before_it_saw_both_classes() -> None:
    model = DangerModel(4)
    model.add(torch.randn(10, 4), torch.zeros(10))
    model.fit()
    assert model.danger(torch.randn(3, 4)).tolist() == [0.0, 0.0, 0.0]
    assert auc([0.1, 0.9, 0.5], [0, 1, 0]) == 1.0 and auc([0.3, 0.3], [1, 0]) == 0.5


def test_intrinsic_fear_runs_end_to_end_on_the_zero_shot_schedule(tiny_tok: Any) -> None:
    from speclang.llm.tiny import tiny_model

    res = run_method("intrinsic_fear", tiny_model(tiny_tok), tiny_tok, DOSE, "p",
                     ["Hello", "Take"], ["Sleep"], steps=3, batch=2,
                     config=TrainConfig(k=2, max_new_tokens=4, lr=1e-3), eval_k=4,
                     unit="token", fear_lambda=1.0, fear_horizon=2)
    assert [s.specs for s in res.stages] == [["na", "nd"]]
    assert set(res.violation) == {"na", "nd"} and len(res.texts) == 4
    f = res.fear
    assert f["completions"] == 3 * 2 * 2 and f["lambda"] == 1.0 and f["horizon"] == 2
    assert 0 < f["buffer"] <= 3 * 2 * 2 * 4 and 0 <= f["dangerous"] <= f["buffer"]
