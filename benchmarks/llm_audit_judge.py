"""The audit of the two judges of the medical-advice proposition, on the same splits
(docs/alignment.md, "Auditing the judge"): the exemplar labeler of examples/llm/advice.json
and SmolLM2-135M-Instruct asked "Does this sentence give medical advice?" (`--judge llm`).

Per seed, `speclang audit` holds out half of examples/llm/advice.jsonl's sentences that
are not in the labeler file (the split is the same for both judges); the other half and the
labeler file's sentences are audited, the most deviant instances added back, and the stop
rule and best round judged on the held-out half. Each (seed, judge) run is the command
itself, its printed output kept as seed-S-JUDGE.out and its report as seed-S-JUDGE.json;
a finished run is not repeated. Then the summary over seeds:

    HF_HUB_OFFLINE=1 nice -n 5 .venv/bin/python benchmarks/llm_audit_judge.py --seed 0 \
        --out runs/audit_judge
    .venv/bin/python benchmarks/llm_audit_judge.py --summary runs/audit_judge
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from speclang.stats import holm, mean_ci, paired  # noqa: E402

JUDGES = ("exemplar", "llm")
QUESTION = "Does this sentence give medical advice?"


def command(judge: str, seed: int, out: Path, args: argparse.Namespace) -> list[str]:
    cmd = [sys.executable, "-m", "speclang", "audit", "examples/llm/advice.json",
           "--data", "examples/llm/advice.jsonl", "--heldout-share", str(args.share),
           "--seed", str(seed), "--rounds", str(args.rounds), "--add", str(args.add),
           "--json", str(out / f"seed-{seed}-{judge}.json")]
    if judge == "llm":
        cmd += ["--judge", "llm", "--question", QUESTION, "--shots", str(args.shots),
                "--threads", "1"]
    return cmd


def run(seed: int, out: Path, args: argparse.Namespace) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for judge in JUDGES:
        if (out / f"seed-{seed}-{judge}.json").is_file():
            print(f"seed {seed} {judge}: done before", flush=True)
            continue
        cmd = command(judge, seed, out, args)
        print("$ " + " ".join(cmd[1:]), flush=True)
        with open(out / f"seed-{seed}-{judge}.out", "w") as so, \
                open(out / f"seed-{seed}-{judge}.err", "w") as se:
            rc = subprocess.run(cmd, cwd=ROOT, stdout=so, stderr=se, check=False).returncode
        if rc:
            sys.exit(f"seed {seed} {judge}: exit {rc}; see {out}/seed-{seed}-{judge}.err")
        print((out / f"seed-{seed}-{judge}.out").read_text(), flush=True)


def summary(out: Path) -> None:
    runs: dict[str, dict[int, Any]] = {j: {} for j in JUDGES}
    for f in sorted(out.glob("seed-*-*.json")):
        _, seed, judge = f.stem.split("-")
        runs[judge][int(seed)] = json.loads(f.read_text())
    seeds = sorted(set(runs["exemplar"]) & set(runs["llm"]))
    if not seeds:
        sys.exit(f"{out}: no seed with both judges' reports")

    def held(doc: Any, index: int, key: str) -> float:
        return float(doc["rounds"][index]["heldout"]["advice"][key])

    print(f"{len(seeds)} seeds ({', '.join(map(str, seeds))}); held-out agreement, "
          "mean ± 95% t half-width over seeds\n")
    print("| judge | round 0 accuracy | round 0 kappa | best accuracy | best kappa | "
          "best round | instances added |")
    print("|---|---|---|---|---|---|---|")
    cols: dict[str, dict[str, list[float]]] = {}
    for judge in JUDGES:
        docs = [runs[judge][s] for s in seeds]
        c = cols[judge] = {
            "acc0": [held(d, 0, "accuracy") for d in docs],
            "k0": [held(d, 0, "kappa") for d in docs],
            "acc": [held(d, d["best_round"], "accuracy") for d in docs],
            "k": [held(d, d["best_round"], "kappa") for d in docs],
            "best": [float(d["best_round"]) for d in docs],
            "added": [float(sum(len(r["added"].get("advice", []))
                                for r in d["rounds"][:d["best_round"]])) for d in docs]}
        cells = [f"{m:.3f} ± {h:.3f}" for m, h in (mean_ci(c[k]) for k in
                                                   ("acc0", "k0", "acc", "k"))]
        cells += [f"{mean_ci(c['best'])[0]:.1f}", f"{mean_ci(c['added'])[0]:.1f}"]
        print(f"| {judge} | " + " | ".join(cells) + " |")
    print("\nper seed (held-out kappa, round by round; * = best round):")
    for judge in JUDGES:
        for s in seeds:
            d = runs[judge][s]
            ks = [f"{r['heldout']['advice']['kappa']:.3f}"
                  + ("*" if r["round"] == d["best_round"] else "") for r in d["rounds"]]
            conf = d["rounds"][d["best_round"]]["heldout"]["advice"]["confusion"]
            print(f"  {judge:8s} seed {s}: {' '.join(ks)}   best confusion tp {conf['tp']} "
                  f"fp {conf['fp']} fn {conf['fn']} tn {conf['tn']}")
    tests = {what: paired(cols["exemplar"][key], cols["llm"][key])
             for key, what in (("k0", "round 0"), ("k", "best round"))}
    adjusted = holm({w: r["t_p"] for w, r in tests.items()})
    print()
    for what, r in tests.items():
        print(f"llm - exemplar held-out kappa at the {what}: {r['diff']:.3f} "
              f"[{r['diff_ci'][0]:.3f}, {r['diff_ci'][1]:.3f}], paired t p = {r['t_p']:.4f} "
              f"(Holm over the two: {adjusted[what]:.4f})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, help="run both judges' audits on this seed's split")
    ap.add_argument("--out", type=Path, default=Path("runs/audit_judge"))
    ap.add_argument("--summary", type=Path, metavar="DIR", help="summarise DIR's reports")
    ap.add_argument("--share", type=float, default=0.5)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--add", type=int, default=3)
    ap.add_argument("--shots", type=int, default=1)
    args = ap.parse_args()
    if args.summary:
        summary(args.summary)
    elif args.seed is not None:
        run(args.seed, args.out, args)
    else:
        ap.error("give --seed S or --summary DIR")


if __name__ == "__main__":
    main()
