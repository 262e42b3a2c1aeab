"""Leave-one-device-out validation on synthetic devices, and its CLI outputs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from hwgpt.surrogates import transfer_validation as tv


def test_lodo_transfer_beats_scratch_and_covers(multi_device: pd.DataFrame) -> None:
    rows = tv.lodo(multi_device, ["tiny"], ["latency"], [5, 20, "all"], reps=1, n_test=80,
                   devices=["dev_new", "dev_b"])
    assert set(rows["method"]) == {"scale_shift", "embedding", "scratch", "auto"}
    s = tv.summarise(rows)
    at = lambda m, k: s[(s["method"] == m) & (s["k"] == k)]  # noqa: E731
    assert (at("auto", "20")["kendall_tau"] > 0.85).all()
    assert at("auto", "5")["median_relative_error"].mean() < at("scratch", "5")["median_relative_error"].mean()
    assert ((at("auto", "20")["coverage_0.9"] > 0.75) & (at("auto", "20")["coverage_0.9"] <= 1.0)).all()
    assert at("auto", "all")["n_archs"].iloc[0] > 20
    md = tv.table(s, "20")
    assert md.count("\n") == 3 and "dev_new" in md
    assert tv.curve_table(s).count("| tiny |") == 3  # k = 5, 20, all


def test_lodo_cli_writes_summary_table_and_figure(multi_device: pd.DataFrame, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    multi_device[multi_device["device"].isin(["dev_a", "dev_b", "dev_new"])].to_parquet(data / "obs.parquet")
    out = tmp_path / "out"
    tv.main(["lodo", "--data", str(data), "--scales", "tiny", "--ks", "5,10", "--reps", "1", "--n-test", "50",
             "--devices", "dev_new", "--out", str(out), "--figure", str(tmp_path / "fig.png")])
    summary = pd.read_csv(out / "lodo_summary.csv")
    assert set(summary["device"]) == {"dev_new"} and set(summary["k"].astype(str)) == {"5", "10"}
    assert (tmp_path / "fig.png").stat().st_size > 10_000
    assert (out / "lodo_table_latency_k20.md").is_file() and (out / "lodo_curve_latency.md").is_file()
