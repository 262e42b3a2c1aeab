"""A new device's surrogate from a measurements file (``hwgpt.surrogates.from_file``): format, bad input, fit, query."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import kendalltau

import hwgpt
from hwgpt.errors import InvalidInput
from hwgpt.surrogates.from_file import fit_from_file, main, parse_args
from hwgpt.surrogates.measurements_file import MeasurementsFileError, read

TINY = hwgpt.SearchSpace.from_name("tiny")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HWGPT_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def rows_of(archs: list, repeats: int = 3, unit: str = "ms", scale: float = 1.0, seed: int = 0) -> pd.DataFrame:
    """Latency rows of a made-up device (a FLOPs law with noise), one row per observation."""
    rng = np.random.default_rng(seed)
    out = []
    for a in archs:
        mu = 1.5e-3 + hwgpt.cost.flops(a, TINY, batch=1, seq_len=TINY.block_size) / 2e10 + 2e-4 * a.n_layer
        for _ in range(repeats):
            v = mu * scale * np.exp(rng.normal(0, 0.03))
            out.append({"arch": json.dumps(a.to_dict()), "metric": "latency",
                        "value": v * (1e3 if unit == "ms" else 1.0), "unit": unit, "batch": 1,
                        "seq_len": TINY.block_size, "dtype": "float32", "device_name": "Example CPU 9000"})
    return pd.DataFrame(out)


@pytest.fixture(scope="module")
def archs() -> list:
    return TINY.sample_unique(24, seed=5)


def write(df: pd.DataFrame, path: Path) -> Path:
    if path.suffix == ".parquet":
        df.to_parquet(path, index=False)
    else:
        df.to_csv(path, index=False)
    return path


# ------------------------------------------------------------------------------ the format
def test_csv_and_parquet_read_alike_and_units_convert(tmp_path: Path, archs: list) -> None:
    df = rows_of(archs[:6])
    a = read(write(df, tmp_path / "m.csv"))
    b = read(write(df, tmp_path / "m.parquet"))
    assert a.scale == b.scale == "tiny" and a.n_archs == {"latency": 6} and a.units == {"latency": "ms"}
    assert (a.frame["unit"] == "s").all()
    np.testing.assert_allclose(a.frame["value"], df["value"] * 1e-3, rtol=1e-12)
    np.testing.assert_allclose(a.frame["value"], b.frame["value"], rtol=1e-12)
    assert list(a.frame["arch_id"]) == [hwgpt.Arch.from_dict(json.loads(s)).id for s in df["arch"]]
    assert a.frame["repeat"].tolist() == [0, 1, 2] * 6  # repeats numbered per arch when no column gives them
    struct = df.assign(arch=[json.loads(x) for x in df["arch"]])  # Parquet: the arch as a struct column
    assert read(write(struct, tmp_path / "s.parquet")).frame["arch_id"].tolist() == a.frame["arch_id"].tolist()


def test_flattened_arch_columns_equal_the_json_column(tmp_path: Path, archs: list) -> None:
    df = rows_of(archs[:4], repeats=1)
    flat = df.drop(columns="arch")
    for c in ("embed_dim", "n_layer", "bias"):
        flat[c] = [getattr(a, c) for a in archs[:4]]
    for i in range(TINY.max_layers):  # slots beyond n_layer stay empty
        flat[f"n_head_{i}"] = [a.n_head[i] if i < a.n_layer else None for a in archs[:4]]
        flat[f"mlp_ratio_{i}"] = [a.mlp_ratio[i] if i < a.n_layer else None for a in archs[:4]]
    j = read(write(df, tmp_path / "j.csv"))
    f = read(write(flat, tmp_path / "f.csv"))
    assert f.frame["arch_id"].tolist() == j.frame["arch_id"].tolist() == [a.id for a in archs[:4]]


def test_same_arch_different_values_are_repeats(tmp_path: Path, archs: list) -> None:
    m = read(write(rows_of(archs[:5], repeats=4), tmp_path / "m.csv"))
    assert m.n_archs["latency"] == 5 and len(m.frame) == 20


# ------------------------------------------------------------------------------ bad input
def _bad(df: pd.DataFrame, tmp_path: Path, match: str, **kw) -> None:
    path = write(df, tmp_path / "bad.csv")
    with pytest.raises(MeasurementsFileError, match=match):
        fit_from_file(path, "my_dev", **kw)
    assert not (tmp_path / "home").exists(), "nothing is written on an error"


def test_unknown_and_missing_columns(tmp_path: Path, home: Path, archs: list) -> None:
    df = rows_of(archs[:6])
    _bad(df.assign(gpu_temp=60), tmp_path, r"unknown columns \['gpu_temp'\]; allowed: arch")
    _bad(df.drop(columns="unit"), tmp_path, r"missing columns \['unit'\]")
    _bad(df.drop(columns="arch"), tmp_path, r"missing columns \['arch'\]")


def test_mixed_units_in_one_metric_refused(tmp_path: Path, home: Path, archs: list) -> None:
    df = rows_of(archs[:6])
    df.loc[7, "unit"], df.loc[7, "value"] = "s", df.loc[7, "value"] / 1e3
    _bad(df, tmp_path, r"row 8 \('unit'\): 's' differs from 'ms' of row 1; metric 'latency' must have one "
                       r"unit \(mixed units")


def test_unit_of_another_metric_refused(tmp_path: Path, home: Path, archs: list) -> None:
    df = rows_of(archs[:6])
    df.loc[2, "unit"] = "GB"
    _bad(df, tmp_path, r"row 3 \('unit'\): 'GB' is not allowed; allowed: \['s', 'ms', 'us'\]")


def test_arch_outside_the_space_names_the_row(tmp_path: Path, home: Path, archs: list) -> None:
    df = rows_of(archs[:6])
    d = archs[1].to_dict() | {"embed_dim": 100}
    df.loc[4, "arch"] = json.dumps(d)
    _bad(df, tmp_path, r"row 5 \('arch'\).*lies in no scale", scale=None)
    _bad(df, tmp_path, r"row 5 \('arch'\): not in scale 'tiny'.*embed_dim.*100", scale="tiny")
    df.loc[4, "arch"] = json.dumps(hwgpt.SearchSpace.from_name("s").sample(0).to_dict())
    _bad(df, tmp_path, r"row 5 \('arch'\): lies in scale\(s\) \['s'\], earlier rows in \['tiny'\]")
    df.loc[4, "arch"] = "{not json"
    _bad(df, tmp_path, r"row 5 \('arch'\): not an architecture")


def test_exact_duplicate_row_refused(tmp_path: Path, home: Path, archs: list) -> None:
    df = rows_of(archs[:6])
    df = pd.concat([df, df.iloc[[4]]], ignore_index=True)
    _bad(df, tmp_path, r"row 19 duplicates row 5 \(every column equal\); if equal values are genuine repeats")
    with_repeat = rows_of(archs[:6]).assign(repeat=[0, 1, 2] * 6)
    with_repeat.loc[5, "repeat"] = 1  # the same arch, metric and repeat twice (values differ)
    _bad(with_repeat, tmp_path, r"row 6 duplicates row 5 \(the same arch, metric and repeat\)")


def test_equal_values_with_a_repeat_column_are_repeats(tmp_path: Path, archs: list) -> None:
    df = rows_of(archs[:5], repeats=2)
    df["value"] = df["value"].round(0)  # rounded: repeats collide
    df.loc[1::2, "value"] = df.loc[0::2, "value"].to_numpy()
    df["repeat"] = [0, 1] * 5
    assert len(read(write(df, tmp_path / "m.csv")).frame) == 10


def test_setting_must_be_one_per_metric(tmp_path: Path, home: Path, archs: list) -> None:
    for col, value, match in (("batch", 2, r"row 4 \('batch'\): 2 differs from 1 of row 1"),
                              ("dtype", "bfloat16", r"row 4 \('dtype'\): 'bfloat16' differs from 'float32'"),
                              ("device_name", "Other", r"row 4 \('device_name'\).*its own file")):
        df = rows_of(archs[:6])
        df[col] = df[col].astype(object)
        df.loc[3, col] = value
        _bad(df, tmp_path, match)


def test_bad_values_name_the_row_and_what_is_allowed(tmp_path: Path, home: Path, archs: list) -> None:
    cases = [("value", "12 ms", r"row 3 \('value'\): '12 ms' is not a finite number > 0"),
             ("value", -1.0, r"row 3 \('value'\): .* is not a finite number > 0"),
             ("metric", "perplexity", r"row 3 \('metric'\): 'perplexity' is not allowed; allowed: \['latency', "
                                      r"'energy', 'memory'\]"),
             ("dtype", "fp16", r"row 3 \('dtype'\): 'fp16' is not allowed; allowed: \['float32'"),
             ("seq_len", 4096, r"row 3 \('seq_len'\): '4096' is not an integer in 1..256"),
             ("batch", 0, r"row 3 \('batch'\): '0' is not an integer >= 1"),
             ("device_name", "", r"row 3 \('device_name'\): empty")]
    for col, value, match in cases:
        df = rows_of(archs[:6])
        df[col] = df[col].astype(object)
        df.loc[2, col] = value
        _bad(df, tmp_path, match)
    df = rows_of(archs[:6]).assign(arch_id="0123456789abcdef")
    _bad(df, tmp_path, r"row 1 \('arch_id'\): '0123456789abcdef' is not the id of its arch")


def test_too_few_archs_names_the_minimum(tmp_path: Path, home: Path, archs: list) -> None:
    _bad(rows_of(archs[:3]), tmp_path, r"'latency': the file has 3 distinct archs; the 'auto' transfer \(1 source "
                                       r"devices\) needs at least 4")


def test_shipped_device_name_refused_unless_overwrite(tmp_path: Path, home: Path, archs: list) -> None:
    path = write(rows_of(archs[:8]), tmp_path / "m.csv")
    with pytest.raises(InvalidInput, match="device=cpu names a device the project ships.*overwrite=true"):
        fit_from_file(path, "cpu")
    assert not home.exists()
    out = fit_from_file(path, "cpu", overwrite=True)
    # the shipped cpu (the only tiny source) is left out of its own replacement's sources: from scratch
    assert out["metrics"]["latency"]["sources"] == [] and out["metrics"]["latency"]["method"] == "scratch"
    assert (home / "surrogates" / "tiny" / "cpu" / "latency.meta.json").is_file()
    with pytest.raises(InvalidInput, match="device=local names this machine"):
        fit_from_file(path, "local")


# ------------------------------------------------------------------------------ fit and query
def test_fit_writes_a_surrogate_benchmark_finds(tmp_path: Path, home: Path, archs: list) -> None:
    path = write(rows_of(archs[:20], scale=3.0), tmp_path / "m.parquet")
    out = fit_from_file(path, "my_box")
    m = out["metrics"]["latency"]
    assert Path(out["dir"]) == home / "surrogates" / "tiny" / "my_box"
    assert m["sources"] == ["cpu"] and m["n_archs"] == 20
    bench = hwgpt.Benchmark("tiny", device="my_box")
    rep = bench.report("latency")
    assert rep["device"]["name"] == "Example CPU 9000" and rep["device"]["measured_elsewhere"] is True
    assert rep["measurements_file"]["metrics"]["latency"]["unit_given"] == "ms"
    fresh = [a for a in TINY.sample_unique(60, seed=77) if a.id not in {x.id for x in archs[:20]}][:40]
    truth = rows_of(fresh, repeats=1, unit="s", scale=3.0, seed=9)["value"].to_numpy()
    pred = bench.query(fresh, "latency")["latency"]
    assert np.median(np.abs(pred / truth - 1)) < 0.1  # in seconds, at the device's scale (3x the formula)
    assert kendalltau(pred, truth).statistic > 0.8
    lo, hi = bench.interval(fresh, "latency", 0.9)
    assert np.mean((truth >= lo) & (truth <= hi)) >= 0.7


@pytest.mark.parametrize("source_excluded", [False, True])
def test_published_like_file_end_to_end_at_s(tmp_path: Path, home: Path, source_excluded: bool) -> None:
    """A file of 20 S archs with h100-like latencies (the shipped h100 surrogate's draws, in ms): fit, query."""
    from hwgpt.surrogates.transfer import design

    h100 = hwgpt.Benchmark("s", device="h100")
    space = h100.space
    adapt = design(space, 18, seed=3)
    rows = [{"arch": json.dumps(a.to_dict()), "metric": "latency", "unit": "ms", "batch": 8, "seq_len": 1024,
             "dtype": "bfloat16", "device_name": "NVIDIA H100 80GB HBM3", "device_kind": "gpu", "repeat": r,
             "value": h100.sample_observation(a, "latency", seed=r) * 1e3} for a in adapt for r in range(3)]
    path = write(pd.DataFrame(rows), tmp_path / "h100.csv")
    name = "h100" if source_excluded else "my_h100"
    out = fit_from_file(path, name, overwrite=source_excluded)["metrics"]["latency"]
    assert ("h100" in out["sources"]) is not source_excluded
    bench = hwgpt.Benchmark("s", device=name)
    test = space.sample_unique(200, seed=123)
    pred, ref = bench.query(test, "latency")["latency"], h100.query(test, "latency")["latency"]
    assert kendalltau(pred, ref).statistic > 0.9
    assert np.median(np.abs(pred / ref - 1)) < 0.05
    lo, hi = bench.interval(test, "latency", 0.9)
    assert np.mean((ref >= lo) & (ref <= hi)) > 0.8


# ------------------------------------------------------------------------------ command line
def test_command_line_fits_checks_and_fails_in_one_line(tmp_path: Path, home: Path, archs: list,
                                                         capsys: pytest.CaptureFixture) -> None:
    good = write(rows_of(archs[:8]), tmp_path / "m.csv")
    assert main([str(good), "device=cli_box", "check=true"]) == 0
    assert json.loads(capsys.readouterr().out)["valid"] is True
    assert not home.exists()
    assert main([str(good), "device=cli_box", "metrics=latency", "method=scale_shift"]) == 0
    assert json.loads(capsys.readouterr().out)["metrics"]["latency"]["method"] == "scale_shift"
    assert "cli_box" in hwgpt.Benchmark("tiny", device="cli_box").devices
    bad = write(rows_of(archs[:8]).assign(extra=1), tmp_path / "bad.csv")
    with pytest.raises(SystemExit) as e:
        main([str(bad), "device=cli_box2"])
    assert e.value.code == 2 and "unknown columns ['extra']" in capsys.readouterr().err
    assert not (home / "surrogates" / "tiny" / "cli_box2").exists()
    with pytest.raises(InvalidInput, match=r"unknown options \['devcie'\]"):
        parse_args([str(good), "devcie=x"])
    with pytest.raises(SystemExit) as e:
        main([str(good), "device=cli_box3", "method=best"])
    assert e.value.code == 2 and "transfer method 'best' is unknown" in capsys.readouterr().err
    assert parse_args([str(good), "device=x", "metrics=[latency,energy]"]).metrics == ["latency", "energy"]


def memory_rows(archs: list) -> pd.DataFrame:
    """Peak memory in MiB, once per arch (deterministic: a repeat column tells nothing apart, so none is needed)."""
    return pd.DataFrame([{"arch": json.dumps(a.to_dict()), "metric": "memory", "unit": "MiB", "batch": 1,
                          "seq_len": TINY.block_size, "dtype": "float32", "device_name": "Example CPU 9000",
                          "value": 20 + hwgpt.cost.params(a, TINY) * 4 / 2**20} for a in archs])


def test_several_metrics_fit_together_or_not_at_all(tmp_path: Path, home: Path, archs: list) -> None:
    both = pd.concat([rows_of(archs[:8]), memory_rows(archs[:8])], ignore_index=True)
    m = read(write(both, tmp_path / "both.csv"))
    assert m.metrics == ["latency", "memory"] and m.units == {"latency": "ms", "memory": "MiB"}
    np.testing.assert_allclose(m.frame.loc[m.frame["metric"] == "memory", "value"],
                               both.loc[both["metric"] == "memory", "value"] * 2**20)
    out = fit_from_file(tmp_path / "both.csv", "two_metrics", metrics=["memory"])
    assert list(out["metrics"]) == ["memory"]
    assert hwgpt.Benchmark("tiny", device="two_metrics").available["two_metrics"] == ["memory"]
    # a second metric with too few archs: refused before anything is fitted, the first metric is not written either
    short = pd.concat([rows_of(archs[:8]), memory_rows(archs[:3])], ignore_index=True)
    with pytest.raises(MeasurementsFileError, match="'memory': the file has 3 distinct archs.*needs at least 4"):
        fit_from_file(write(short, tmp_path / "short.csv"), "short_memory")
    assert not (home / "surrogates" / "tiny" / "short_memory").exists()
    with pytest.raises(InvalidInput, match=r"the file has no rows of \['energy'\]"):
        fit_from_file(tmp_path / "both.csv", "no_energy", metrics=["energy"])


def test_the_lodo_script_writes_files_this_route_reads(tmp_path: Path, archs: list) -> None:
    """scripts/lodo_from_file.py writes a user's file from published rows (GPU latency in ms): it reads back exactly."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
    try:
        import lodo_from_file
    finally:
        sys.path.pop(0)
    s = hwgpt.SearchSpace.from_name("s")
    pub = pd.DataFrame([{"arch_id": a.id, "arch": a.to_json(), "metric": "latency", "value": 0.01 + 1e-3 * r,
                         "batch": 8, "seq_len": 1024, "dtype": "bfloat16", "repeat": r}
                        for a in s.sample_unique(5, seed=2) for r in range(3)])
    lodo_from_file.write_file(pub, "h100", tmp_path / "h100.csv")
    m = read(tmp_path / "h100.csv")
    assert m.scale == "s" and m.units == {"latency": "ms"} and m.device_kind == "gpu"
    np.testing.assert_allclose(m.frame["value"], pub["value"], rtol=1e-12)
    assert m.frame["arch_id"].tolist() == pub["arch_id"].tolist()
