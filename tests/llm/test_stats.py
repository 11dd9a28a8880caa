"""The LLM experiments' statistics (scipy-backed) against independent oracles."""

from __future__ import annotations

import math

import pytest

from speclang.stats import mcnemar, t_interval, wilson


@pytest.mark.parametrize(
    ("n", "t975"),
    # published two-sided 95 % Student-t quantiles; df 11, 13, 25 were missing from the old
    # hard-coded table, which silently used a smaller df's (wider) value
    [(3, 4.303), (10, 2.262), (12, 2.201), (14, 2.160), (26, 2.060), (61, 2.000)],
)
def test_t_interval_uses_the_exact_quantile(n: int, t975: float) -> None:
    xs = [float(i % 5) for i in range(n)]
    m, lo, hi = t_interval(xs)
    sd = math.sqrt(sum((x - m) ** 2 for x in xs) / (n - 1))
    assert abs((hi - m) / (sd / math.sqrt(n)) - t975) < 6e-4
    assert abs((m - lo) - (hi - m)) < 1e-12


def _exact_mcnemar(b: int, c: int) -> float:
    # enumerate every split of the discordant pairs as probable as or less than the observed
    n = b + c
    probs = [math.comb(n, i) / 2**n for i in range(n + 1)]
    return min(1.0, sum(p for p in probs if p <= probs[b] * (1 + 1e-12)))


@pytest.mark.parametrize(("b", "c"), [(6, 0), (3, 4), (10, 2), (0, 9), (17, 23), (1, 1)])
def test_mcnemar_matches_enumeration(b: int, c: int) -> None:
    before = [True] * b + [False] * c + [True, False]
    after = [False] * b + [True] * c + [True, False]
    res = mcnemar(before, after)
    assert (res["b"], res["c"]) == (b, c)
    assert abs(res["p"] - _exact_mcnemar(b, c)) < 1e-12


@pytest.mark.parametrize(
    ("k", "n", "lo", "hi"),
    # Wilson score intervals computed by hand from p, n and z = 1.95996
    [(5, 10, 0.2366, 0.7634), (0, 20, 0.0, 0.1611), (20, 20, 0.8389, 1.0), (3, 50, 0.0206, 0.1622)],
)
def test_wilson_matches_published_values(k: int, n: int, lo: float, hi: float) -> None:
    got = wilson(k, n)
    assert abs(got[0] - lo) < 1e-4 and abs(got[1] - hi) < 1e-4
    assert wilson(0, 0) == (0.0, 1.0)


def test_n_two_proportions_is_the_arcsine_closed_form() -> None:
    import math

    from scipy.stats import norm

    from speclang.stats import n_two_proportions

    for p1, p2, power in ((0.3, 0.15, 0.8), (0.5, 0.1, 0.9), (0.05, 0.2, 0.8)):
        h = 2 * math.asin(math.sqrt(p1)) - 2 * math.asin(math.sqrt(p2))
        want = 2 * ((norm.ppf(0.975) + norm.ppf(power)) / h) ** 2
        # solve_power finds the root numerically
        assert abs(n_two_proportions(p1, p2, power=power) - want) < 1e-4 * want
    assert math.isinf(n_two_proportions(0.2, 0.2))
