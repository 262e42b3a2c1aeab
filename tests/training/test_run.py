"""run(cfg) end to end through Hydra's compose API: smoke, outputs, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import MissingConfigException

from hwgpt.checkpoint import load_supernet, read_metadata
from hwgpt.training.run import run

CONF_DIR = str(Path(__file__).resolve().parents[2] / "conf")


def test_fast_dev_run_smoke(train_cfg):
    cfg = train_cfg("+trainer.fast_dev_run=true", small=False)  # the real tiny preset
    out = run(cfg)
    assert out["step"] == 1
    results = json.loads(Path(cfg.paths.output_dir, "results.json").read_text())
    assert set(results["table"]["perplexity"]) == {"largest", "smallest", "median", "unigram"}
    assert results["tokenizer"] == "synthetic8192" and results["scale"] == "tiny"
    meta = read_metadata(out["supernet"])
    assert meta["scale"] == "tiny" and meta["tokenizer"] == "synthetic8192"
    assert meta["extra"]["step"] == 1 and meta["extra"]["tokens_seen"] == 2 * 16
    model, _ = load_supernet(out["supernet"], scale="tiny", tokenizer="synthetic8192")
    assert model.space.name == "tiny"


def test_checkpoints_land_in_run_dir(train_cfg, tmp_path):
    cfg = train_cfg("evaluate=false")
    out = run(cfg)
    ckpts = tmp_path / "run" / "checkpoints"
    assert out["step"] == 4
    assert {p.name for p in ckpts.iterdir()} >= {"last.ckpt", "step000002.ckpt", "step000004.ckpt"}
    assert json.loads((tmp_path / "run" / "results.json").read_text())["table"] is None


def test_missing_ckpt_path(train_cfg, tmp_path):
    from hwgpt.errors import InvalidInput

    with pytest.raises(InvalidInput, match="ckpt_path=.*no such checkpoint file"):
        run(train_cfg(f"ckpt_path={tmp_path / 'nope.ckpt'}"))
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(InvalidInput, match="junk.ckpt is not a Lightning checkpoint"):
        run(train_cfg(f"ckpt_path={junk}"))


def test_resume_refuses_other_tokenizer(train_cfg, tmp_path):
    run(train_cfg("evaluate=false", out="a"))
    ckpt = tmp_path / "a" / "checkpoints" / "last.ckpt"
    with pytest.raises(ValueError, match="tokenizer 'synthetic64'.*'synthetic50'"):
        run(train_cfg("data.vocab_size=50", f"ckpt_path={ckpt}", "trainer.max_steps=6", out="b"))


def test_data_vocab_larger_than_scale_is_refused(train_cfg):
    with pytest.raises(ValueError, match="data vocabulary 100 .* vocab_size 64"):
        run(train_cfg("data.vocab_size=100"))


@pytest.mark.parametrize("group,bad", [("scale", "huge"), ("data", "nope"), ("trainer", "tpu9")])
def test_unknown_option_lists_choices(group, bad):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        with pytest.raises(MissingConfigException, match="Available options"):
            compose(config_name="train", overrides=[f"{group}={bad}"])
    GlobalHydra.instance().clear()
