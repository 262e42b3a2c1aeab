"""Split-conformal CQR restores coverage of miscalibrated quantiles on synthetic data."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from hwgpt.surrogates import conformal


def _data(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    x = rng.uniform(0, 3, n)
    return x, x + (0.1 + 0.3 * x) * rng.standard_t(5, n)  # heteroskedastic, heavy-tailed


@pytest.mark.parametrize("shrink", [0.4, 1.0, 1.3])  # too narrow, right shape (normal vs t), too wide
def test_cqr_coverage_within_tolerance(shrink: float) -> None:
    levels = np.array([0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.975])
    z = stats.norm.ppf(levels)

    def model(x: np.ndarray) -> np.ndarray:
        return x[:, None] + shrink * (0.1 + 0.3 * x)[:, None] * z[None, :]

    rng = np.random.default_rng(0)
    xc, yc = _data(2000, rng)
    xt, yt = _data(20000, rng)
    corr = conformal.fit_corrections(levels, model(xc), yc)
    assert set(corr) == {"0.5", "0.8", "0.9", "0.95"}
    q = conformal.apply_corrections(levels, model(xt), corr)
    assert np.all(np.diff(q, axis=1) >= 0)
    for key, (i, j) in conformal.central_pairs(levels).items():
        cov = np.mean((yt >= q[:, i]) & (yt <= q[:, j]))
        assert abs(cov - float(key)) < 0.03, (key, cov)


def test_conformal_quantile_small_samples() -> None:
    assert conformal.conformal_quantile(np.array([3.0, 1.0, 2.0]), 0.5) == 2.0
    assert conformal.conformal_quantile(np.array([3.0, 1.0, 2.0]), 0.99) == 3.0  # capped at the largest score
    with pytest.raises(ValueError, match="at least one"):
        conformal.conformal_quantile(np.array([]), 0.9)


def test_central_pairs_keys() -> None:
    pairs = conformal.central_pairs([0.05, 0.2, 0.5, 0.8, 0.95])
    assert pairs == {"0.6": (1, 3), "0.9": (0, 4)}
