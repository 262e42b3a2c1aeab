"""Prepared datasets: bins, meta, idempotence, corruption, unigram baseline."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy as np
import pytest

from hwgpt.data.corpus import TextFileSource, build_corpus
from hwgpt.data.prepare import load_split, prepare_dataset, unigram_perplexity, validate_prepared
from hwgpt.data.tokenizer import load_tokenizer


def test_prepared_layout_and_meta(tiny_prepared: Path) -> None:
    assert tiny_prepared.name == "default-bpe300"
    meta = json.loads((tiny_prepared / "meta.json").read_text())
    assert meta["vocab_size"] == 300 and meta["dtype"] == "uint16" and meta["eot_id"] == 0
    assert meta["tokenizer"] == load_tokenizer(tiny_prepared).name
    assert meta["sources"][0]["name"] == "tiny" and len(meta["sources"][0]["sha256"]) == 64
    for split in ("train", "val"):
        tokens = load_split(tiny_prepared, split)
        assert len(tokens) == meta["tokens"][split] > 0
        assert int((tokens == 0).sum()) == meta["documents"][split]  # one eot per document
        assert tokens[-1] == 0


def test_bins_decode_to_corpus_documents(tiny_prepared: Path) -> None:
    tok = load_tokenizer(tiny_prepared)
    corpus = build_corpus(tiny_prepared.parent, [TextFileSource("tiny", tiny_prepared.parent / "tiny.txt")])
    val = np.asarray(load_split(tiny_prepared, "val")).tolist()
    first = tok.decode(val[: val.index(tok.eot_id)])
    assert first == next(corpus.texts("val"))


def test_gpt2_prepare_matches_direct_encoding_and_is_cached(tiny_source: TextFileSource, tmp_path: Path) -> None:
    out = prepare_dataset("gpt2", tmp_path, sources=[tiny_source])
    tok = load_tokenizer("gpt2", tmp_path)
    texts = list(build_corpus(tmp_path, [tiny_source]).texts("train"))
    expected = [i for t in texts for i in [*tok.encode(t), tok.eot_id]]
    assert np.asarray(load_split(out, "train")).tolist() == expected
    stamp = (out / "train.bin").stat().st_mtime_ns
    assert prepare_dataset("gpt2", tmp_path, sources=[tiny_source]) == out
    assert (out / "train.bin").stat().st_mtime_ns == stamp


def test_truncated_bin_is_detected_and_rebuilt(
    tiny_source: TextFileSource, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out = prepare_dataset("gpt2", tmp_path, sources=[tiny_source])
    good = (out / "val.bin").read_bytes()
    (out / "val.bin").write_bytes(good[:-2])
    assert validate_prepared(out) is None
    with caplog.at_level(logging.WARNING):
        prepare_dataset("gpt2", tmp_path, sources=[tiny_source])
    assert "truncated" in caplog.text and (out / "val.bin").read_bytes() == good


def test_unigram_perplexity(tiny_prepared: Path) -> None:
    meta = validate_prepared(tiny_prepared)
    assert meta is not None
    train = np.asarray(load_split(tiny_prepared, "train"))
    val = np.asarray(load_split(tiny_prepared, "val"))
    counts = np.bincount(train, minlength=300)
    p = (counts + 1) / (len(train) + 300)
    expected = math.exp(-np.log(p[val]).mean())
    ppl = unigram_perplexity(tiny_prepared)
    assert ppl == pytest.approx(expected) and 1 < ppl < 300
