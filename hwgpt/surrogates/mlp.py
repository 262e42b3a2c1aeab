"""A small MLP regressor: trained with scikit-learn, stored as JSON weights, evaluated in numpy.

No pickle: the artifact is the standardisation statistics plus each layer's weights and biases,
and prediction is a few matrix products (no scikit-learn needed at query time).
"""

from __future__ import annotations

import json
import warnings
from dataclasses import asdict, dataclass, field

import numpy as np

ACTIVATIONS = {
    "relu": lambda x: np.maximum(x, 0.0),
    "tanh": np.tanh,
    "logistic": lambda x: 1.0 / (1.0 + np.exp(-x)),
    "identity": lambda x: x,
}


@dataclass
class MLPSettings:
    """scikit-learn ``MLPRegressor`` settings.

    Attributes:
        hidden: Hidden layer widths.
        activation: ``relu``, ``tanh``, ``logistic`` or ``identity``.
        alpha: L2 penalty.
        learning_rate_init: Adam step size.
        max_iter: Maximum epochs (early stopping on 10% of the rows usually ends sooner).
    """

    hidden: list[int] = field(default_factory=lambda: [64, 64])
    activation: str = "relu"
    alpha: float = 1e-3
    learning_rate_init: float = 1e-3
    max_iter: int = 2000

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class NumpyMLP:
    """Standardise, then dense layers with ``activation``, then un-standardise the output."""

    x_mean: np.ndarray
    x_scale: np.ndarray
    y_mean: float
    y_scale: float
    weights: list[np.ndarray]
    biases: list[np.ndarray]
    activation: str

    @classmethod
    def fit(cls, X: np.ndarray, y: np.ndarray, settings: MLPSettings, seed: int = 0) -> NumpyMLP:
        """Train ``sklearn.neural_network.MLPRegressor`` on standardised inputs and target."""
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPRegressor

        if settings.activation not in ACTIVATIONS:
            raise ValueError(f"unknown MLP activation {settings.activation!r}; allowed: {sorted(ACTIVATIONS)}")
        x_mean, x_scale = X.mean(axis=0), X.std(axis=0)
        x_scale[x_scale == 0] = 1.0
        y_mean, y_scale = float(y.mean()), float(y.std() or 1.0)
        reg = MLPRegressor(
            hidden_layer_sizes=tuple(settings.hidden), activation=settings.activation, alpha=settings.alpha,
            learning_rate_init=settings.learning_rate_init, max_iter=settings.max_iter,
            early_stopping=len(y) >= 50, random_state=seed,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            reg.fit((X - x_mean) / x_scale, (y - y_mean) / y_scale)
        return cls(x_mean, x_scale, y_mean, y_scale, [np.asarray(w) for w in reg.coefs_],
                   [np.asarray(b) for b in reg.intercepts_], settings.activation)

    def predict(self, X: np.ndarray) -> np.ndarray:
        h = (X - self.x_mean) / self.x_scale
        act = ACTIVATIONS[self.activation]
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = h @ w + b
            if i < len(self.weights) - 1:
                h = act(h)
        return h[:, 0] * self.y_scale + self.y_mean

    def to_bytes(self) -> bytes:
        d = {
            "format": "hwgpt-mlp", "version": 1, "activation": self.activation,
            "x_mean": self.x_mean.tolist(), "x_scale": self.x_scale.tolist(),
            "y_mean": self.y_mean, "y_scale": self.y_scale,
            "weights": [w.tolist() for w in self.weights], "biases": [b.tolist() for b in self.biases],
        }
        return json.dumps(d).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> NumpyMLP:
        """Inverse of :meth:`to_bytes`; ValueError on anything that is not such a file."""
        d = json.loads(data)
        if not isinstance(d, dict) or d.get("format") != "hwgpt-mlp" or d.get("version") != 1:
            raise ValueError("not an hwgpt-mlp version 1 JSON file")
        if d["activation"] not in ACTIVATIONS:
            raise ValueError(f"unknown activation {d['activation']!r}")
        weights = [np.asarray(w, dtype=np.float64) for w in d["weights"]]
        biases = [np.asarray(b, dtype=np.float64) for b in d["biases"]]
        x_mean = np.asarray(d["x_mean"], dtype=np.float64)
        dims_ok = bool(weights) and weights[0].shape[0] == len(x_mean) and weights[-1].shape[1] == 1 and all(
            w.shape[1] == b.shape[0] for w, b in zip(weights, biases, strict=True)) and all(
            a.shape[1] == b.shape[0] for a, b in zip(weights[:-1], weights[1:], strict=True))
        if not dims_ok:
            raise ValueError("layer shapes of the MLP do not fit together")
        return cls(x_mean, np.asarray(d["x_scale"], dtype=np.float64), float(d["y_mean"]), float(d["y_scale"]),
                   weights, biases, d["activation"])
