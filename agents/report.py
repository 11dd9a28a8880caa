"""Plots and statistics for a finished experiment directory (``speclang report``)."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import numpy as np

# The statistics live in speclang.stats; these names stay importable from here.
from speclang.stats import compare, holm, mean_ci, paired

# (key in results.json, label, lower is better; None: neither, e.g. the budget spent)
METRICS: tuple[tuple[str, str, bool | None], ...] = (
    ("violations", "training violations (active spec)", True),
    ("final_spec_violations", "training violations of the final spec", True),
    ("episodes_to_safe", "episodes to >=95% safe (final spec)", True),
    ("env_steps", "environment steps (the budget actually spent)", None),
    ("eval_success_rate", "greedy success rate", False),
    ("eval_violation_rate", "greedy violation rate", True),
    ("eval_return", "greedy return", False),
    ("train_return", "mean training return", False),
    ("start_value", "value at the start state", False),
    ("final_states_visited", "product states visited on the final spec", True),
)
# Reported when every run of results.json has them (agents whose runs are timed and whose
# trained parameters are counted, e.g. RANDPOL); the tabular experiment's have neither.
OPTIONAL_METRICS: tuple[tuple[str, str, bool | None], ...] = (
    ("seconds", "wall time per run (s)", True),
    ("params_trained", "parameters trained", True),
)
TESTED = ("final_spec_violations", "episodes_to_safe", "eval_success_rate", "eval_violation_rate")


class ReportError(Exception):
    pass


def _load(run_dir: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    results_path = run_dir / "results.json"
    if not results_path.exists():
        raise ReportError(f"{run_dir}: no results.json (has `speclang train` finished?)")
    try:
        results = json.loads(results_path.read_text())
        with np.load(run_dir / "episodes.npz") as data:
            curves = {k: data[k] for k in data.files}
    except (OSError, ValueError, KeyError) as exc:
        raise ReportError(f"{run_dir}: unreadable results: {exc}") from None
    return results, curves


def _by_method(results: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {m: [] for m in results["methods"]}
    for rec in results["runs"]:
        out[rec["method"]].append(rec)
    return out


def _binned(values: np.ndarray, width: int) -> np.ndarray:
    import warnings

    n = values.shape[1] // width
    with warnings.catch_warnings():  # a bin no episode of a run reached stays NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(values[:, : n * width].reshape(values.shape[0], n, width), axis=2)


def plot_curves(results: dict[str, Any], curves: dict[str, np.ndarray], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    episodes = int(results["episodes"])
    width = max(1, episodes // 50)
    methods = results["methods"]
    seeds = int(results["seeds"])
    counts = {m: [r["episodes"] for r in sorted(runs, key=lambda r: r["seed"])]
              for m, runs in _by_method(results).items()}
    panels = {
        "violations.png": [
            ("viol", "violation rate (active spec)"),
            ("fviol", "violation rate (final spec)"),
        ],
        "return.png": [("ret", "episode return")],
    }
    written = []
    for filename, keys in panels.items():
        fig, axes = plt.subplots(1, len(keys), figsize=(6.5 * len(keys), 4.2), squeeze=False)
        for ax, (key, label) in zip(axes[0], keys, strict=True):
            for i, method in enumerate(methods):
                rows = curves[key][i * seeds : (i + 1) * seeds].astype(np.float64)
                # A step budget ends runs after different numbers of episodes: the episodes
                # a run did not train are no data (NaN), not zeros.
                for j, n in enumerate(counts[method]):
                    rows[j, n:] = np.nan
                binned = _binned(rows, width)
                x = (np.arange(binned.shape[1]) + 1) * width
                stats = [mean_ci(col[~np.isnan(col)]) for col in binned.T]
                mean = np.array([s[0] for s in stats])
                half = np.array([s[1] for s in stats])
                (line,) = ax.plot(x, mean, label=method, lw=1.4)
                lo, hi = mean - half, mean + half
                if key in ("viol", "fviol"):  # rates: the symmetric t band is cut to [0, 1]
                    lo, hi = np.clip(lo, 0.0, 1.0), np.clip(hi, 0.0, 1.0)
                ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.18)
            ax.set_xlabel("episode")
            ax.set_ylabel(label)
            ax.grid(alpha=0.3)
        axes[0][0].legend(fontsize=8)
        fig.suptitle(f"{results['name']}: mean over {seeds} seeds, 95% CI bands")
        fig.tight_layout()
        path = out / filename
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    if "length" in curves:  # run directories from before episode lengths were kept lack it
        written.append(plot_steps(results, curves, counts, out))
    return written


def plot_steps(results: dict[str, Any], curves: dict[str, np.ndarray],
               counts: dict[str, list[int]], out: Path) -> Path:
    """violations_steps.png: cumulative violations of the final spec against cumulative
    environment steps, so methods whose episodes differ in length are compared at equal
    experience. A method's curve stops where its shortest run ends."""
    import matplotlib.pyplot as plt

    seeds = int(results["seeds"])
    runs: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    top = 0
    for i, method in enumerate(results["methods"]):
        runs[method] = []
        for j, n in enumerate(counts[method]):
            row = i * seeds + j
            steps = np.cumsum(curves["length"][row, :n], dtype=np.float64)
            viol = np.cumsum(curves["fviol"][row, :n], dtype=np.float64)
            runs[method].append((steps, viol))
            top = max(top, int(steps[-1]) if n else 0)
    grid = np.linspace(0, top, 200)[1:]
    fig, ax = plt.subplots(figsize=(8.5, 5.0))
    tab20 = plt.get_cmap("tab20")
    colors = [tab20(i) for i in range(20)]
    for n_method, (method, per_seed) in enumerate(runs.items()):
        ys = np.full((len(per_seed), len(grid)), np.nan)
        for k, (steps, viol) in enumerate(per_seed):
            if len(steps):
                inside = grid <= steps[-1]
                ys[k, inside] = np.interp(grid[inside], steps, viol)
        # up to the shortest of its runs: a mean over the few runs still going is no mean
        keep = ~np.isnan(ys).any(axis=0)
        stats = [mean_ci(col[~np.isnan(col)]) for col in ys[:, keep].T]
        mean = np.array([m for m, _ in stats])
        half = np.array([h for _, h in stats])
        color = colors[n_method % len(colors)]
        style = ("-", "--", ":")[n_method // len(colors) % 3]
        ax.plot(grid[keep], mean, label=method, lw=1.4, color=color, ls=style)
        ax.fill_between(grid[keep], mean - half, mean + half, color=color, alpha=0.15)
    ax.set_xlabel("environment steps")
    ax.set_ylabel("violations of the final spec (cumulative)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    ax.set_title(f"{results['name']}: mean over {seeds} seeds, 95% CI bands")
    fig.tight_layout()
    path = out / "violations_steps.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def metrics_of(results: dict[str, Any]) -> tuple[tuple[str, str, bool | None], ...]:
    """The rows of the summary table: those of :data:`METRICS` and :data:`OPTIONAL_METRICS`
    that every run has (env_steps is missing from runs made before it existed)."""
    runs = results["runs"]
    return tuple(m for m in METRICS + OPTIONAL_METRICS
                 if runs and all(m[0] in r for r in runs))


def summary_tables(results: dict[str, Any], reference: str | None) -> dict[str, Any]:
    by = _by_method(results)
    methods = results["methods"]
    if reference is None:
        kinds = {r["method"]: r["method_kind"] for r in results["runs"]}
        reference = next((m for m in methods if kinds[m] == "progressive"), methods[0])
    if reference not in by:
        raise ReportError(f"no method named {reference!r} (methods: {', '.join(methods)})")
    table = {
        m: {
            key: mean_ci(np.array([r[key] for r in by[m]], dtype=np.float64))
            for key, _, _ in metrics_of(results)
        }
        for m in methods
    }
    tests = {
        m: {key: _tests(by[reference], by[m], key) for key in TESTED}
        for m in methods
        if m != reference
    }
    # The comparison table is one family: Holm over all its (method, metric) cells.
    for p_key in ("welch_p", "wilcoxon_p"):
        adjusted = holm({(m, k): t[p_key] for m, row in tests.items() for k, t in row.items()})
        for (m, k), p in adjusted.items():
            tests[m][k][f"{p_key}_holm"] = p
    return {"reference": reference, "table": table, "tests": tests}


def _tests(ref: list[dict[str, Any]], other: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """Two-sample tests, and paired ones over the seed indices both methods ran: under
    common random numbers a seed index is a pair (speclang.agents.rng)."""
    out = compare(np.array([r[key] for r in ref]), np.array([r[key] for r in other]))
    a = {r["seed"]: r[key] for r in ref}
    b = {r["seed"]: r[key] for r in other}
    seeds = sorted(set(a) & set(b))
    pair = paired([a[s] for s in seeds], [b[s] for s in seeds])
    out.update({"wilcoxon_p": pair["wilcoxon_p"], "paired_t_p": pair["t_p"],
                "rank_biserial": pair["rank_biserial"], "rb_ci": pair["rb_ci"]})
    return out


def _fmt(mean: float, half: float) -> str:
    scale = max(abs(mean), half)
    digits = 0 if scale >= 100 else 2 if scale >= 1 else 3
    return f"{mean:.{digits}f} ± {half:.{digits}f}"


def _budget(results: dict[str, Any]) -> str:
    if "steps" in results:  # a step budget: runs end at different episode counts
        return (f"{results['steps']} environment steps per run (curves: the first "
                f"{results['episodes']} episodes, the shortest run's)")
    return f"{results['episodes']} training episodes per run"


def render_markdown(results: dict[str, Any], summary: dict[str, Any],
                    steps_plot: bool = False) -> str:
    methods = results["methods"]
    lines = [
        f"# {results['name']}",
        "",
        f"{results['seeds']} seeds per method, {_budget(results)}, "
        f"reward mode `{results['reward_mode']}`, at most {results['max_steps']} steps per "
        f"episode; specs: {' -> '.join(results['specs'])}. Mean ± 95% CI half-width.",
        "",
        "| metric | " + " | ".join(methods) + " |",
        "|---|" + "---|" * len(methods),
    ]
    for key, label, lower in metrics_of(results):
        cells = [_fmt(*summary["table"][m][key]) for m in methods]
        arrow = "" if lower is None else " ↓" if lower else " ↑"
        lines.append(f"| {label}{arrow} | " + " | ".join(cells) + " |")
    ref = summary["reference"]
    lines += [
        "",
        f"## `{ref}` against each other method",
        "",
        "Each cell: difference (method minus reference) with its 95% Welch CI; Hedges' g; "
        "Welch t-test p Holm-adjusted over the whole table (raw p); Mann–Whitney U p "
        "(two-sided, unadjusted); paired over seed indices (common random numbers): "
        "rank-biserial r with its 95% bootstrap CI and the Wilcoxon signed-rank p "
        "Holm-adjusted over the whole table (raw p).",
        "",
        "| method | " + " | ".join(TESTED) + " |",
        "|---|" + "---|" * len(TESTED),
    ]
    for m, tests in summary["tests"].items():
        cells = [
            f"{t['diff']:.3g} [{t['diff_ci'][0]:.3g}, {t['diff_ci'][1]:.3g}];"
            f" g {t['hedges_g']:.2f}; p {t['welch_p_holm']:.3g} ({t['welch_p']:.3g});"
            f" MW {t['mannwhitney_p']:.3g}; r {t['rank_biserial']:.2f}"
            f" [{t['rb_ci'][0]:.2f}, {t['rb_ci'][1]:.2f}];"
            f" Wilcoxon p {t['wilcoxon_p_holm']:.3g} ({t['wilcoxon_p']:.3g})"
            for t in (tests[k] for k in TESTED)
        ]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    lines += ["", "![violations](violations.png)", "", "![return](return.png)", ""]
    if steps_plot:
        lines += ["![violations against environment steps](violations_steps.png)", ""]
    return "\n".join(lines)


def render_html(text: str, title: str) -> str:
    """``summary.md`` as a standalone HTML page, through the ``markdown`` package (its
    ``tables`` extension for the pipe tables), so code spans, emphasis and tables render."""
    import markdown

    md = markdown.Markdown(extensions=["tables"], output_format="html")
    # Method, spec and run names come from the user's config: raw HTML in them is shown as
    # text, never interpreted (the page is opened from disk next to the run's files).
    md.preprocessors.deregister("html_block")
    md.inlinePatterns.deregister("html")
    body = md.convert(text)
    style = (
        "body{font-family:sans-serif;max-width:1200px;margin:2em auto;line-height:1.4}"
        "table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}"
        "code{font-family:monospace;background:#f3f3f3;padding:0 3px}"
        "img{max-width:100%}"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{style}</style></head><body>\n{body}\n</body></html>\n"
    )


def write_report(
    run_dir: Path, reference: str | None = None, out_dir: Path | None = None
) -> list[Path]:
    """Plots and summaries of ``run_dir``, written into ``out_dir`` (default: ``run_dir``)."""
    results, curves = _load(run_dir)
    out = run_dir if out_dir is None else out_dir
    out.mkdir(parents=True, exist_ok=True)
    written = plot_curves(results, curves, out)
    summary = summary_tables(results, reference)
    md = render_markdown(results, summary, steps_plot=out / "violations_steps.png" in written)
    (out / "summary.md").write_text(md, encoding="utf-8")
    (out / "summary.html").write_text(render_html(md, results["name"]), encoding="utf-8")
    return [*written, out / "summary.md", out / "summary.html"]
