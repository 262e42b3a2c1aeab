"""OpenWebText path: tokenization on a local stand-in, and the immediate offline error."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from datasets import load_dataset

from hwgpt.data import openwebtext
from hwgpt.data.openwebtext import prepare_openwebtext, tokenize_to_bin
from hwgpt.data.prepare import load_split
from hwgpt.data.tokenizer import load_tokenizer


@pytest.fixture
def standin(tmp_path: Path, tiny_texts: list[str]):  # noqa: ANN201
    """A ``datasets.Dataset`` with a "text" column, from a local file (one document per line)."""
    path = tmp_path / "owt.txt"
    path.write_text("\n".join(tiny_texts[:60]), encoding="utf-8")
    return load_dataset("text", data_files=str(path), cache_dir=str(tmp_path / "hf"), split="train")


@pytest.mark.timeout(10)
def test_tokenize_to_bin_matches_direct_encoding(standin, tmp_path: Path) -> None:  # noqa: ANN001
    tok = load_tokenizer("gpt2", tmp_path)
    n = tokenize_to_bin(standin, tok, tmp_path / "x.bin", shards=7)
    ids = np.fromfile(tmp_path / "x.bin", dtype=np.uint16).tolist()
    expected = [i for t in standin["text"] for i in [*tok.encode(t), tok.eot_id]]
    assert n == len(ids) and ids == expected


@pytest.mark.timeout(10)
def test_prepare_openwebtext_with_local_standin(standin, tmp_path: Path) -> None:  # noqa: ANN001
    out = prepare_openwebtext(tmp_path, num_proc=1, dataset=standin, val_size=0.1)
    meta = json.loads((out / "meta.json").read_text())
    assert out.name == "openwebtext-gpt2" and meta["tokenizer"] == "gpt2" and meta["vocab_size"] == 50257
    assert meta["documents"] == {"train": 54, "val": 6}
    assert len(load_split(out, "val")) == meta["tokens"]["val"] > 0
    assert prepare_openwebtext(tmp_path, dataset=None) == out  # cached: no network needed


def test_offline_mode_fails_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(RuntimeError, match="data.data_dir"):
        prepare_openwebtext(tmp_path)
    assert time.perf_counter() - start < 0.5


def test_unreachable_hub_fails_with_hint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(openwebtext, "hub_reachable", lambda *a, **k: False)
    with pytest.raises(RuntimeError, match="Hugging Face hub"):
        prepare_openwebtext(tmp_path)
