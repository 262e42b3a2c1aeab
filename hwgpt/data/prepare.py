"""Prepared token datasets in the nanoGPT layout.

``<data_root>/<corpus>-<tokenizer>/`` holds ``train.bin`` and ``val.bin`` (flat token ids,
uint16 when the vocabulary fits, each document followed by the end-of-text token),
``meta.json`` (tokenizer, counts, sources, hashes, prep version) and, for a trained BPE,
``tokenizer.json``. ``meta.json`` is written last, so a directory without it is incomplete.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Sequence
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from hwgpt.data._io import atomic_open, read_json, sha256_file, write_json
from hwgpt.data.corpus import DEFAULT_CORPUS, Source, build_corpus, default_data_root
from hwgpt.data.tokenizer import HFTokenizer, Tokenizer, gpt2_tokenizer, parse_tokenizer_spec, train_bpe

log = logging.getLogger(__name__)

PREP_VERSION = "1"
SPLITS = ("train", "val")


def dataset_dir(data_root: Path | None, tokenizer: str, corpus: str = DEFAULT_CORPUS) -> Path:
    """Directory of a prepared dataset: ``<data_root>/<corpus>-<tokenizer>`` (e.g. ``default-bpe8192``)."""
    root = Path(data_root) if data_root is not None else default_data_root()
    kind, vocab = parse_tokenizer_spec(tokenizer)
    return root / f"{corpus}-{'gpt2' if kind == 'gpt2' else f'bpe{vocab}'}"


def token_dtype(vocab_size: int) -> np.dtype[Any]:
    """uint16 when every id fits, else uint32."""
    return np.dtype(np.uint16 if vocab_size <= 2**16 else np.uint32)


def write_tokens(
    texts: Iterable[str],
    encode_batch: Callable[[list[str]], Sequence[Sequence[int]]],
    eot_id: int,
    path: Path,
    dtype: np.dtype[Any],
    batch_docs: int = 1024,
    total: int | None = None,
) -> int:
    """Tokenize documents into a flat binary file, each followed by ``eot_id``.

    Args:
        texts: Documents.
        encode_batch: Function encoding a list of texts.
        eot_id: Separator token appended after each document.
        path: Output file (written atomically).
        dtype: Token dtype on disk.
        batch_docs: Documents encoded per call.
        total: Number of documents, for the progress bar.

    Returns:
        Number of tokens written.
    """
    n = 0
    it = iter(texts)
    with atomic_open(path) as f, tqdm(total=total, desc=f"tokenizing {path.name}", unit="doc") as bar:
        while batch := list(islice(it, batch_docs)):
            for ids in encode_batch(batch):
                arr = np.asarray([*ids, eot_id], dtype=dtype)
                f.write(arr.tobytes())
                n += arr.size
            bar.update(len(batch))
    return n


def bin_files_meta(out: Path, counts: dict[str, int], dtype: np.dtype[Any]) -> dict[str, Any]:
    """The ``files`` entry of ``meta.json``: bytes and sha256 of each ``<split>.bin``."""
    files = {}
    for split in SPLITS:
        path = out / f"{split}.bin"
        if path.stat().st_size != counts[split] * dtype.itemsize:
            raise RuntimeError(f"{path} has an unexpected size")
        files[path.name] = {"bytes": path.stat().st_size, "sha256": sha256_file(path)}
    return files


def validate_prepared(data_dir: Path, check_hash: bool = True) -> dict[str, Any] | None:
    """Return ``meta.json`` of a complete prepared dataset, or None (logging why).

    Args:
        data_dir: Prepared dataset directory.
        check_hash: Also compare sha256 of the bin files (sizes are always checked).
    """
    meta = read_json(Path(data_dir) / "meta.json")
    if meta is None:
        return None
    for name, rec in meta.get("files", {}).items():
        path = Path(data_dir) / name
        if not path.is_file() or path.stat().st_size != rec.get("bytes"):
            log.warning("%s is missing or truncated", path)
            return None
        if check_hash and sha256_file(path) != rec.get("sha256"):
            log.warning("%s does not match its recorded sha256", path)
            return None
    if not all(f"{s}.bin" in meta.get("files", {}) for s in SPLITS):
        return None
    return meta


def prepare_dataset(
    tokenizer: str = "bpe8192",
    data_root: Path | None = None,
    sources: Sequence[Source] | None = None,
    corpus: str = DEFAULT_CORPUS,
) -> Path:
    """Build (or validate) a prepared dataset of the default corpus.

    Args:
        tokenizer: ``"gpt2"`` or ``"bpe<vocab>"`` (trained on the corpus' train split).
        data_root: Data root; ``None`` means :func:`default_data_root`.
        sources: Corpus sources; ``None`` means the default ones (tests pass tiny local ones).
        corpus: Corpus name.

    Returns:
        The dataset directory. A second call only re-validates hashes.
    """
    root = Path(data_root) if data_root is not None else default_data_root()
    corp = build_corpus(root, sources, name=corpus)
    out = dataset_dir(root, tokenizer, corpus)
    corpus_files = corp.meta["files"]
    old = validate_prepared(out)
    if old is not None and old.get("prep_version") == PREP_VERSION and old.get("corpus_files") == corpus_files:
        tok_ok = "tokenizer_sha256" not in old or (
            (out / "tokenizer.json").is_file() and sha256_file(out / "tokenizer.json") == old["tokenizer_sha256"]
        )
        if tok_ok:
            log.debug("prepared dataset %s is valid", out)
            return out
    log.info("preparing dataset %s", out)
    (out / "meta.json").unlink(missing_ok=True)
    kind, vocab = parse_tokenizer_spec(tokenizer)
    tok: Tokenizer
    if kind == "gpt2":
        tok = gpt2_tokenizer(root)
    elif (
        old is not None
        and old.get("corpus_files") == corpus_files
        and (out / "tokenizer.json").is_file()
        and sha256_file(out / "tokenizer.json") == old.get("tokenizer_sha256")
    ):
        tok = HFTokenizer(out / "tokenizer.json")
    else:
        log.info("training a byte-level BPE with %d tokens on the train split", vocab)
        tok = train_bpe(corp.texts("train"), vocab or 8192, out / "tokenizer.json")
    dtype = token_dtype(tok.vocab_size)
    counts = {}
    for split in SPLITS:
        n_docs = corp.meta["splits"][split]["documents"]
        counts[split] = write_tokens(
            corp.texts(split), tok.encode_batch, tok.eot_id, out / f"{split}.bin", dtype, total=n_docs
        )
    meta: dict[str, Any] = {
        "prep_version": PREP_VERSION,
        "corpus": corpus,
        "tokenizer": tok.name,
        "tokenizer_spec": tokenizer,
        "vocab_size": tok.vocab_size,
        "eot_id": tok.eot_id,
        "dtype": dtype.name,
        "tokens": counts,
        "documents": {s: corp.meta["splits"][s]["documents"] for s in SPLITS},
        "text_bytes": {s: corp.meta["splits"][s]["bytes"] for s in SPLITS},
        "sources": corp.meta["sources"],
        "corpus_files": corpus_files,
        "files": bin_files_meta(out, counts, dtype),
    }
    if isinstance(tok, HFTokenizer):
        meta["tokenizer_sha256"] = sha256_file(out / "tokenizer.json")
    write_json(out / "meta.json", meta)
    log.info("prepared %s: %s tokens, vocab %d", out, counts, tok.vocab_size)
    return out


def load_split(data_dir: Path, split: str) -> np.memmap:
    """Memory-map ``<split>.bin`` of a prepared dataset (dtype from ``meta.json``)."""
    meta = read_json(Path(data_dir) / "meta.json") or {}
    return np.memmap(Path(data_dir) / f"{split}.bin", dtype=meta.get("dtype", "uint16"), mode="r")


def unigram_perplexity(data_dir: Path) -> float:
    """Validation perplexity of an add-one smoothed unigram model fitted on the train split."""
    meta = validate_prepared(Path(data_dir), check_hash=False)
    if meta is None:
        raise FileNotFoundError(f"{data_dir} is not a complete prepared dataset")
    return unigram_perplexity_of(load_split(data_dir, "train"), load_split(data_dir, "val"), int(meta["vocab_size"]))


def unigram_perplexity_of(train: np.ndarray, val: np.ndarray, vocab_size: int) -> float:
    """Validation perplexity of an add-one smoothed unigram model fitted on ``train`` tokens."""
    counts = np.bincount(np.asarray(train), minlength=vocab_size).astype(np.float64)
    logp = np.log((counts + 1.0) / (counts.sum() + vocab_size))
    return float(math.exp(-logp[np.asarray(val)].mean()))
