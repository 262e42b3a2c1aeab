"""Cross-device analysis of imported data, on a small import the test writes."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from hwgpt.importers import analysis


def _write(root, scale, device, metric, values, flags=None):
    n = len(values)
    df = pd.DataFrame({"arch_id": [f"a{i % 20}" for i in range(n)], "value": values, "metric": metric,
                       "device": device, "flags": flags if flags is not None else [""] * n})
    (root / scale / device).mkdir(parents=True, exist_ok=True)
    df.to_parquet(root / scale / device / f"{metric}.parquet")


def test_correlations_and_summary(tmp_path):
    x = np.repeat(np.arange(1.0, 21.0), 1)
    _write(tmp_path, "s", "a100", "latency", x)
    _write(tmp_path, "s", "h100", "latency", 2 * x)                 # same ranking
    _write(tmp_path, "s", "a100", "energy", 21 - x)                 # reversed
    flags = ["warmup"] * 20 + [""] * 20                             # warm-up rows are ignored
    _write(tmp_path, "s", "v100", "energy", np.r_[21 - x, x], flags)
    _write(tmp_path, "s", "any", "perplexity", 100 - x)
    out = analysis.run(tmp_path, tmp_path / "out")
    tau = json.loads((tmp_path / "out" / "correlation_s.json").read_text())
    assert tau["latency@h100"]["latency@a100"] == pytest.approx(1.0)
    assert tau["energy@a100"]["latency@a100"] == pytest.approx(-1.0)
    assert tau["energy@v100"]["latency@a100"] == pytest.approx(1.0)   # the non-warm-up half
    assert tau["perplexity"]["latency@a100"] == pytest.approx(-1.0)   # 'any' is not a device
    assert out["s"]["latency across devices"]["mean"] == pytest.approx(1.0)
    assert (tmp_path / "out" / "correlation_s.png").stat().st_size > 0


def test_nothing_imported(tmp_path):
    with pytest.raises(ValueError, match="holds: nothing"):
        analysis.run(tmp_path, tmp_path / "out")
