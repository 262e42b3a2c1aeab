"""The metric names: one definition that the benchmark, the surrogates and the fit read.

A leaf module. ``hwgpt.benchmark.METRICS`` and ``hwgpt.surrogates.surrogate.EXACT_METRICS`` /
``POINT_METRICS`` are these tuples, re-exported where they were first defined.
"""

from __future__ import annotations

METRICS = ("perplexity", "accuracy", "latency", "energy", "memory", "flops", "params")
"""Every metric :class:`hwgpt.Benchmark` answers."""
EXACT_METRICS = ("flops", "params")
"""Answered from :mod:`hwgpt.cost`, never surrogate-modelled."""
POINT_METRICS = ("perplexity", "accuracy")
"""Deterministic per architecture (PointSurrogate); every other metric gets a QuantileSurrogate."""
