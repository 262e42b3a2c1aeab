"""The real default corpus (Debian packages): slow, and needs the Debian mirror unless cached."""

from __future__ import annotations

import pytest

from hwgpt.data.prepare import prepare_dataset, unigram_perplexity, validate_prepared


@pytest.mark.slow
@pytest.mark.network
@pytest.mark.timeout(600)
@pytest.mark.parametrize("tokenizer", ["bpe8192", "gpt2"])
def test_default_corpus_builds(tokenizer: str) -> None:
    out = prepare_dataset(tokenizer)  # default data root; a no-op when already built
    meta = validate_prepared(out)
    assert meta is not None
    assert sum(meta["text_bytes"].values()) >= 10_000_000
    assert {s["package"] for s in meta["sources"]} == {"sword-text-web", "dict-foldoc", "dict-jargon", "dict-devil"}
    assert all(s["license"] and len(s["sha256"]) == 64 for s in meta["sources"])
    assert 0.03 < meta["documents"]["val"] / sum(meta["documents"].values()) < 0.07
    assert meta["vocab_size"] == (8192 if tokenizer == "bpe8192" else 50257)
    assert 100 < unigram_perplexity(out) < meta["vocab_size"]
