"""The experiments' statistics, in one place: intervals, two-sample and paired tests, effect
sizes and Holm's correction, all computed by scipy and statsmodels.

Used by the gridworld (``speclang report``, ``speclang adapt``), the VizDoom agent and the LLM
progression. It depends on nothing else in speclang, so any layer may import it.

Paired tests are for runs under common random numbers: at one seed index every method sees
the same environment randomness (``speclang.agents.rng``), so the per-seed differences are
the informative quantity and a paired test has more power than a two-sample one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

_NAN = math.nan


def mean_ci(values: ArrayLike) -> tuple[float, float]:
    """Mean and half-width of the 95% t confidence interval (0 for fewer than two values;
    the mean is NaN for none)."""
    from scipy import stats

    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0:
        return _NAN, 0.0
    m = float(values.mean())
    if len(values) < 2:
        return m, 0.0
    sd = float(values.std(ddof=1))
    return m, float(stats.t.ppf(0.975, len(values) - 1) * sd / math.sqrt(len(values)))


def t_interval(xs: Sequence[float]) -> tuple[float, float, float]:
    """Mean and two-sided 95% Student-t interval ``(mean, low, high)`` of ``xs`` (the
    interval collapses to the mean for a single value)."""
    m, half = mean_ci(list(xs))
    return m, m - half, m + half


def bootstrap_ci(values: ArrayLike, statistic: Any = np.mean, *, n_resamples: int = 9999,
                 seed: int = 0) -> tuple[float, float]:
    """95% BCa bootstrap interval of ``statistic`` (scipy.stats.bootstrap), for samples whose
    mean is far from normal (violation counts with a few large values). Constant samples
    give the point itself; fewer than two values give NaNs."""
    from scipy import stats

    values = np.asarray(values, dtype=np.float64)
    if len(values) < 2:
        return _NAN, _NAN
    if np.ptp(values) == 0:
        v = float(statistic(values))
        return v, v
    res = stats.bootstrap((values,), statistic, n_resamples=n_resamples, confidence_level=0.95,
                          method="BCa", rng=np.random.default_rng(seed))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def _hedges_correction(df: float) -> float:
    # Hedges' small-sample bias correction J(df), the usual approximation 1 - 3 / (4 df - 1).
    return 1.0 - 3.0 / (4.0 * df - 1.0)


def compare(a: ArrayLike, b: ArrayLike) -> dict[str, Any]:
    """Welch t-test and two-sided Mann-Whitney U p-values of samples ``a`` vs ``b``, and the
    effect: ``diff`` = mean(b) - mean(a) with its 95% Welch confidence interval ``diff_ci``
    and Hedges' g (the standardised difference, small-sample corrected)."""
    from scipy import stats

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if len(a) < 2 or len(b) < 2:
        return {"welch_p": _NAN, "mannwhitney_p": _NAN, "diff": _NAN, "diff_ci": [_NAN, _NAN],
                "hedges_g": _NAN}
    diff = float(b.mean() - a.mean())
    mw = float(stats.mannwhitneyu(a, b, alternative="two-sided").pvalue)
    if np.ptp(a) == 0 and np.ptp(b) == 0:
        # two constants: no sampling variation, the difference is known exactly
        if diff == 0:
            return {"welch_p": 1.0, "mannwhitney_p": 1.0, "diff": 0.0, "diff_ci": [0.0, 0.0],
                    "hedges_g": 0.0}
        return {"welch_p": 0.0, "mannwhitney_p": mw, "diff": diff, "diff_ci": [diff, diff],
                "hedges_g": math.copysign(math.inf, diff)}
    res = stats.ttest_ind(b, a, equal_var=False)
    ci = res.confidence_interval(0.95)
    na, nb = len(a), len(b)
    pooled = math.sqrt(((na - 1) * a.var(ddof=1) + (nb - 1) * b.var(ddof=1)) / (na + nb - 2))
    return {
        "welch_p": float(res.pvalue),
        "mannwhitney_p": mw,
        "diff": diff,
        "diff_ci": [float(ci.low), float(ci.high)],
        "hedges_g": diff / pooled * _hedges_correction(na + nb - 2),
    }


def rank_biserial(d: ArrayLike) -> float:
    """Matched-pairs rank-biserial correlation of the differences ``d`` (Kerby 2014):
    (sum of positive ranks - sum of negative ranks) / total rank sum, zero differences
    dropped, as the Wilcoxon test drops them. In [-1, 1]; NaN when every difference is 0."""
    from scipy import stats

    x: np.ndarray = np.asarray(d, dtype=np.float64)
    x = x[x != 0]
    if len(x) == 0:
        return _NAN
    ranks = stats.rankdata(np.abs(x))
    return float((ranks[x > 0].sum() - ranks[x < 0].sum()) / ranks.sum())


def paired(a: ArrayLike, b: ArrayLike, *, seed: int = 0) -> dict[str, Any]:
    """Paired comparison of ``b`` against ``a`` (same seed index = same pair).

    ``diff`` = mean(b - a) with its 95% t interval ``diff_ci``; ``t_p`` the paired t-test;
    ``wilcoxon_p`` the two-sided Wilcoxon signed-rank test (zero differences dropped; exact
    for small samples without ties, else the normal approximation, as scipy chooses);
    ``hedges_g`` the mean difference over the difference's SD (d_z), bias corrected, with a
    95% bootstrap interval ``g_ci``; ``rank_biserial`` with a 95% bootstrap interval
    ``rb_ci``. Fewer than two pairs give NaNs."""
    from scipy import stats

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired samples differ in length: {len(a)} and {len(b)}")
    n = len(a)
    out: dict[str, Any] = {"n": n, "diff": _NAN, "diff_ci": [_NAN, _NAN], "t_p": _NAN,
                           "wilcoxon_p": _NAN, "hedges_g": _NAN, "g_ci": [_NAN, _NAN],
                           "rank_biserial": _NAN, "rb_ci": [_NAN, _NAN]}
    if n < 2:
        return out
    d = b - a
    m, half = mean_ci(d)
    out["diff"], out["diff_ci"] = m, [m - half, m + half]
    if np.ptp(d) == 0:
        # every pair differs by the same amount: no sampling variation to test against
        exact = 1.0 if m == 0 else 0.0
        inf = 0.0 if m == 0 else math.copysign(math.inf, m)
        out.update(t_p=exact, wilcoxon_p=1.0 if m == 0 else _wilcoxon(d),
                   hedges_g=inf, g_ci=[inf, inf])
        out["rank_biserial"] = rank_biserial(d)
        out["rb_ci"] = [out["rank_biserial"]] * 2
        return out
    out["t_p"] = float(stats.ttest_rel(b, a).pvalue)
    out["wilcoxon_p"] = _wilcoxon(d)
    j = _hedges_correction(n - 1)
    out["hedges_g"] = float(d.mean() / d.std(ddof=1) * j)
    out["rank_biserial"] = rank_biserial(d)
    if n >= 3:
        def g(x: np.ndarray, axis: int = -1) -> np.ndarray:
            sd = x.std(axis=axis, ddof=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.where(sd > 0, x.mean(axis=axis) / sd * j, 0.0)

        out["g_ci"] = list(_percentile_ci(d, g, seed))
        out["rb_ci"] = list(_percentile_ci(d, lambda x, axis=-1: np.apply_along_axis(
            _rb_or_zero, axis, x), seed))
    return out


def _rb_or_zero(x: np.ndarray) -> float:
    r = rank_biserial(x)
    return 0.0 if math.isnan(r) else r


def _percentile_ci(d: np.ndarray, statistic: Any, seed: int) -> tuple[float, float]:
    # Percentile rather than BCa: a resample of few pairs is often degenerate, where BCa's
    # jackknife acceleration is undefined.
    from scipy import stats

    res = stats.bootstrap((d,), statistic, n_resamples=2000, confidence_level=0.95,
                          method="percentile", rng=np.random.default_rng(seed))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def _wilcoxon(d: np.ndarray) -> float:
    from scipy import stats

    nonzero = d[d != 0]
    if len(nonzero) == 0:
        return 1.0
    return float(stats.wilcoxon(nonzero).pvalue)


def holm(pvalues: dict[Any, float]) -> dict[Any, float]:
    """Holm-adjusted p-values over one table (statsmodels ``multipletests``); NaN stays NaN."""
    from statsmodels.stats.multitest import multipletests

    keys = [k for k, p in pvalues.items() if not math.isnan(p)]
    out = {k: _NAN for k in pvalues}
    if keys:
        adjusted = multipletests([pvalues[k] for k in keys], method="holm")[1]
        out.update({k: float(p) for k, p in zip(keys, adjusted, strict=True)})
    return out


def mcnemar(before: Sequence[bool], after: Sequence[bool]) -> dict[str, float]:
    """Exact two-sided McNemar test on paired binary outcomes: ``b`` pairs true only
    before, ``c`` true only after; under no change each discordant pair is a fair coin,
    so the test is scipy's exact binomial test of ``b`` out of ``b + c`` at 1/2."""
    from scipy import stats

    if len(before) != len(after):
        raise ValueError("McNemar needs paired samples of equal length")
    b = sum(1 for x, y in zip(before, after, strict=True) if x and not y)
    c = sum(1 for x, y in zip(before, after, strict=True) if y and not x)
    p = float(stats.binomtest(b, b + c, 0.5).pvalue) if b + c else 1.0
    return {"b": b, "c": c, "p": min(1.0, p)}


def wilson(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (scipy's ``proportion_ci``)."""
    from scipy import stats

    if n == 0:
        return (0.0, 1.0)
    ci = stats.binomtest(successes, n).proportion_ci(confidence_level=confidence, method="wilson")
    return (max(0.0, float(ci.low)), min(1.0, float(ci.high)))


def n_two_proportions(p1: float, p2: float, *, power: float = 0.8,
                      alpha: float = 0.05) -> float:
    """Units per group a two-sided test of two independent proportions needs to tell ``p1``
    from ``p2`` with this power (normal approximation on Cohen's h, statsmodels); inf when
    they are equal."""
    from statsmodels.stats.power import NormalIndPower
    from statsmodels.stats.proportion import proportion_effectsize

    h = abs(float(proportion_effectsize(p1, p2)))
    if h == 0.0:
        return math.inf
    return float(NormalIndPower().solve_power(effect_size=h, power=power, alpha=alpha,
                                              alternative="two-sided"))


def n_two_means(effect_size: float, *, power: float = 0.8, alpha: float = 0.05) -> float:
    """Seeds per group a two-sided Welch/Student two-sample t-test needs to detect a
    standardised difference ``effect_size`` (Cohen's d, e.g. an observed Hedges' g) with this
    power (statsmodels' TTestIndPower); inf for a zero effect."""
    from statsmodels.stats.power import TTestIndPower

    d = abs(float(effect_size))
    if d == 0.0:
        return math.inf
    return float(TTestIndPower().solve_power(effect_size=d, power=power, alpha=alpha,
                                             alternative="two-sided"))


def detectable_effect(n: float, *, power: float = 0.8, alpha: float = 0.05) -> float:
    """The smallest standardised difference (Cohen's d) a two-sided two-sample t-test with
    ``n`` seeds per group detects with this power (statsmodels' TTestIndPower): the inverse
    of :func:`n_two_means`."""
    from statsmodels.stats.power import TTestIndPower

    return float(TTestIndPower().solve_power(nobs1=n, power=power, alpha=alpha,
                                             alternative="two-sided"))


def sd_from_ci(half_width: float, n: int) -> float:
    """The sample standard deviation behind a 95% t-interval half-width over ``n`` values
    (:func:`mean_ci`'s), for a power analysis from a published table."""
    from scipy import stats

    return float(half_width * math.sqrt(n) / stats.t.ppf(0.975, n - 1))


def paired_power(effect_size: float, n: int, *, alpha: float = 0.05) -> float:
    """Power of a two-sided paired (one-sample) t-test on ``n`` pairs whose differences have
    standardised mean ``effect_size`` (d_z: mean over SD of the differences): P(|T| > t
    critical) for T noncentral t with n - 1 degrees of freedom and noncentrality
    d_z sqrt(n), from scipy (statsmodels' TTestPower gives NaN for large effects);
    ``alpha`` itself for a zero effect, NaN for fewer than two pairs."""
    from scipy import stats

    d = abs(float(effect_size))
    if n < 2:
        return _NAN
    if math.isinf(d):
        return 1.0
    crit = float(stats.t.ppf(1 - alpha / 2, n - 1))
    nc = d * math.sqrt(n)
    return min(1.0, float(stats.nct.sf(crit, n - 1, nc) + stats.nct.cdf(-crit, n - 1, nc)))


def n_paired(effect_size: float, *, power: float = 0.8, alpha: float = 0.05) -> float:
    """Pairs a two-sided paired t-test needs to detect the standardised mean difference
    ``effect_size`` (d_z) with this power (statsmodels' TTestPower); inf for a zero effect."""
    from statsmodels.stats.power import TTestPower

    d = abs(float(effect_size))
    if d == 0.0:
        return math.inf
    return float(TTestPower().solve_power(effect_size=d, power=power, alpha=alpha,
                                          alternative="two-sided"))
