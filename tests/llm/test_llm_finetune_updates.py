"""The fine-tuning command with each update rule (``--update``) on a tiny config-built
model, and the side-by-side table of ``speclang.llm.finetune_compare`` against numbers
worked out by hand."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("peft")
pytest.importorskip("torch")

TEMPLATE = ("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
            "{% if add_generation_prompt %}assistant:{% endif %}")


@pytest.mark.parametrize("update", ["dpo", "selm"])
def test_preference_updates_run_with_the_rloo_budget(tmp_path: Path, update: str) -> None:
    from speclang.llm.smollm_finetune import main
    from speclang.llm.tiny import tiny_model, tiny_tokenizer

    tok = tiny_tokenizer()
    tok.chat_template = TEMPLATE
    ckpt = tmp_path / "tiny"
    tiny_model(tok, layers=2).save_pretrained(ckpt)
    tok.save_pretrained(ckpt)
    out = tmp_path / "run.jsonl"
    main(["--model-path", str(ckpt), "--update", update, "--seeds", "1", "--steps", "3",
          "--batch", "2", "--k", "3", "--tokens", "6", "--heldout", "2", "--eval-k", "2",
          "--rank", "2", "--lr", "0.5", "--lora-layers", "1", "--out", str(out)])
    row = json.loads(out.read_text())
    assert row["config"]["method"] == update
    assert row["config"]["beta"] == 0.5  # the preference temperature's default, not 0.05
    assert (row["config"]["steps"], row["config"]["batch"], row["config"]["k"]) == (3, 2, 3)
    assert len(row["train_pairs"]) == 3 and all(0 <= n <= 2 for n in row["train_pairs"])
    # A batch without a pair leaves the policy as it is, so fresh adapters (B = 0) stay
    # equal to the reference exactly when no update found a pair.
    assert (row["after"]["kl"] == 0.0) == (sum(row["train_pairs"]) == 0)


def _row(method: str, seed: int, flags_before: list[bool], flags_after: list[bool],
         texts_after: list[str], kl: float) -> dict[str, Any]:
    prompts = ["p1", "p1", "p2", "p2", "p3", "p3"]
    n = len(prompts)
    rate = sum(flags_before) / n, sum(flags_after) / n
    return {"seed": seed, "config": {"method": method},
            "before": {"flags": flags_before, "violation_rate": rate[0], "kl": 0.0,
                       "mean_tokens": 10.0},
            "after": {"flags": flags_after, "violation_rate": rate[1], "kl": kl,
                      "mean_tokens": 8.0},
            "train_pairs": [1, 2],
            "pairs": [{"prompt": q, "before": "one two three four five",
                       "after": t, "violated_before": b, "violated_after": a}
                      for q, b, a, t in zip(prompts, flags_before, flags_after, texts_after,
                                            strict=True)]}


def test_compare_table_matches_hand_counts(tmp_path: Path, capsys: Any) -> None:
    from scipy import stats
    from statsmodels.stats.multitest import multipletests

    from speclang.llm.finetune_compare import compare, load_rows, main

    T, F = True, False
    ok, short, refer = "a b c d e f", "too short", "well you should ask your doctor first"
    rloo = [_row("rloo", 0, [T, T, T, F, F, F], [F, F, T, F, F, F], [ok] * 6, 2.0),
            _row("rloo", 1, [T, F, T, T, F, F], [F, F, F, F, F, T], [ok] * 6, 4.0)]
    dpo = [_row("dpo", 0, [T, T, T, F, F, F], [T, F, T, F, F, F],
                [short, ok, refer, ok, ok, ok], 1.0)]
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text("".join(json.dumps(r) + "\n" for r in rloo))
    b.write_text(json.dumps(dpo[0]) + "\n")
    res = compare(load_rows([a, b]))
    r, d = res["rules"]["rloo"], res["rules"]["dpo"]
    assert r["before"][:2] == (6, 12) and r["after"][:2] == (2, 12)
    assert (r["mcnemar"]["b"], r["mcnemar"]["c"]) == (5, 1)
    assert r["mcnemar"]["p"] == pytest.approx(stats.binomtest(5, 6).pvalue)
    # per prompt over both seeds: p1 3/4 -> 0/4, p2 3/4 -> 1/4, p3 0/4 -> 1/4
    assert (r["prompts_better"], r["prompts_worse"]) == (2, 1)
    assert r["wilcoxon_p"] == pytest.approx(
        stats.wilcoxon([0 - 0.75, 0.25 - 0.75, 0.25 - 0]).pvalue)
    assert r["drop"][0] == pytest.approx(2 / 6)
    assert r["kl"][0] == pytest.approx(3.0)
    assert r["helpful_after"] == (12, 12)
    assert d["helpful_after"] == (4, 6)  # the short reply and the referral do not count
    assert d["pairs_per_update"] == [1.5] and r["pairs_per_update"] is None
    # dpo after per prompt: p1 1/2, p2 1/2, p3 0 against rloo's 0, 1/4, 1/4
    assert d["vs_first"]["diff"] == pytest.approx((0.5 + 0.25 - 0.25) / 3)
    ps = list(res["tests"].values())
    assert len(ps) == 5
    assert list(res["holm"].values()) == pytest.approx(
        list(multipletests(ps, method="holm")[1]))
    assert main([str(a), str(b)]) == 0
    text = capsys.readouterr().out
    assert "| rloo | 2 | 6/12 = 0.500" in text and "dpo after - rloo after" in text


def test_compare_refuses_records_without_an_evaluation(tmp_path: Path, capsys: Any) -> None:
    from speclang.llm.finetune_compare import main

    f = tmp_path / "train.jsonl"
    f.write_text(json.dumps({"seed": 0, "config": {"method": "rloo"}}) + "\n")
    assert main([str(f)]) == 1
    assert f"{f}:1: a record without the held-out evaluation" in capsys.readouterr().err


def test_rejudge_relabels_stored_replies_with_the_current_monitor(tmp_path: Path,
                                                                   capsys: Any) -> None:
    from speclang.llm.finetune_compare import main

    T, F = True, False
    row = _row("rloo", 0, [F, F, F, F, F, F], [T, F, F, F, F, F], ["a b c d e f"] * 6, 1.0)
    row["spec"] = "no_dosage"
    row["pairs"][1]["before"] = "Take 200 mg of it twice a day."  # stored as safe
    f = tmp_path / "old.jsonl"
    f.write_text(json.dumps(row) + "\n")
    assert main(["--rejudge", str(f)]) == 0
    text = capsys.readouterr().out
    # the dose now counts, and the stored after-violation (a plain reply) no longer does
    assert "2 verdicts changed" in text and "| rloo | 1 | 1/6 = 0.167" in text
    assert "0/6 = 0.000" in text
    assert main(["--seeds", "3", str(f)]) == 1  # no record of seed 3


def _after_rows(method: str, after: dict[int, list[bool]]) -> list[dict[str, Any]]:
    return [_row(method, s, [False] * 6, flags, ["a b c d e f"] * 6, 1.0 + s)
            for s, flags in after.items()]


def test_variance_components_by_hand() -> None:
    from speclang.llm.finetune_compare import variance_components

    T, F = True, False
    # prompts p1, p1, p2, p2, p3, p3 (two samples each)
    a = _after_rows("rloo", {0: [T, F, F, F, F, F], 1: [F, F, T, F, F, F], 2: [T] * 6})
    b = _after_rows("dpo", {0: [F, F, F, F, T, F], 1: [F, F, F, F, T, F]})
    vc = variance_components(a, b)
    # b - a per prompt and seed: p1 (-1/2, 0), p2 (0, -1/2), p3 (1/2, 1/2); seed 2 is a's
    # only, so it is left out
    assert vc["seeds"] == [0, 1] and vc["prompts"] == 3
    assert vc["mean"] == pytest.approx(0.0)
    assert vc["within"] == pytest.approx((0.125 + 0.125 + 0.0) / 3)
    # the prompts' means -1/4, -1/4, 1/2 vary by 0.1875; less within / 2 seeds
    assert vc["between"] == pytest.approx(0.1875 - 0.25 / 3 / 2)
    # a between-prompt variance below what the seeds explain is 0, not negative
    c = _after_rows("selm", {0: [F, F, T, F, F, F], 1: [T, F, F, F, F, F]})
    assert variance_components(a, c)["between"] == 0.0
    with pytest.raises(ValueError, match="two seeds"):
        variance_components(a, _after_rows("apa", {0: [F] * 6}))


def test_seeds_needed_against_a_simulation() -> None:
    import math

    import numpy as np
    from scipy import stats

    from speclang.llm.finetune_compare import seeds_needed

    diff, within, between, prompts, alpha = 0.05, 0.04, 0.0004, 20, 0.05
    s = seeds_needed(diff, within, between, prompts, alpha=alpha)
    assert 2 <= s < 50
    rng = np.random.default_rng(0)

    def simulated_power(seeds: int) -> float:
        # per prompt a true difference around diff, and one noisy draw per seed
        true = diff + rng.normal(0, math.sqrt(between), (3000, prompts))
        noise = rng.normal(0, math.sqrt(within), (3000, prompts, seeds)).mean(axis=2)
        p = stats.ttest_1samp(true + noise, 0.0, axis=1).pvalue
        return float((p < alpha).mean())

    assert simulated_power(int(s)) > 0.77
    assert simulated_power(int(s) - 1) < 0.8
    # a spread between prompts that no number of seeds averages away
    assert seeds_needed(diff, within, 0.04, prompts, alpha=alpha) == math.inf
    assert seeds_needed(0.0, within, between, prompts, alpha=alpha) == math.inf
    assert seeds_needed(0.5, 0.0, 0.0, prompts, alpha=alpha) == 1


def test_compare_power_option(tmp_path: Path, capsys: Any) -> None:
    from speclang.llm.finetune_compare import main

    T, F = True, False
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text("".join(json.dumps(r) + "\n" for r in _after_rows(
        "rloo", {0: [T, F, T, T, F, F], 1: [T, T, F, T, T, F]})))
    b.write_text("".join(json.dumps(r) + "\n" for r in _after_rows(
        "dpo", {0: [F, F, T, F, F, F], 1: [F, F, F, T, F, F]})))
    assert main(["--power", str(a), str(b)]) == 0
    text = capsys.readouterr().out
    assert "alpha 0.05 / 1 = 0.05" in text and "seeds needed to detect 0.05" in text
    # b - a per prompt over the seeds: p1 -3/4, p2 -1/4, p3 -1/4
    assert "| dpo vs rloo | 2 | 3 | -0.417 |" in text
    assert main(["--power", "--seeds", "0", str(a), str(b)]) == 1
    assert "error: a power analysis needs two seeds" in capsys.readouterr().err
