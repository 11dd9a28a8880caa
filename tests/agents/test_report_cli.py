"""`speclang train` / `speclang report` end to end, statistics helpers, and the DQN."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from speclang.agents.report import compare, mean_ci, render_html
from speclang.cli import main
from tests.agents.configs import PROG, SMALL, ZERO, tiny_toml

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

TINY = tiny_toml((PROG, ZERO), seeds=3, **SMALL)


def test_mean_ci_matches_the_t_interval() -> None:
    m, half = mean_ci(np.array([1.0, 2.0, 3.0, 4.0]))
    # t_{0.975, 3} = 3.1824; sd = 1.29099; half = t * sd / 2
    assert m == 2.5 and math.isclose(half, 3.18245 * 1.290994 / 2, rel_tol=1e-4)
    assert mean_ci(np.array([7.0])) == (7.0, 0.0)


def test_compare_detects_a_clear_difference_and_not_a_null_one() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, 12), rng.normal(3, 1, 12)
    assert compare(a, b)["welch_p"] < 1e-4 and compare(a, b)["mannwhitney_p"] < 1e-3
    assert compare(a, a)["welch_p"] == pytest.approx(1.0)
    null = compare(np.zeros(5), np.zeros(5))
    assert (null["welch_p"], null["mannwhitney_p"]) == (1.0, 1.0)


def test_train_then_report(tmp_path, capsys) -> None:
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(TINY)
    out = tmp_path / "run"
    assert main(["train", str(cfg), "--out", str(out), "--no-progress"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert len(results["runs"]) == 6 and results["methods"] == ["prog", "zero"]
    assert any((out / "tb").iterdir())
    records = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert {r["kind"] for r in records} == {"progress", "final"}
    progress = [r for r in records if r["kind"] == "progress"]
    assert {r["method"] for r in progress} == {"prog", "zero"}
    assert all("train/violations" in r and "spec/t4/violations" in r for r in progress)
    for rec in results["runs"]:
        # per-spec violations add up to the total
        assert sum(rec[f"violations_{s}"] for s in results["specs"]) == rec["violations"]
        assert sum(rec[f"episodes_{s}"] for s in results["specs"]) == rec["episodes"] == 30
    assert main(["report", str(out)]) == 0
    for name in ("violations.png", "return.png", "violations_steps.png", "summary.md",
                 "summary.html"):
        assert (out / name).stat().st_size > 0
    md = (out / "summary.md").read_text()
    assert "(violations_steps.png)" in md
    assert "| greedy success rate ↑ |" in md and "`prog` against each other method" in md
    assert (out / "violations.png").read_bytes()[:4] == b"\x89PNG"


def test_cli_errors_are_clean(tmp_path, capsys) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n[[methods]]\nname = "a"\nkind = "telepathy"\n')
    assert main(["train", str(bad), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "bad.toml" in err and "telepathy" in err and "Traceback" not in err
    broken = tmp_path / "broken.toml"
    broken.write_text("name = \n")
    assert main(["train", str(broken), "--out", str(tmp_path / "o")]) == 1
    assert "invalid TOML" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "nowhere")]) == 1
    assert "no results.json" in capsys.readouterr().err
    assert main(["train", str(bad)]) == 2  # --out is required


@pytest.mark.parametrize("name", [
    "demo.toml", "full_layout1.toml", "paper_reward_layout1.toml", "critic_layout1.toml",
    "critic_layoutP2.toml", "critic_layoutP3.toml", "critic_pool_layout1.toml",
    "critic_factorial_layout1.toml", "critic_ablation_layout1.toml",
    "critic_pool_layoutP2.toml", "critic_pool_layoutP3.toml", "critic_fear_layout1.toml",
    "critic_penalty_layout1.toml", "critic_penalty_layoutP2.toml", "critic_penalty_layoutP3.toml"])
def test_shipped_configs_load(name: str) -> None:
    from speclang.agents.config import load_config

    cfg = load_config(EXAMPLES / "experiments" / name)
    assert (Path(cfg.base_dir) / cfg.specs.file).exists()
    assert any(m.kind == "progressive" for m in cfg.methods)


def test_dqn_short_run(tmp_path) -> None:
    pytest.importorskip("torch")
    from speclang.agents.dqn import load_dqn_config, run_dqn

    cfg = load_dqn_config(EXAMPLES / "experiments" / "dqn.toml")
    cfg.specs_source = "builtin"
    cfg.total_timesteps, cfg.learning_starts, cfg.eval_episodes = 400, 100, 2
    cfg.max_steps = 50
    results = run_dqn(cfg, tmp_path / "run", progress=False, tensorboard=False)
    episodes = [
        json.loads(x)
        for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
        if '"episode"' in x
    ]
    assert results["episodes"] == len(episodes) > 0
    assert results["total_violations"] == sum(e["violation"] for e in episodes)
    # paper reward: +0.1 per safe step; the violating step gets -0.1 and ends the episode
    for e in episodes:
        expected = 0.1 * (e["length"] - 1) - 0.1 if e["violation"] else 0.1 * e["length"]
        assert e["return"] == pytest.approx(expected, abs=1e-6)
    assert cfg.reward_mode == "paper" and cfg.violation_penalty == -0.1
    assert (tmp_path / "run" / "q_network.pt").exists()


def test_dqn_input_contains_the_monitor_state() -> None:
    from speclang.agents.builtin_specs import minecraft_progression
    from speclang.agents.dqn import ProductState
    from speclang.agents.envs.minecraft import MinecraftEnv

    env = MinecraftEnv("L1")
    prod = ProductState(env, minecraft_progression())
    obs = {"cell": 52, "stage": 0}
    a, b = prod.encode(obs, 0), prod.encode(obs, 2)
    assert a.sum() == b.sum() == 3 and not np.array_equal(a, b)


def test_holm_adjusts_over_the_table() -> None:
    from speclang.agents.report import holm

    # by hand: sorted 0.01*3 = 0.03, 0.03*2 = 0.06, then max(0.06, 0.04*1) = 0.06
    got = holm({"a": 0.01, "b": 0.04, "c": 0.03, "d": math.nan})
    assert got["a"] == pytest.approx(0.03) and got["b"] == pytest.approx(0.06)
    assert got["c"] == pytest.approx(0.06) and math.isnan(got["d"])


def test_compare_reports_the_difference_with_a_welch_ci_and_hedges_g() -> None:
    from scipy import stats

    a = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    b = np.array([4.0, 6.0, 5.0, 9.0, 7.0, 8.0])
    res = compare(a, b)
    # Welch-Satterthwaite by hand
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = stats.t.ppf(0.975, df) * math.sqrt(va + vb)
    diff = b.mean() - a.mean()
    assert res["diff"] == pytest.approx(diff)
    assert res["diff_ci"] == pytest.approx([diff - half, diff + half])
    sp = math.sqrt((4 * a.var(ddof=1) + 5 * b.var(ddof=1)) / 9)
    assert res["hedges_g"] == pytest.approx(diff / sp * (1 - 3 / (4 * 11 - 9)))
    same = compare(np.zeros(4), np.zeros(4))
    assert same["welch_p"] == 1.0 and same["diff_ci"] == [0.0, 0.0]


def test_summary_html_renders_the_markdown() -> None:
    # summary.html showed `reward mode \`shaped\`` with its backticks: code spans, tables and
    # images must render, and raw HTML from a user's names must be shown, not interpreted.
    text = (
        "# run <b>x</b>\n\nreward mode `shaped`, specs a -> b.\n\n"
        "| metric | `dqn` |\n|---|---|\n| violations | 1.0 ± 0.5 |\n\n![v](violations.png)\n"
    )
    page = render_html(text, "run")
    assert "<code>shaped</code>" in page and "<code>dqn</code>" in page
    assert "<table>" in page and "<td>1.0 ± 0.5</td>" in page
    assert '<img alt="v" src="violations.png"' in page
    assert "`" not in page
    assert "<b>" not in page and "&lt;b&gt;" in page
