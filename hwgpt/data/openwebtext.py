"""OpenWebText with the GPT-2 BPE, in the same bin/meta layout (nanoGPT ``prepare.py`` style).

Needs the Hugging Face hub: :func:`prepare_openwebtext` fails at once, with a message, when
it is unreachable. The tokenization (:func:`tokenize_to_bin`) works on any
``datasets.Dataset`` with a ``"text"`` column, so it is tested on a small local stand-in.
"""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm.auto import tqdm

from hwgpt.data._io import atomic_open, write_json
from hwgpt.data.corpus import default_data_root
from hwgpt.data.prepare import PREP_VERSION, SPLITS, bin_files_meta, token_dtype, validate_prepared
from hwgpt.data.tokenizer import Tokenizer, gpt2_tokenizer

if TYPE_CHECKING:
    from datasets import Dataset

log = logging.getLogger(__name__)

HUB_HOST = "huggingface.co"
OWT_SOURCE = {
    "name": "openwebtext",
    "license": "CC0-1.0 (dataset card); documents keep their own copyright",
    "url": "https://huggingface.co/datasets/Skylion007/openwebtext",
    "registry": "Hugging Face hub",
}


def hub_reachable(host: str = HUB_HOST, port: int = 443, timeout: float = 2.0) -> bool:
    """Whether a TCP connection to the hub can be opened within ``timeout`` seconds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def check_hub_access() -> None:
    """Raise at once when the Hugging Face hub cannot be used.

    Raises:
        RuntimeError: offline mode is set, or the hub is unreachable; the message says what to do.
    """
    hint = (
        "data=openwebtext needs network access to the Hugging Face hub ({why}). Run it on a "
        "machine with access, or set data.data_dir to an already prepared directory "
        "(train.bin/val.bin/meta.json), or use the default offline corpus."
    )
    for var in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE"):
        if os.environ.get(var, "").strip().lower() in ("1", "true", "yes", "on"):
            raise RuntimeError(hint.format(why=f"{var} is set"))
    if not hub_reachable():
        raise RuntimeError(hint.format(why=f"{HUB_HOST}:443 is unreachable"))


def tokenize_to_bin(dataset: Dataset, tokenizer: Tokenizer, path: Path, num_proc: int = 1, shards: int = 1024) -> int:
    """Tokenize the ``"text"`` column of a dataset into a flat token file (eot after each document).

    Args:
        dataset: A ``datasets.Dataset`` with a ``"text"`` column.
        tokenizer: Tokenizer (picklable when ``num_proc > 1``).
        path: Output ``.bin`` file, written atomically.
        num_proc: Processes for ``Dataset.map``.
        shards: Number of contiguous shards written one after another.

    Returns:
        Number of tokens written.
    """

    def process(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        ids = [[*x, tokenizer.eot_id] for x in tokenizer.encode_batch(batch["text"])]
        return {"ids": ids, "len": [len(x) for x in ids]}

    tokenized = dataset.map(
        process,
        batched=True,
        remove_columns=list(dataset.column_names),
        desc=f"tokenizing {path.name}",
        num_proc=num_proc if num_proc > 1 else None,
    )
    dtype = token_dtype(tokenizer.vocab_size)
    total = int(np.sum(tokenized["len"], dtype=np.int64))
    shards = max(1, min(shards, len(tokenized)))
    with atomic_open(path) as f:
        for i in tqdm(range(shards), desc=f"writing {path.name}"):
            shard = tokenized.shard(num_shards=shards, index=i, contiguous=True).with_format("numpy")
            if len(shard):
                f.write(np.concatenate(shard["ids"]).astype(dtype).tobytes())
    return total


def prepare_openwebtext(
    data_root: Path | None = None,
    num_proc: int = 8,
    dataset: Dataset | None = None,
    val_size: float = 0.0005,
    seed: int = 2357,
    name: str = "openwebtext",
) -> Path:
    """Prepare ``<data_root>/openwebtext-gpt2`` (train/val bins + meta).

    Args:
        data_root: Data root; ``None`` means :func:`default_data_root`.
        num_proc: Processes for downloading and tokenizing.
        dataset: A ``datasets.Dataset`` with a ``"text"`` column to use instead of
            downloading (a local stand-in); then no network is needed.
        val_size: Fraction held out for validation (nanoGPT: 0.0005).
        seed: Seed of the train/val split.
        name: Hub dataset name (used when ``dataset`` is None).

    Raises:
        RuntimeError: the hub is not reachable (raised before any download is tried).
    """
    root = Path(data_root) if data_root is not None else default_data_root()
    out = root / "openwebtext-gpt2"
    meta = validate_prepared(out, check_hash=False)
    if meta is not None and meta.get("prep_version") == PREP_VERSION:
        log.info("%s is already prepared", out)
        return out
    if dataset is None:
        check_hub_access()
        from datasets import load_dataset

        dataset = load_dataset(name, split="train", num_proc=num_proc)
    (out / "meta.json").unlink(missing_ok=True)
    parts = dataset.train_test_split(test_size=val_size, seed=seed, shuffle=True)
    splits = {"train": parts["train"], "val": parts["test"]}
    tok = gpt2_tokenizer(root)
    counts = {s: tokenize_to_bin(splits[s], tok, out / f"{s}.bin", num_proc) for s in SPLITS}
    dtype = token_dtype(tok.vocab_size)
    meta = {
        "prep_version": PREP_VERSION,
        "corpus": "openwebtext",
        "tokenizer": tok.name,
        "tokenizer_spec": "gpt2",
        "vocab_size": tok.vocab_size,
        "eot_id": tok.eot_id,
        "dtype": dtype.name,
        "tokens": counts,
        "documents": {s: len(splits[s]) for s in SPLITS},
        "sources": [OWT_SOURCE],
        "files": bin_files_meta(out, counts, dtype),
    }
    write_json(out / "meta.json", meta)
    log.info("prepared %s: %s tokens", out, counts)
    return out
