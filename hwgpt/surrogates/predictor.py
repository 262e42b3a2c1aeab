"""Perplexity and accuracy predictors: XGBoost or a small MLP, chosen by held-out Kendall tau.

Both metrics are deterministic per architecture (one evaluation of the inherited weights), so
the surrogate is a point model. Candidates are fitted on part of the training architectures and
ranked by Kendall tau on the rest (search needs the ranking right more than the values); the
winner is refit on all training architectures and the choice, with both taus, goes into the
metadata. Intervals come from the same conformal machinery with a degenerate quantile function
(every quantile = the point), for which CQR reduces to split conformal on absolute residuals:
they describe the surrogate's error. :meth:`sample` returns the point (no measurement noise).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import xgboost as xgb
from scipy.stats import kendalltau

from hwgpt.surrogates import boosting
from hwgpt.surrogates.boosting import BoostSettings
from hwgpt.surrogates.data import group_median
from hwgpt.surrogates.linear import LinearBase
from hwgpt.surrogates.mlp import MLPSettings, NumpyMLP
from hwgpt.surrogates.surrogate import DEFAULT_LEVELS, Surrogate

log = logging.getLogger(__name__)
CANDIDATES = ("xgboost", "mlp")


@dataclass
class PointSettings:
    """Settings of the perplexity/accuracy predictors.

    Attributes:
        candidates: Models to compare (``xgboost``, ``mlp``).
        levels: Quantile grid for the conformal intervals (as for hardware metrics).
        boost: XGBoost settings (squared error).
        mlp: MLP settings.
        linear_base: Start XGBoost from a ridge fit on cost features.
        selection_fraction: Share of the training architectures held out to compare candidates.
    """

    candidates: list[str] = field(default_factory=lambda: list(CANDIDATES))
    levels: list[float] = field(default_factory=lambda: list(DEFAULT_LEVELS))
    boost: BoostSettings = field(default_factory=BoostSettings)
    mlp: MLPSettings = field(default_factory=MLPSettings)
    linear_base: bool = True
    selection_fraction: float = 0.25

    def __post_init__(self) -> None:
        bad = [c for c in self.candidates if c not in CANDIDATES]
        if bad or not self.candidates:
            raise ValueError(f"predictor candidates must be a non-empty subset of {list(CANDIDATES)}, "
                             f"got {list(self.candidates)}")

    def to_dict(self) -> dict:
        return asdict(self)


class PointSurrogate(Surrogate):
    """A point model (XGBoost + linear base, or NumpyMLP) with conformal error intervals."""

    kind = "point"

    def __init__(self, meta: dict[str, Any], model: xgb.Booster | NumpyMLP, base: LinearBase | None = None):
        super().__init__(meta)
        self.model, self.base = model, base

    def _median(self, X: np.ndarray) -> np.ndarray:
        if isinstance(self.model, NumpyMLP):
            return self.model.predict(X)
        margin = None if self.base is None else self.base.predict(X)
        return boosting.predict(self.model, X, margin).reshape(-1)

    def _raw_quantiles(self, X: np.ndarray) -> np.ndarray:
        return np.repeat(self._median(X)[:, None], len(self.levels), axis=1)

    def quantiles_and_median(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        med = self._median(X)
        raw = np.repeat(med[:, None], len(self.levels), axis=1)
        return self._calibrated(raw), med

    def model_files(self) -> dict[str, tuple[str, bytes]]:
        if isinstance(self.model, NumpyMLP):
            return {"point": ("json", self.model.to_bytes())}
        return {"point": ("ubj", boosting.to_bytes(self.model))}

    @classmethod
    def from_files(cls, meta: dict[str, Any], files: dict[str, bytes]) -> PointSurrogate:
        if meta["model"] == "mlp":
            return cls(meta, NumpyMLP.from_bytes(files["point"]))
        base = meta.get("linear_base")
        base = None if base is None else LinearBase.from_dict(base, list(meta["features"]["names"]))
        return cls(meta, boosting.from_bytes(files["point"]), base)

    # ------------------------------------------------------------------ fitting
    @staticmethod
    def _fit_candidate(name: str, X, y, w, groups, names, settings: PointSettings, seed: int):
        if name == "mlp":
            return NumpyMLP.fit(X, y, settings.mlp, seed), None
        base = LinearBase.fit(X, y, w, names) if settings.linear_base else None
        margin = None if base is None else base.predict(X)
        booster, _ = boosting.train_tuned({"objective": "reg:squarederror"}, X, y, w, groups, margin,
                                          settings.boost, seed)
        return booster, base

    @classmethod
    def fit(
        cls, meta: dict[str, Any], X: np.ndarray, y: np.ndarray, w: np.ndarray, groups: np.ndarray,
        settings: PointSettings, seed: int = 0,
    ) -> PointSurrogate:
        """Compare candidates on held-out training architectures, refit the best on all of them."""
        names = list(meta["features"]["names"])
        meta["levels"] = [float(t) for t in settings.levels]
        keep, held = boosting.group_split(groups, settings.selection_fraction, seed + 1)
        taus: dict[str, float] = {}
        if len(settings.candidates) > 1 and held.any():
            _, y_held = group_median(y[held], groups[held])
            for name in settings.candidates:
                model, base = cls._fit_candidate(name, X[keep], y[keep], w[keep], groups[keep], names, settings, seed)
                pred = cls({**meta}, model, base)._median(X[held])
                _, p_held = group_median(pred, groups[held])
                tau = kendalltau(p_held, y_held).statistic
                taus[name] = float(tau) if np.isfinite(tau) else -1.0
            chosen = max(settings.candidates, key=lambda c: (taus[c], c == "xgboost"))
            reason = (f"highest Kendall tau on {len(np.unique(groups[held]))} held-out training architectures "
                      f"({', '.join(f'{k} {v:.4f}' for k, v in taus.items())}); ties go to xgboost (faster)")
        else:
            chosen, reason = settings.candidates[0], "only candidate (or too few architectures to compare)"
        model, base = cls._fit_candidate(chosen, X, y, w, groups, names, settings, seed)
        meta.update({
            "model": chosen,
            "linear_base": None if base is None else base.to_dict(),
            "selection": {"candidates": list(settings.candidates), "kendall_tau": taus, "chosen": chosen,
                          "reason": reason},
        })
        log.info("%s: chose %s (%s)", meta.get("metric"), chosen, reason)
        return cls(meta, model, base)
