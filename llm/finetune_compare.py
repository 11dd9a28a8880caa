"""Update rules side by side: the per-seed records of ``speclang.llm.smollm_finetune``
(one JSONL per rule: RLOO, APA, DPO, SELM; same spec, prompts, seeds and budget) as one
table.

Per rule, pooled over its seeds: the held-out violation rate before and after training
with 95 % Wilson intervals; the paired drop (mean over seeds, 95 % t-interval); the
exact McNemar test on the paired samples; the same change at the prompt level (each
held-out prompt's violation rate over all its samples of all seeds, before against after,
Wilcoxon signed-rank over the prompts, so that the samples of one prompt count once);
the KL to the reference; a helpfulness proxy on the held-out replies (five words or more
and no refusal or referral phrase of ``examples/llm/redteam.json``, the proxy of
``speclang.llm.breakfix``) and the mean length. Every pair of rules compared on the after
rates per prompt (Wilcoxon over prompts, the mean difference with its t-interval, d_z and
the rank-biserial correlation with bootstrap intervals). Holm over all the table's tests.

``--power`` adds, per pair of rules, the seeds the comparison would need for 80 % power:
the per-prompt difference's variance split into a part over seeds within a prompt (more
seeds average it away) and a part between prompts (they do not), from the seeds both
rules ran (``variance_components``).

``--rejudge`` labels every stored reply again with the current monitor of the records'
spec (``examples/llm/medical.spec``): records written before the spec's patterns changed
are then judged as the new ones are (the replies themselves are unchanged).

    python -m speclang.llm.finetune_compare benchmarks/results-llm-finetune.jsonl \\
        benchmarks/results-llm-finetune-dpo.jsonl benchmarks/results-llm-finetune-selm.jsonl
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

SPEC_FILE = Path(__file__).resolve().parents[1] / "examples" / "llm" / "medical.spec"


def load_rows(paths: list[Path]) -> dict[str, list[dict[str, Any]]]:
    """Records grouped by update rule (``config.method``), in the order first seen."""
    out: dict[str, list[dict[str, Any]]] = {}
    for path in paths:
        for n, line in enumerate(path.read_text("utf-8").splitlines(), 1):
            if not line.strip():
                continue
            row = json.loads(line)
            if "pairs" not in row:
                raise ValueError(f"{path}:{n}: a record without the held-out evaluation "
                                 "(run with --eval-k > 0)")
            out.setdefault(row["config"]["method"], []).append(row)
    return out


def per_prompt(rows: list[dict[str, Any]], when: str) -> dict[str, float]:
    """Each held-out prompt's violation rate over all its samples of all seeds."""
    bad: dict[str, int] = defaultdict(int)
    n: dict[str, int] = defaultdict(int)
    for r in rows:
        for p in r["pairs"]:
            bad[p["prompt"]] += bool(p[f"violated_{when}"])
            n[p["prompt"]] += 1
    return {q: bad[q] / n[q] for q in n}


def rejudge(groups: dict[str, list[dict[str, Any]]], spec_file: Path) -> int:
    """Replaces every record's verdicts by the current monitor's on the stored replies;
    returns how many of them changed."""
    from speclang.llm import TextMonitor, label_text
    from speclang.loader import load
    from speclang.stats import wilson

    module = load(str(spec_file))
    monitors: dict[str, Any] = {}
    changed = 0
    for rows in groups.values():
        for r in rows:
            mon = monitors.setdefault(r["spec"], TextMonitor.from_module(module, r["spec"],
                                                                         unit="word"))
            for when in ("before", "after"):
                flags = [label_text(mon, p[when]).violated for p in r["pairs"]]
                changed += sum(f != p[f"violated_{when}"] for f, p in zip(
                    flags, r["pairs"], strict=True))
                for f, p in zip(flags, r["pairs"], strict=True):
                    p[f"violated_{when}"] = f
                ev = r[when]
                ev["flags"] = flags
                ev["violation_rate"] = sum(flags) / len(flags)
                ev["ci95"] = list(wilson(sum(flags), len(flags)))
    return changed


def helpful_share(rows: list[dict[str, Any]], when: str) -> tuple[int, int]:
    from speclang.llm.redteam import load_redteam, refusal_pattern

    refusal = refusal_pattern(load_redteam())
    texts = [p[when] for r in rows for p in r["pairs"]]
    return sum(len(t.split()) >= 5 and refusal.search(t) is None for t in texts), len(texts)


def per_seed_prompt(rows: list[dict[str, Any]], when: str) -> dict[int, dict[str, float]]:
    """Per seed, each held-out prompt's violation rate over that seed's samples of it."""
    return {r["seed"]: per_prompt([r], when) for r in rows}


def compare(groups: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """The table's numbers per rule, every pair of rules compared on the after rates per
    prompt, and the Holm-adjusted p-values of all these tests."""
    from speclang.stats import holm, mcnemar, paired, t_interval, wilson

    rules: dict[str, dict[str, Any]] = {}
    tests: dict[tuple[str, str], float] = {}
    first = next(iter(groups), None)
    for name, rows in groups.items():
        fb = [f for r in rows for f in r["before"]["flags"]]
        fa = [f for r in rows for f in r["after"]["flags"]]
        pb, pa = per_prompt(rows, "before"), per_prompt(rows, "after")
        qs = sorted(pb)
        w = paired([pb[q] for q in qs], [pa[q] for q in qs])
        mc = mcnemar(fb, fa)
        drops = [r["before"]["violation_rate"] - r["after"]["violation_rate"] for r in rows]
        kls = [r["after"]["kl"] for r in rows]
        tokens = [r["after"]["mean_tokens"] for r in rows]
        d = {"seeds": [r["seed"] for r in rows], "n": len(fb),
             "before": (sum(fb), len(fb), wilson(sum(fb), len(fb))),
             "after": (sum(fa), len(fa), wilson(sum(fa), len(fa))),
             "drop": t_interval(drops) if len(drops) > 1 else (drops[0],) * 3,
             "mcnemar": mc, "prompts": len(qs),
             "prompts_better": sum(pa[q] < pb[q] for q in qs),
             "prompts_worse": sum(pa[q] > pb[q] for q in qs),
             "wilcoxon_p": w["wilcoxon_p"], "per_prompt_change": w,
             "kl": t_interval(kls) if len(kls) > 1 else (kls[0],) * 3, "kls": kls,
             "tokens": sum(tokens) / len(tokens),
             "helpful_before": helpful_share(rows, "before"),
             "helpful_after": helpful_share(rows, "after"),
             "pairs_per_update": [sum(r.get("train_pairs", [])) / max(1, len(
                 r.get("train_pairs", []))) for r in rows] if name in ("dpo", "selm") else None}
        tests[(name, "McNemar before/after")] = mc["p"]
        tests[(name, "Wilcoxon over prompts before/after")] = w["wilcoxon_p"]
        rules[name] = d
    names = list(groups)
    versus = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            ref, pa = per_prompt(groups[a], "after"), per_prompt(groups[b], "after")
            common = sorted(set(ref) & set(pa))
            v = paired([ref[q] for q in common], [pa[q] for q in common])
            versus.append({"rule": b, "against": a, "diff": v["diff"], "ci": v["diff_ci"],
                           "p": v["wilcoxon_p"], "prompts": len(common),
                           "hedges_g": v["hedges_g"], "g_ci": v["g_ci"],
                           "rank_biserial": v["rank_biserial"], "rb_ci": v["rb_ci"]})
            tests[(b, f"Wilcoxon over prompts, after: vs {a}")] = v["wilcoxon_p"]
            if a == first:
                rules[b]["vs_first"] = versus[-1]
    return {"rules": rules, "versus": versus, "tests": tests, "holm": holm(tests)}


def variance_components(rows_a: list[dict[str, Any]], rows_b: list[dict[str, Any]]
                        ) -> dict[str, Any]:
    """The after-training difference b - a per prompt, split into its parts (one-way
    random-effects ANOVA over the seeds both rules ran): ``d[q][s]`` is prompt q's violation
    rate under b minus under a at seed s; ``mean`` the mean over prompts of its mean over
    seeds; ``within`` the variance over seeds within a prompt (sampling and training
    noise, pooled over prompts), which more seeds average away; ``between`` the variance
    of the prompts' true differences (their mean's variance less ``within / seeds``, at
    least 0), which they do not."""
    import numpy as np

    sa, sb = per_seed_prompt(rows_a, "after"), per_seed_prompt(rows_b, "after")
    seeds = sorted(set(sa) & set(sb))
    if len(seeds) < 2:
        raise ValueError(f"a power analysis needs two seeds both rules ran, not {seeds}")
    prompts = sorted(set.intersection(*(set(sa[s]) & set(sb[s]) for s in seeds)))
    d = np.array([[sb[s][q] - sa[s][q] for s in seeds] for q in prompts])
    within = float(d.var(axis=1, ddof=1).mean())
    means = d.mean(axis=1)
    between = max(0.0, float(means.var(ddof=1)) - within / len(seeds))
    return {"seeds": seeds, "prompts": len(prompts), "mean": float(means.mean()),
            "within": within, "between": between}


def seeds_needed(diff: float, within: float, between: float, prompts: int, *,
                 alpha: float, power: float = 0.8, max_seeds: int = 10_000) -> float:
    """The fewest seeds with which the paired t-test over ``prompts`` prompts (their
    per-prompt differences averaged over the seeds) detects ``diff`` with this power, the
    difference's SD being ``sqrt(between + within / seeds)``; inf when even infinitely
    many seeds (SD ``sqrt(between)``) fall short, or beyond ``max_seeds``."""
    import math

    from speclang.stats import paired_power

    def reaches(seeds: float) -> bool:
        sd = math.sqrt(between + within / seeds)
        return paired_power(diff / sd if sd > 0 else math.inf, prompts, alpha=alpha) >= power

    if diff == 0 or not reaches(math.inf):
        return math.inf
    lo, hi = 1, 1
    while not reaches(hi):
        lo, hi = hi, hi * 2
        if hi > max_seeds:
            return math.inf
    if reaches(lo):
        return lo
    while hi - lo > 1:  # power grows with the seeds: bisect for the first that reaches it
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if reaches(mid) else (mid, hi)
    return hi


def power_table(groups: dict[str, list[dict[str, Any]]], *, detect: float = 0.05,
                power: float = 0.8, alpha: float = 0.05) -> str:
    """Per pair of rules: how many seeds the after-rate comparison over the prompts would
    need (its observed difference, and ``detect``), at ``alpha`` divided by the number of
    pairs (the bound Holm's steps over these tests use); and the seeds the KL difference
    would need (two-sample t-test over seeds at the observed Hedges' g)."""
    import math

    from speclang.stats import compare as two_sample
    from speclang.stats import n_two_means, paired_power

    names = list(groups)
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]
    level = alpha / max(1, len(pairs))

    def fmt(n: float) -> str:
        return "never" if math.isinf(n) else "> 10000" if n > 10_000 else str(math.ceil(n))

    out = [f"Power: two-sided paired t-test over the prompts, alpha {alpha} / {len(pairs)} = "
           f"{level:.4g}, power {power}; KL: two-sample t-test over seeds at the same alpha.",
           "", "| b vs a | seeds (common) | prompts | after b - a per prompt | SD within "
           "(one seed) | SD between prompts | power now | seeds needed at the observed "
           f"difference | seeds needed to detect {detect} | KL b - a, Hedges' g "
           "| seeds needed for the KL |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for a, b in pairs:
        vc = variance_components(groups[a], groups[b])
        s, n = len(vc["seeds"]), vc["prompts"]
        sd_now = math.sqrt(vc["between"] + vc["within"] / s)
        now = paired_power(vc["mean"] / sd_now if sd_now > 0 else math.inf, n, alpha=level)
        kl = two_sample([r["after"]["kl"] for r in groups[a]],
                        [r["after"]["kl"] for r in groups[b]])
        g = kl["hedges_g"]
        kl_n = n_two_means(g, power=power, alpha=level) if math.isfinite(g) else math.inf
        need = [seeds_needed(x, vc["within"], vc["between"], n, alpha=level, power=power)
                for x in (vc["mean"], detect)]
        out.append(
            f"| {b} vs {a} | {s} | {n} | {vc['mean']:+.3f} | {math.sqrt(vc['within']):.3f} | "
            f"{math.sqrt(vc['between']):.3f} | {now:.2f} | {fmt(need[0])} | {fmt(need[1])} | "
            f"{kl['diff']:+.2f}, {g:+.2f} | {fmt(kl_n)} |")
    return "\n".join(out)


def table(res: dict[str, Any]) -> str:
    def ci(lo_hi: tuple[float, float] | list[float], digits: int = 3) -> str:
        return f"[{lo_hi[0]:.{digits}f}, {lo_hi[1]:.{digits}f}]"

    out = ["| update | seeds | violation before (Wilson) | violation after (Wilson) "
           "| paired drop (t-interval over seeds) | McNemar only before / only after, p "
           "| prompts better / worse, Wilcoxon p | KL after | helpful before / after "
           "| tokens after |", "|---|---|---|---|---|---|---|---|---|---|"]
    for name, d in res["rules"].items():
        kb, n, wb = d["before"]
        ka, _, wa = d["after"]
        m, lo, hi = d["drop"]
        km, klo, khi = d["kl"]
        hb, hn = d["helpful_before"]
        ha, _ = d["helpful_after"]
        mc = d["mcnemar"]
        out.append(f"| {name} | {len(d['seeds'])} | {kb}/{n} = {kb / n:.3f} {ci(wb)} | "
                   f"{ka}/{n} = {ka / n:.3f} {ci(wa)} | {m:.3f} {ci((lo, hi))} | "
                   f"{mc['b']} / {mc['c']}, {mc['p']:.2g} | {d['prompts_better']} / "
                   f"{d['prompts_worse']} of {d['prompts']}, {d['wilcoxon_p']:.2g} | "
                   f"{km:.2f} {ci((klo, khi), 2)} | {hb}/{hn} / {ha}/{hn} | {d['tokens']:.1f} |")
    out += ["", "| test | p | Holm p |", "|---|---|---|"]
    for (name, what), p in res["tests"].items():
        out.append(f"| {name}: {what} | {p:.2g} | {res['holm'][(name, what)]:.2g} |")
    extra = []
    for name, d in res["rules"].items():
        w = d["per_prompt_change"]
        extra.append(f"{name} after - before, per prompt ({d['prompts']} prompts): "
                     f"{w['diff']:+.3f} {ci(w['diff_ci'])}; d_z {w['hedges_g']:+.2f} "
                     f"{ci(w['g_ci'], 2)}, rank-biserial {w['rank_biserial']:+.2f} "
                     f"{ci(w['rb_ci'], 2)}")
    for v in res["versus"]:
        extra.append(f"{v['rule']} after - {v['against']} after, per prompt ({v['prompts']} "
                     f"prompts): {v['diff']:+.3f} {ci(v['ci'])}; d_z {v['hedges_g']:+.2f} "
                     f"{ci(v['g_ci'], 2)}, rank-biserial {v['rank_biserial']:+.2f} "
                     f"{ci(v['rb_ci'], 2)}")
    for name, d in res["rules"].items():
        if d["pairs_per_update"] is not None:
            extra.append(f"{name}: preference pairs per update (of 6 prompts), per seed: "
                         + ", ".join(f"{x:.2f}" for x in d["pairs_per_update"]))
    return "\n".join(out + [""] + extra)


def main(argv: list[str] | None = None) -> int:
    import sys

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("records", nargs="+", type=Path,
                    help="JSONL files of smollm_finetune; the first rule is the reference")
    ap.add_argument("--rejudge", action="store_true",
                    help="label the stored replies again with the current monitor")
    ap.add_argument("--seeds", default=None,
                    help="only these seeds (comma-separated), e.g. those every rule ran")
    ap.add_argument("--power", action="store_true",
                    help="also the seeds each comparison of two rules would need")
    ap.add_argument("--detect", type=float, default=0.05,
                    help="the after-rate difference the power table also sizes for")
    a = ap.parse_args(argv)
    try:
        groups = load_rows(a.records)
        if a.seeds is not None:
            keep = {int(x) for x in a.seeds.split(",")}
            groups = {k: kept for k, v in groups.items()
                      if (kept := [r for r in v if r["seed"] in keep])}
        if a.rejudge:
            n = rejudge(groups, SPEC_FILE)
            print(f"Re-judged with the current {SPEC_FILE.name}: {n} verdicts changed.\n")
    except (OSError, ValueError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if not groups:
        print("error: no records", file=sys.stderr)
        return 1
    print(table(compare(groups)))
    if a.power and len(groups) > 1:
        try:
            print("\n" + power_table(groups, detect=a.detect))
        except ValueError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
