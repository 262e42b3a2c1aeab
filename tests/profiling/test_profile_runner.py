"""run(cfg) end to end through Hydra compose: every metric, resume, and the bad-input errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra.errors import ConfigCompositionException, MissingConfigException

from hwgpt.profiling import DeviceNotFoundError, Store, arch_set, run
from hwgpt.search_space import SearchSpace

TINY = SearchSpace.from_name("tiny")


def test_arch_set_is_deterministic_prefix() -> None:
    small, big = arch_set(TINY, 5, seed=0), arch_set(TINY, 30, seed=0)
    assert small == big[: len(small)] and small[0] == TINY.smallest() and small[1] == TINY.largest()
    assert len({a.id for a in big}) == len(big) == 32


def test_latency_end_to_end_and_resume(profile_cfg, tmp_path: Path) -> None:
    cfg = profile_cfg("scale=tiny", "device=cpu", "metric=latency", "n_archs=3", "repeats=2", "seq_len=32",
                      "metric.warmup=1", f"export={tmp_path / 'obs.parquet'}")
    summary = run(cfg)
    assert summary["n_archs"] == 5 and summary["n_written"] == 5 and summary["n_already"] == 0
    store = Store(cfg.store)
    df = store.observations(scale="tiny", device="cpu", metric="latency")
    assert len(df) == 10 and set(df["seq_len"]) == {32} and set(df["threads"]) == {1} and set(df["batch"]) == {1}
    assert set(df.arch_id) == {a.id for a in arch_set(TINY, 3, 0)}
    assert len(store.devices()) == 1 and len(store.runs()) == 1
    assert (tmp_path / "obs.parquet").is_file()
    again = run(profile_cfg("metric=latency", "n_archs=3", "repeats=2", "seq_len=32", "metric.warmup=1"))
    assert again["n_written"] == 0 and again["n_already"] == 5
    more = run(profile_cfg("metric=latency", "n_archs=4", "repeats=2", "seq_len=32", "metric.warmup=1"))
    assert more["n_written"] == 1 and more["n_already"] == 5


@pytest.mark.parametrize("metric,names", [("memory", {"memory"}), ("cost", {"flops", "params"}),
                                          ("energy", {"energy"})])
def test_hardware_metrics_end_to_end(profile_cfg, metric: str, names: set[str]) -> None:
    cfg = profile_cfg(f"metric={metric}", "n_archs=1", "repeats=2", "seq_len=32")
    if metric == "energy":
        cfg.metric.min_seconds = 0.01
    assert run(cfg)["n_written"] == 3
    df = Store(cfg.store).observations()
    assert set(df.metric) == names


def test_quality_end_to_end(profile_cfg, synthetic, tiny_checkpoint: Path) -> None:
    cfg = synthetic(profile_cfg("metric=quality", "n_archs=1", f"checkpoint={tiny_checkpoint}"))
    assert run(cfg)["n_written"] == 3
    df = Store(cfg.store).observations()
    assert set(df.metric) == {"perplexity", "accuracy"} and len(df) == 6
    ppl = df[df.metric == "perplexity"]
    assert (ppl.value > 1).all() and set(ppl["seq_len"]) == {TINY.block_size} and set(ppl["batch"]) == {2}
    assert ((df[df.metric == "accuracy"].value >= 0) & (df[df.metric == "accuracy"].value <= 1)).all()


def test_quality_refuses_store_of_another_checkpoint(
    profile_cfg, synthetic, tiny_checkpoint: Path, tmp_path: Path
) -> None:
    run(synthetic(profile_cfg("metric=perplexity", "n_archs=0", f"checkpoint={tiny_checkpoint}")))
    other = tmp_path / "other.safetensors"
    other.write_bytes(tiny_checkpoint.read_bytes())
    import torch

    from hwgpt.checkpoint import save_supernet
    from hwgpt.supernet import SuperGPT

    torch.manual_seed(1)
    save_supernet(SuperGPT(TINY), other, tokenizer="synthetic8192", dtype=torch.float32)
    with pytest.raises(ValueError, match="another checkpoint"):
        run(synthetic(profile_cfg("metric=perplexity", "n_archs=0", f"checkpoint={other}")))


def test_missing_checkpoint_says_how_to_train(profile_cfg, synthetic, tmp_path: Path) -> None:
    cfg = synthetic(profile_cfg("metric=perplexity", "n_archs=0", f"checkpoint={tmp_path / 'none.safetensors'}"))
    with pytest.raises(FileNotFoundError, match="python train.py scale=tiny"):
        run(cfg)
    assert not Path(cfg.store).exists()


def test_unknown_metric_or_device(profile_cfg) -> None:
    with pytest.raises(MissingConfigException, match="metric"):
        profile_cfg("metric=speed")
    with pytest.raises(MissingConfigException, match="device"):
        profile_cfg("device=tpu9000")


def test_absent_device_fails_before_store_is_touched(profile_cfg, tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("needs a machine without a GPU")
    cfg = profile_cfg("device=h200")
    with pytest.raises(DeviceNotFoundError, match="h200"):
        run(cfg)
    assert not Path(cfg.store).exists()


@pytest.mark.parametrize("override,match", [("dtype=float8", "dtype"), ("seq_len=100000", "seq_len"),
                                            ("threads=0", "threads"), ("batch=0", "batch")])
def test_bad_settings(profile_cfg, override: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        run(profile_cfg(override))


def test_launchers_compose(profile_cfg) -> None:
    cfg = profile_cfg("hydra/launcher=joblib")
    assert "joblib" in cfg.hydra.launcher._target_.lower()
    cfg = profile_cfg("hydra/launcher=slurm", "hydra.launcher.partition=gpu")
    assert "slurm" in cfg.hydra.launcher._target_.lower() and cfg.hydra.launcher.timeout_min == 240


def test_every_metric_config_instantiates(profile_cfg) -> None:
    from hydra.utils import instantiate

    from hwgpt.profiling.base import Metric

    for path in (Path(__file__).resolve().parents[2] / "conf" / "metric").glob("*.yaml"):
        try:
            cfg = profile_cfg(f"metric={path.stem}")
        except ConfigCompositionException as e:  # pragma: no cover
            raise AssertionError(path) from e
        assert isinstance(instantiate(cfg.metric), Metric)


def test_max_seconds_stops_cleanly(profile_cfg) -> None:
    summary = run(profile_cfg("metric=cost", "n_archs=5", "max_seconds=0"))
    assert summary["stopped_early"] and summary["n_written"] == 0
    assert run(profile_cfg("metric=cost", "n_archs=5"))["n_written"] == 7


def test_failure_mid_run_keeps_whole_architectures(profile_cfg, monkeypatch: pytest.MonkeyPatch) -> None:
    from hwgpt.profiling.latency import LatencyMetric

    calls = {"n": 0}
    original = LatencyMetric.measure

    def flaky(self, archs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("device fell over")
        return original(self, archs)

    monkeypatch.setattr(LatencyMetric, "measure", flaky)
    cfg = profile_cfg("metric=latency", "n_archs=4", "repeats=2", "seq_len=16", "metric.warmup=0",
                      "metric.interleave=2")
    with pytest.raises(RuntimeError, match="fell over"):
        run(cfg)
    df = Store(cfg.store).observations()
    assert df.arch_id.nunique() == 2 and len(df) == 4  # the first chunk, whole
    monkeypatch.setattr(LatencyMetric, "measure", original)
    assert run(cfg)["n_written"] == 4


@pytest.mark.slow
def test_quality_on_prepared_token_data(profile_cfg, tmp_path: Path) -> None:
    """The default data path: a prepared dataset (TokenDataModule) and a checkpoint of its tokenizer."""
    import random

    import torch

    from hwgpt.checkpoint import save_supernet
    from hwgpt.data.corpus import TextFileSource
    from hwgpt.data.prepare import prepare_dataset
    from hwgpt.supernet import SuperGPT

    rng = random.Random(0)
    words = "the model measures energy and latency of every small network on a device".split()
    docs = [" ".join(rng.choice(words) for _ in range(rng.randint(30, 80))) for _ in range(300)]
    (tmp_path / "corpus.txt").write_text("\n<|endoftext|>\n".join(docs))
    data_dir = prepare_dataset("bpe300", tmp_path / "data", sources=[TextFileSource("t", tmp_path / "corpus.txt")])
    from hwgpt.data.datamodule import TokenDataModule

    tokenizer = TokenDataModule(data_dir).tokenizer_name  # e.g. bpe300-<hash of the trained tokenizer>
    torch.manual_seed(0)
    ckpt = save_supernet(SuperGPT(TINY), tmp_path / "c.safetensors", tokenizer=tokenizer, dtype=torch.float32)
    cfg = profile_cfg("metric=perplexity", "n_archs=0", f"checkpoint={ckpt}", f"data_dir={data_dir}",
                      "metric.windows=1", "metric.batch_size=1")
    assert run(cfg)["n_written"] == 2
    df = Store(cfg.store).observations(metric="perplexity")
    assert len(df) == 2 and (df.value > 1).all() and f'"tokenizer": "{tokenizer}"' in df.extra[0]
