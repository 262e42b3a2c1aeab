"""A small ridge-regression base model; boosted trees then fit what it leaves over.

Trees predict piecewise-constant functions, so with a few hundred architectures they resolve
the strong, smooth trend of a hardware metric in its cost (log latency is nearly linear in log
FLOPs and depth) only coarsely. The trees therefore start from this linear model's prediction
(XGBoost's ``base_margin``) and learn the residual structure and the spread.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_COLUMNS = ("log10_flops", "log10_params", "log10_memory", "n_layer", "bias")


@dataclass
class LinearBase:
    """``y ~ intercept + coef . x[columns]``, ridge-regularised on standardised columns.

    Attributes:
        columns: Feature names used.
        index: Their positions in the feature matrix.
        coef: Coefficients in the original feature units.
        intercept: Intercept.
    """

    columns: list[str]
    index: list[int]
    coef: list[float]
    intercept: float

    @classmethod
    def fit(cls, X: np.ndarray, y: np.ndarray, w: np.ndarray, feature_names: list[str],
            columns: tuple[str, ...] = DEFAULT_COLUMNS, ridge: float = 1e-3) -> LinearBase:
        """Weighted ridge fit of ``y`` on the named columns of ``X``."""
        cols = [c for c in columns if c in feature_names]
        idx = [feature_names.index(c) for c in cols]
        Z = X[:, idx]
        mu, sd = Z.mean(axis=0), Z.std(axis=0)
        sd[sd == 0] = 1.0
        Zs = (Z - mu) / sd
        sw = np.sqrt(w / w.mean())
        A = np.column_stack([np.ones(len(Zs)), Zs]) * sw[:, None]
        reg = ridge * len(Zs) * np.diag([0.0] + [1.0] * len(idx))
        beta = np.linalg.solve(A.T @ A + reg, A.T @ (y * sw))
        coef = beta[1:] / sd
        return cls(cols, idx, coef.tolist(), float(beta[0] - (coef * mu).sum()))

    def predict(self, X: np.ndarray) -> np.ndarray:
        # Column by column, not a BLAS product: a row's value must not depend on the batch around it
        # (gemv and gemm sum in different orders), so that a cached prediction is the same however computed.
        out = np.full(len(X), float(self.intercept))
        for j, c in zip(self.index, self.coef, strict=True):
            out = out + X[:, j] * float(c)
        return out

    def to_dict(self) -> dict:
        return {"columns": self.columns, "coef": self.coef, "intercept": self.intercept}

    @classmethod
    def from_dict(cls, d: dict, feature_names: list[str]) -> LinearBase:
        missing = [c for c in d["columns"] if c not in feature_names]
        if missing:
            raise ValueError(f"linear base uses features {missing} that the current feature set lacks")
        return cls(list(d["columns"]), [feature_names.index(c) for c in d["columns"]],
                   [float(c) for c in d["coef"]], float(d["intercept"]))
