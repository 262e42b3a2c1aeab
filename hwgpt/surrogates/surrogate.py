"""The surrogate interface: a calibrated predictive distribution of one metric given features.

Implementations (one per file) provide three hooks: the median, the raw (uncalibrated) quantiles
and their model files. This base class adds everything else on top of the conformal corrections
stored in the metadata: calibrated monotone quantiles, central intervals, inverse-CDF sampling and
the transform between the metric's units and the fit space (log for positive metrics).

Implementations: :class:`hwgpt.surrogates.quantile.QuantileSurrogate` (hardware metrics, learns the
measurement noise) and :class:`hwgpt.surrogates.predictor.PointSurrogate` (perplexity, accuracy:
deterministic per arch, intervals describe the surrogate's own error).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np

from hwgpt import libm
from hwgpt.metrics import EXACT_METRICS, POINT_METRICS  # noqa: F401 - defined in hwgpt.metrics, importable here
from hwgpt.surrogates import conformal, distribution
from hwgpt.surrogates.features import FeatureSpec

TRANSFORMS = ("log", "identity")
DEFAULT_LEVELS = (0.025, 0.05, 0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.9, 0.95, 0.975)
"""Quantile grid; its symmetric pairs give the central levels 0.2, 0.4, 0.5, 0.6, 0.8, 0.9, 0.95."""
NOMINAL_LEVELS = (0.5, 0.8, 0.9, 0.95)
"""Central levels the issue asks validation for (every calibrated level is reported)."""


def default_transform(metric: str) -> str:
    """``identity`` for accuracy (a bounded share), ``log`` for every positive metric."""
    return "identity" if metric == "accuracy" else "log"


def to_fit_space(values: np.ndarray, transform: str, metric: str = "metric") -> np.ndarray:
    """Metric units -> fit space (``log`` needs positive values)."""
    v = np.asarray(values, dtype=np.float64)
    if transform == "log":
        if np.any(v <= 0):
            raise ValueError(f"{metric!r} is modelled in log space and needs positive values, got min {v.min()!r}")
        return libm.log(v)
    return v


def from_fit_space(values: np.ndarray, transform: str) -> np.ndarray:
    """Fit space -> metric units."""
    return libm.exp(values) if transform == "log" else np.asarray(values, dtype=np.float64)


class Surrogate(ABC):
    """Predictive distribution of one metric of one (scale, device).

    Args:
        meta: Metadata; needs ``metric``, ``transform``, ``levels`` (sorted, with 0.5),
            ``features`` (``names`` and ``spec``), ``observation_noise``; ``conformal`` is filled by
            :meth:`calibrate` (or read from a saved artifact).
    """

    kind: ClassVar[str]

    def __init__(self, meta: dict[str, Any]) -> None:
        self.meta = meta
        self.levels = np.asarray(meta["levels"], dtype=np.float64)
        if self.transform not in TRANSFORMS:
            raise ValueError(f"unknown transform {self.transform!r}; allowed: {list(TRANSFORMS)}")
        if not np.all(np.diff(self.levels) > 0) or 0.5 not in self.levels:
            raise ValueError(f"quantile levels must be increasing and contain 0.5, got {self.levels.tolist()}")
        self.median_index = int(np.flatnonzero(self.levels == 0.5)[0])
        self.spec = FeatureSpec(**meta["features"]["spec"])
        self.feature_names: list[str] = list(meta["features"]["names"])

    # ------------------------------------------------------------------ hooks
    @abstractmethod
    def _median(self, X: np.ndarray) -> np.ndarray:
        """Median in fit space, ``(n,)``."""

    @abstractmethod
    def _raw_quantiles(self, X: np.ndarray) -> np.ndarray:
        """Uncalibrated quantiles at ``self.levels`` in fit space, ``(n, K)``; may cross."""

    @abstractmethod
    def model_files(self) -> dict[str, tuple[str, bytes]]:
        """Model files to save: role -> (extension, bytes)."""

    @classmethod
    @abstractmethod
    def from_files(cls, meta: dict[str, Any], files: dict[str, bytes]) -> Surrogate:
        """Rebuild from metadata and the bytes of each role's model file."""

    # --------------------------------------------------------------- helpers
    @property
    def metric(self) -> str:
        return self.meta["metric"]

    @property
    def transform(self) -> str:
        return self.meta["transform"]

    @property
    def observation_noise(self) -> bool:
        """True when :meth:`sample` draws measurement noise; False: observations are the median."""
        return bool(self.meta["observation_noise"])

    @property
    def corrections(self) -> dict[str, float]:
        return self.meta.get("conformal", {}).get("corrections", {})

    @property
    def coverage_levels(self) -> list[float]:
        """Central levels with a conformal correction: the allowed ``coverage`` values of :meth:`interval`."""
        return sorted(float(k) for k in self.corrections)

    def to_fit_space(self, values: np.ndarray) -> np.ndarray:
        return to_fit_space(values, self.transform, self.metric)

    def from_fit_space(self, values: np.ndarray) -> np.ndarray:
        return from_fit_space(values, self.transform)

    # ------------------------------------------------------------ calibration
    def calibrate(self, X: np.ndarray, y_fit: np.ndarray) -> dict[str, float]:
        """Fit the CQR corrections on calibration rows (targets in fit space) and store them in ``meta``."""
        corr = conformal.fit_corrections(self.levels, self._raw_quantiles(X), y_fit)
        self.meta["conformal"] = {
            "method": "split-conformal CQR (Romano et al. 2019), one correction per symmetric quantile pair",
            "corrections": corr,
            "n_rows": len(y_fit),
        }
        return corr

    # ------------------------------------------------------------- prediction
    def quantiles(self, X: np.ndarray) -> np.ndarray:
        """Calibrated, non-crossing quantiles in fit space, ``(n, K)``."""
        return self._calibrated(self._raw_quantiles(X))

    def _calibrated(self, raw: np.ndarray) -> np.ndarray:
        """Raw quantiles -> calibrated, non-crossing ones (the conformal corrections)."""
        return conformal.apply_corrections(self.levels, raw, self.corrections)

    def quantiles_and_median(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(quantiles(X), _median(X))`` in fit space; implementations whose raw quantiles hold the
        median at :attr:`median_index` override it to predict once."""
        return self.quantiles(X), self._median(X)

    def median(self, X: np.ndarray) -> np.ndarray:
        """Point prediction (the median) in the metric's units."""
        return self.from_fit_space(self._median(X))

    def interval(self, X: np.ndarray, coverage: float) -> tuple[np.ndarray, np.ndarray]:
        """Calibrated central interval ``(low, high)`` in the metric's units.

        Raises:
            ValueError: ``coverage`` is not one of :attr:`coverage_levels`.
        """
        key = conformal.level_key(coverage)
        pairs = conformal.central_pairs(self.levels)
        if key not in self.corrections or key not in pairs:
            raise ValueError(
                f"coverage {coverage!r} is not calibrated for {self.metric!r}; allowed: {self.coverage_levels} "
                "(intervals at other levels would not carry the conformal guarantee)"
            )
        i, j = pairs[key]
        q = self.quantiles(X)
        return self.from_fit_space(q[:, i]), self.from_fit_space(q[:, j])

    def sample(self, X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One simulated observation per row, by inverse CDF over the calibrated quantiles."""
        if not self.observation_noise:
            return self.median(X)
        return self.from_fit_space(distribution.sample(self.levels, self.quantiles(X), rng))
