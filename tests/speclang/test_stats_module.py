"""speclang.stats against scipy/statsmodels called directly and against hand computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests

from speclang.stats import bootstrap_ci, holm, mean_ci, paired, rank_biserial

A = np.array([12.0, 15.0, 9.0, 20.0, 14.0, 11.0, 17.0, 13.0, 10.0, 16.0])
B = np.array([10.0, 11.0, 9.0, 14.0, 15.0, 7.0, 12.0, 10.0, 8.0, 13.0])


def test_holm_on_known_pvalues() -> None:
    # by hand, m = 4: sorted 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, max(0.06, 0.04)
    got = holm({"a": 0.01, "b": 0.04, "c": 0.03, "d": 0.005, "e": math.nan})
    assert got["d"] == pytest.approx(0.02) and got["a"] == pytest.approx(0.03)
    assert got["c"] == pytest.approx(0.06) and got["b"] == pytest.approx(0.06)
    assert math.isnan(got["e"])
    ps = [0.2, 0.001, 0.049, 0.013]
    assert list(holm(dict(enumerate(ps))).values()) == pytest.approx(
        list(multipletests(ps, method="holm")[1]))


def test_paired_matches_scipy() -> None:
    res = paired(A, B)
    d = B - A
    assert res["diff"] == pytest.approx(d.mean())
    assert res["t_p"] == pytest.approx(sps.ttest_rel(B, A).pvalue)
    ci = sps.ttest_rel(B, A).confidence_interval(0.95)
    assert res["diff_ci"] == pytest.approx([ci.low, ci.high])
    assert res["wilcoxon_p"] == pytest.approx(sps.wilcoxon(d[d != 0]).pvalue)
    n = len(d)
    assert res["hedges_g"] == pytest.approx(d.mean() / d.std(ddof=1) * (1 - 3 / (4 * (n - 1) - 1)))
    lo, hi = res["g_ci"]
    assert lo < res["hedges_g"] < hi < 0
    lo, hi = res["rb_ci"]
    assert -1.0 <= lo <= res["rank_biserial"] <= hi <= 1.0


def test_rank_biserial_by_hand() -> None:
    # |d| ranks: 1 -> 1, 2 -> 2, 3 -> 3, 4 -> 4; positive ranks 1 + 4, negative 2 + 3
    assert rank_biserial([1.0, -2.0, -3.0, 4.0, 0.0]) == pytest.approx((5 - 5) / 10)
    assert rank_biserial([1.0, 2.0, 3.0]) == 1.0 and rank_biserial([-1.0, -5.0]) == -1.0
    assert math.isnan(rank_biserial([0.0, 0.0]))


def test_paired_degenerate_cases() -> None:
    same = paired([3.0, 4.0, 5.0], [3.0, 4.0, 5.0])
    assert same["t_p"] == 1.0 and same["wilcoxon_p"] == 1.0 and same["diff_ci"] == [0.0, 0.0]
    shift = paired([1.0, 2.0, 3.0, 4.0], [2.0, 3.0, 4.0, 5.0])
    assert shift["diff"] == 1.0 and shift["t_p"] == 0.0 and shift["rank_biserial"] == 1.0
    assert math.isnan(paired([1.0], [2.0])["t_p"])
    with pytest.raises(ValueError, match="differ in length"):
        paired([1.0, 2.0], [1.0])


def test_mean_ci_and_bootstrap_cover_a_known_mean() -> None:
    # 95% intervals of N(3, 2) samples of 10: the t interval is exact, so its coverage over
    # 1000 samples is 95% up to binomial noise (sd 0.7%); the bootstrap, asymptotic,
    # undercovers at 10 (about 85%) and nears 95% at 30.
    rng = np.random.default_rng(7)
    hits_t = hits_b = 0
    reps = 1000
    for i in range(reps):
        x = rng.normal(3.0, 2.0, 10)
        m, half = mean_ci(x)
        hits_t += m - half <= 3.0 <= m + half
        if i < 200:
            lo, hi = bootstrap_ci(rng.normal(3.0, 2.0, 30), n_resamples=999, seed=i)
            hits_b += lo <= 3.0 <= hi
    assert 0.93 <= hits_t / reps <= 0.97
    assert 0.88 <= hits_b / 200 <= 0.99
    x = rng.normal(0.0, 1.0, 12)
    m, half = mean_ci(x)
    assert half == pytest.approx(sps.t.ppf(0.975, 11) * x.std(ddof=1) / math.sqrt(12))
    assert bootstrap_ci([4.0, 4.0, 4.0]) == (4.0, 4.0)


def test_n_two_means_against_the_normal_approximation_and_a_simulation() -> None:
    from speclang.stats import n_two_means

    st = sps

    assert n_two_means(0.0) == math.inf
    n = n_two_means(1.0)  # the textbook value: about 17 per group at d = 1
    z = st.norm.ppf(0.975) + st.norm.ppf(0.8)
    assert 2 * z**2 < n < 2 * z**2 + 2  # the t-test needs a little more than the z-test
    assert n_two_means(-1.0) == n and n_two_means(0.5) > n
    # simulated power at ceil(n) seeds per group is about 0.8
    rng = np.random.default_rng(0)
    k = math.ceil(n)
    hits = sum(st.ttest_ind(rng.normal(1.0, 1.0, k), rng.normal(0.0, 1.0, k)).pvalue < 0.05
               for _ in range(2000))
    assert 0.77 < hits / 2000 < 0.86


def test_detectable_effect_inverts_n_two_means() -> None:
    from speclang.stats import detectable_effect, n_two_means

    for n in (5, 10, 40):
        d = detectable_effect(n, alpha=0.0125)
        assert n_two_means(d, alpha=0.0125) == pytest.approx(n, rel=1e-4)


def test_sd_from_ci_recovers_the_sample_sd() -> None:
    import numpy as np

    from speclang.stats import mean_ci, sd_from_ci

    x = np.random.default_rng(3).normal(10.0, 4.0, size=7)
    _, half = mean_ci(x)
    assert sd_from_ci(half, 7) == pytest.approx(float(x.std(ddof=1)))


def test_paired_power_and_n_paired_against_statsmodels_and_a_simulation() -> None:
    from statsmodels.stats.power import TTestPower

    from speclang.stats import n_paired, paired_power

    for d, n, alpha in ((0.5, 20, 0.05), (0.3, 40, 0.0167), (1.2, 6, 0.01)):
        want = TTestPower().power(effect_size=d, nobs=n, alpha=alpha, alternative="two-sided")
        assert paired_power(d, n, alpha=alpha) == pytest.approx(want, abs=1e-6)
        assert paired_power(-d, n, alpha=alpha) == paired_power(d, n, alpha=alpha)
    assert paired_power(0.0, 20) == pytest.approx(0.05)
    assert paired_power(2.5, 20) == pytest.approx(1.0)  # where statsmodels says NaN
    assert paired_power(math.inf, 20) == 1.0 and math.isnan(paired_power(1.0, 1))
    assert n_paired(0.0) == math.inf
    n = n_paired(0.5)
    assert paired_power(0.5, math.ceil(n)) >= 0.8 > paired_power(0.5, math.floor(n))
    rng = np.random.default_rng(1)
    k = math.ceil(n)
    p = sps.ttest_1samp(rng.normal(0.5, 1.0, (4000, k)), 0.0, axis=1).pvalue
    assert 0.77 < float((p < 0.05).mean()) < 0.84
