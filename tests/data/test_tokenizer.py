"""Tokenizers: exact GPT-2 offline, trained byte-level BPE, loading by name or path."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from hwgpt.data.tokenizer import HFTokenizer, load_tokenizer, parse_tokenizer_spec, train_bpe


def test_gpt2_offline_round_trip(tmp_path: Path) -> None:
    tok = load_tokenizer("gpt2", data_root=tmp_path)
    assert tok.encode("Hello world") == [15496, 995]
    assert (tok.vocab_size, tok.eot_id, tok.name) == (50257, 50256, "gpt2")
    text = "The quick brown fox <|endoftext|> jumps."
    assert tok.decode(tok.encode(text)) == text
    assert tok.eot_id not in tok.encode(text)  # special tokens in text are plain text
    assert pickle.loads(pickle.dumps(tok)).encode("Hello world") == [15496, 995]
    assert len(list((tmp_path / "tiktoken").iterdir())) == 2


def test_bpe_training_gives_requested_vocab(tmp_path: Path, tiny_texts: list[str]) -> None:
    texts = tiny_texts
    tok = train_bpe(texts, vocab_size=300, path=tmp_path / "bpe" / "tokenizer.json")
    assert tok.vocab_size == 300 and tok.eot_id == 0
    assert tok.name.startswith("bpe300-") and len(tok.name) == len("bpe300-") + 12
    sample = "Attention is measured quickly, héllo ✓"
    assert tok.decode(tok.encode(sample)) == sample
    again = load_tokenizer(tmp_path / "bpe")
    assert isinstance(again, HFTokenizer) and again.name == tok.name
    retrained = train_bpe(texts, vocab_size=300, path=tmp_path / "bpe2" / "tokenizer.json")
    assert retrained.name == tok.name  # deterministic training


def test_specs_and_missing_tokenizer(tmp_path: Path) -> None:
    assert parse_tokenizer_spec("gpt2") == ("gpt2", None)
    assert parse_tokenizer_spec("bpe8192") == parse_tokenizer_spec("bpe-8192") == ("bpe", 8192)
    with pytest.raises(ValueError, match="unknown tokenizer"):
        parse_tokenizer_spec("sentencepiece")
    with pytest.raises(FileNotFoundError, match="prepare_dataset"):
        load_tokenizer("bpe512", data_root=tmp_path)
    with pytest.raises(ValueError, match="257"):
        train_bpe(["abc"], vocab_size=100)
