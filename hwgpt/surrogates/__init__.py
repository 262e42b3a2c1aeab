"""Surrogates of measured metrics: XGBoost quantile regression with split-conformal calibration.

From measurement-store rows (:mod:`hwgpt.profiling.store`) to small, versioned artifacts that
:class:`hwgpt.Benchmark` loads: ``fit`` (fit + calibrate + validate + save, also the command
``python -m hwgpt.surrogates.fit``), ``artifacts`` (files and metadata), ``analysis`` (the paper's
correlation and ECDF figures). Modules: ``features`` (arch -> features), ``boosting``/``linear``
(models), ``quantile``/``predictor`` (the two kinds of :class:`~hwgpt.surrogates.surrogate.Surrogate`),
``conformal``/``distribution`` (calibration, sampling), ``validation``, ``data``, ``synthetic``; artifacts on
disk: ``layout`` (where), ``manifest`` (integrity), ``userdirs`` (the user's own). A new device:
``transfer`` (on ``transfer_core``), ``new_device`` (``profile.py ... fit=true``), ``from_file``
(``measurements_file``), validated by ``transfer_validation`` and ``transfer_fresh``.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ArtifactError": "artifacts", "available": "artifacts", "load": "artifacts", "save": "artifacts",
    "FitResult": "fit", "FitSettings": "fit", "fit_all": "fit", "fit_metric": "fit",
    "PointSettings": "predictor", "PointSurrogate": "predictor",
    "QuantileSettings": "quantile", "QuantileSurrogate": "quantile", "Surrogate": "surrogate",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    # Lazy, so that `python -m hwgpt.surrogates.fit` does not import its own module twice.
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"hwgpt.surrogates.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'hwgpt.surrogates' has no attribute {name!r}")
