"""Data: the offline default corpus, tokenizers, prepared token datasets and DataModules.

Typical use::

    from hwgpt.data import prepare_dataset, TokenDataModule
    data_dir = prepare_dataset("bpe8192")          # <data_root>/default-bpe8192
    dm = TokenDataModule(data_dir, block_size=256, batch_size=32)

The DataModules (which import Lightning) and OpenWebText (which imports ``datasets``)
are loaded lazily on first access.
"""

from __future__ import annotations

import importlib
from typing import Any

from hwgpt.data.corpus import (
    DEFAULT_SOURCES,
    Corpus,
    DebianSource,
    Document,
    Source,
    TextFileSource,
    build_corpus,
    default_data_root,
    is_val_document,
)
from hwgpt.data.prepare import dataset_dir, load_split, prepare_dataset, unigram_perplexity, validate_prepared
from hwgpt.data.tokenizer import HFTokenizer, TiktokenTokenizer, Tokenizer, gpt2_tokenizer, load_tokenizer, train_bpe

_LAZY = {
    "TokenDataModule": "hwgpt.data.datamodule",
    "SyntheticTokenDataModule": "hwgpt.data.datamodule",
    "OpenWebTextDataModule": "hwgpt.data.datamodule",
    "prepare_openwebtext": "hwgpt.data.openwebtext",
    "tokenize_to_bin": "hwgpt.data.openwebtext",
}

__all__ = [
    "DEFAULT_SOURCES",
    "Corpus",
    "DebianSource",
    "Document",
    "HFTokenizer",
    "OpenWebTextDataModule",
    "Source",
    "SyntheticTokenDataModule",
    "TextFileSource",
    "TiktokenTokenizer",
    "TokenDataModule",
    "Tokenizer",
    "build_corpus",
    "dataset_dir",
    "default_data_root",
    "gpt2_tokenizer",
    "is_val_document",
    "load_split",
    "load_tokenizer",
    "prepare_dataset",
    "prepare_openwebtext",
    "tokenize_to_bin",
    "train_bpe",
    "unigram_perplexity",
    "validate_prepared",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
