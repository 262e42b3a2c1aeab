"""Inverse-CDF sampling over quantiles, rearrangement, pinball loss."""

from __future__ import annotations

import numpy as np
from scipy import stats

from hwgpt.surrogates import distribution
from hwgpt.surrogates.surrogate import DEFAULT_LEVELS


def test_inverse_cdf_sampling_reproduces_a_known_distribution() -> None:
    levels = np.array(DEFAULT_LEVELS)
    dist = stats.lognorm(s=0.4, scale=0.02)  # long right tail, in original units
    q = np.log(dist.ppf(levels))[None, :].repeat(20000, axis=0)  # fit space = log
    draws = np.exp(distribution.sample(levels, q, np.random.default_rng(0)))
    assert stats.kstest(draws, dist.cdf).statistic < 0.02
    assert draws.max() < 50 * dist.median()  # extrapolated tails stay finite


def test_inverse_cdf_is_monotone_and_interpolates_knots() -> None:
    levels = np.array(DEFAULT_LEVELS)
    q = np.sort(np.random.default_rng(1).normal(size=(1, len(levels))), axis=1)
    u = np.linspace(0, 1, 1001)
    v = distribution.inverse_cdf(levels, q.repeat(len(u), 0), u)
    assert np.all(np.diff(v) >= 0) and np.all(np.isfinite(v))
    np.testing.assert_allclose(distribution.inverse_cdf(levels, q.repeat(len(levels), 0), levels), q[0])


def test_rearrange_removes_crossing() -> None:
    q = np.array([[3.0, 1.0, 2.0], [0.0, 0.5, 0.4]])
    assert np.all(np.diff(distribution.rearrange(q), axis=1) >= 0)


def test_pinball_is_minimised_by_the_true_quantile() -> None:
    y = np.random.default_rng(2).normal(size=20000)
    levels = np.array([0.1, 0.5, 0.9])
    true = stats.norm.ppf(levels)
    best = distribution.pinball(levels, np.tile(true, (len(y), 1)), y)
    worse = distribution.pinball(levels, np.tile(true + 0.3, (len(y), 1)), y)
    assert np.all(best < worse)


def test_inverse_cdf_of_several_probabilities_per_row_is_column_by_column() -> None:
    """``u`` of shape ``(n, m)`` (a median of repeats reads two order statistics) gives, bit for bit, one
    ``(n,)`` call per column, tails included."""
    rng = np.random.default_rng(4)
    levels = np.array([0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99])
    q = np.sort(rng.normal(size=(400, 7)), axis=1)
    u = np.concatenate([rng.random((200, 2)), rng.random((100, 2)) ** 12, 1 - rng.random((100, 2)) ** 12])
    both = distribution.inverse_cdf(levels, q, u)
    assert both.shape == (400, 2)
    for k in range(2):
        np.testing.assert_array_equal(both[:, k], distribution.inverse_cdf(levels, q, u[:, k]))
