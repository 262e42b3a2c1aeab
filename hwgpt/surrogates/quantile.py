"""XGBoost quantile regression of a hardware metric's measurement distribution.

Two boosters with ``reg:quantileerror`` on per-observation rows (so the spread between repeated
measurements of one arch is learned, not averaged away): a single-output median booster, which
alone answers point queries (fast: 1/14 of the trees), and one multi-quantile booster for every
other level of the grid. Both start from a :class:`~hwgpt.surrogates.linear.LinearBase` margin and
have depth and rounds tuned on held-out training architectures (:mod:`hwgpt.surrogates.boosting`).
Calibration and sampling come from :class:`~hwgpt.surrogates.surrogate.Surrogate`.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import xgboost as xgb

from hwgpt.surrogates import boosting
from hwgpt.surrogates.boosting import BoostSettings
from hwgpt.surrogates.linear import LinearBase
from hwgpt.surrogates.surrogate import DEFAULT_LEVELS, Surrogate

log = logging.getLogger(__name__)


@dataclass
class QuantileSettings:
    """Settings of the hardware (quantile) surrogates.

    Attributes:
        levels: Quantile grid, increasing, containing 0.5 and symmetric pairs for the central levels.
        boost: Tree-booster settings.
        linear_base: Start the trees from a ridge fit on cost features.
        outer_from_median: Start the multi-quantile booster from the median (out-of-fold predictions
            while training), so its trees learn only the spread: fewer rounds, smaller files.
        folds: Folds (by architecture) of those out-of-fold median predictions.
    """

    levels: list[float] = field(default_factory=lambda: list(DEFAULT_LEVELS))
    boost: BoostSettings = field(default_factory=BoostSettings)
    linear_base: bool = True
    outer_from_median: bool = True
    folds: int = 5

    def to_dict(self) -> dict:
        return asdict(self)


class QuantileSurrogate(Surrogate):
    """Median booster + multi-quantile booster (+ linear base margin)."""

    kind = "quantile"

    def __init__(self, meta: dict[str, Any], median: xgb.Booster, outer: xgb.Booster, base: LinearBase | None):
        super().__init__(meta)
        self.median_booster, self.outer_booster, self.base = median, outer, base

    def _margin(self, X: np.ndarray) -> np.ndarray | None:
        return None if self.base is None else self.base.predict(X)

    def _median(self, X: np.ndarray) -> np.ndarray:
        return boosting.predict(self.median_booster, X, self._margin(X)).reshape(-1)

    def _raw_quantiles(self, X: np.ndarray) -> np.ndarray:
        K = len(self.levels)
        med = self._median(X)
        margin = med if self.meta.get("outer_from_median") else self._margin(X)
        outer = boosting.predict(self.outer_booster, X, margin).reshape(len(X), K - 1)
        return np.insert(outer, self.median_index, med, axis=1)

    def quantiles_and_median(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raw = self._raw_quantiles(X)  # the median booster runs once (its column is the median)
        return self._calibrated(raw), raw[:, self.median_index].copy()

    def model_files(self) -> dict[str, tuple[str, bytes]]:
        return {"median": ("ubj", boosting.to_bytes(self.median_booster)),
                "quantiles": ("ubj", boosting.to_bytes(self.outer_booster))}

    @classmethod
    def from_files(cls, meta: dict[str, Any], files: dict[str, bytes]) -> QuantileSurrogate:
        base = meta.get("linear_base")
        base = None if base is None else LinearBase.from_dict(base, list(meta["features"]["names"]))
        return cls(meta, boosting.from_bytes(files["median"]), boosting.from_bytes(files["quantiles"]), base)

    # ------------------------------------------------------------------ fitting
    @classmethod
    def fit(
        cls, meta: dict[str, Any], X: np.ndarray, y: np.ndarray, w: np.ndarray, groups: np.ndarray,
        settings: QuantileSettings, seed: int = 0,
    ) -> QuantileSurrogate:
        """Fit both boosters on training rows (targets in fit space); calibrate separately.

        Args:
            meta: Metadata (see :class:`Surrogate`); ``levels``, ``linear_base`` and ``model`` are set here.
            X, y, w: Features, fit-space targets and weights of the training observations.
            groups: Architecture id of each row (tuning splits by architecture).
            settings: Quantile settings.
            seed: Seed of the tuning split and of XGBoost.
        """
        levels = [float(t) for t in settings.levels]
        names = list(meta["features"]["names"])
        base = LinearBase.fit(X, y, w, names) if settings.linear_base else None
        margin = None if base is None else base.predict(X)
        outer_levels = [t for t in levels if t != 0.5]
        med, med_info = boosting.train_tuned(
            {"objective": "reg:quantileerror", "quantile_alpha": 0.5}, X, y, w, groups, margin, settings.boost, seed)
        if settings.outer_from_median:
            outer_margin = boosting.out_of_fold(
                {"objective": "reg:quantileerror", "quantile_alpha": 0.5}, X, y, w, groups, margin, settings.boost,
                med_info["max_depth"], med_info["rounds"], settings.folds, seed)
        else:
            outer_margin = margin
        wide = None if outer_margin is None else np.repeat(outer_margin[:, None], len(outer_levels), axis=1)
        outer, outer_info = boosting.train_tuned(
            {"objective": "reg:quantileerror", "quantile_alpha": outer_levels, "multi_strategy": "one_output_per_tree"},
            X, y, w, groups, wide, settings.boost, seed)
        meta.update({
            "levels": levels,
            "linear_base": None if base is None else base.to_dict(),
            "outer_from_median": bool(settings.outer_from_median),
            "model": "xgboost-quantile",
            "tuning": {"median": med_info, "quantiles": outer_info},
        })
        log.info("%s: median booster depth %d x %d rounds, quantile booster depth %d x %d rounds",
                 meta.get("metric"), med_info["max_depth"], med_info["rounds"],
                 outer_info["max_depth"], outer_info["rounds"])
        return cls(meta, med, outer, base)
