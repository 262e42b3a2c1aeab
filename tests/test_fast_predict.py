"""The compiled trees (hwgpt.fast_predict) reproduce XGBoost's raw predictions bit for bit, at every depth."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xgboost as xgb

from hwgpt.fast_predict import CompiledTrees


@pytest.mark.parametrize("depth", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("n_out", [1, 3])
def test_compiled_trees_equal_xgboost(depth: int, n_out: int) -> None:
    rng = np.random.default_rng(depth * 10 + n_out)
    X = rng.normal(size=(300, 6)).astype(np.float32)
    y = np.stack([X[:, 0] * (k + 1) + np.sin(3 * X[:, 1]) + 0.1 * rng.normal(size=300) for k in range(n_out)], axis=1)
    params = {"max_depth": depth, "eta": 0.3, "base_score": 0.25, "nthread": 1}
    if n_out > 1:
        params["multi_strategy"] = "one_output_per_tree"
    booster = xgb.train(params, xgb.DMatrix(X, label=y if n_out > 1 else y[:, 0]), num_boost_round=25)
    trees = CompiledTrees(booster)
    Xq = rng.normal(size=(70, 6)).astype(np.float32)
    thresholds = [c for t in json.loads(bytes(booster.save_raw("json")))["learner"]["gradient_booster"]["model"][
        "trees"] for c, left in zip(t["split_conditions"], t["left_children"], strict=True) if left >= 0]
    Xq[50:] = rng.choice(np.array(thresholds, dtype=np.float32), size=(20, 6))  # on the split points (x >= t: right)
    Xq[5, 2] = Xq[40, 0] = np.nan  # missing values follow XGBoost's default direction
    ref = booster.inplace_predict(Xq).astype(np.float64).reshape(len(Xq), -1)
    got = trees.predict(Xq).reshape(len(Xq), -1)
    np.testing.assert_array_equal(got, ref)
    clean = np.delete(Xq, [5, 40], axis=0)  # no NaN: the in-place walk, a batch and one row at a time
    ref_clean = np.delete(ref, [5, 40], axis=0)
    np.testing.assert_array_equal(trees.predict(clean).reshape(len(clean), -1), ref_clean)
    np.testing.assert_array_equal(np.concatenate([trees.predict(clean[i:i + 1]).reshape(1, -1) for i in range(8)]),
                                  ref_clean[:8])
    for n in (2, 3, 4, 5, 40):  # batches either side of MUX_ROWS (level by level, or every comparison)
        np.testing.assert_array_equal(trees.predict(clean[-n:]).reshape(n, -1), ref_clean[-n:])
