"""The default English corpus: built from Debian packages, cleaned, split by document.

Layout under the data root (see :func:`default_data_root`)::

    downloads/<package>_<version>_all.deb      fetched with ``apt-get download``
    corpus/<name>/train.jsonl, val.jsonl       one ``{"id", "text"}`` object per line
    corpus/<name>/meta.json                    sources, licences, hashes, sizes

:func:`build_corpus` is idempotent: a valid corpus is only re-hashed; anything missing
or corrupt is rebuilt (and a corrupt download fetched again), each step logged.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tarfile
import zlib
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tqdm.auto import tqdm

from hwgpt.data._io import atomic_open, read_json, sha256_file, write_json
from hwgpt.data.debian import apt_download, cached_deb, deb_version, read_deb_files
from hwgpt.data.extract import Document, dictd_documents, sword_documents

log = logging.getLogger(__name__)

CORPUS_VERSION = 1
DEFAULT_CORPUS = "default"
VAL_FRACTION = 0.05
SPLITS = ("train", "val")

__all__ = [
    "Corpus",
    "DebianSource",
    "DEFAULT_SOURCES",
    "Document",
    "Source",
    "TextFileSource",
    "build_corpus",
    "default_data_root",
    "is_val_document",
]


def default_data_root() -> Path:
    """Data root: ``$HWGPT_DATA_DIR`` if set, else ``~/.cache/hwgpt/data`` (never the cwd)."""
    env = os.environ.get("HWGPT_DATA_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "hwgpt" / "data"


def is_val_document(doc_id: str, fraction: float = VAL_FRACTION) -> bool:
    """Deterministic split: a document is held out when the hash of its id falls below ``fraction``."""
    h = int.from_bytes(hashlib.sha256(doc_id.encode("utf-8")).digest()[:8], "big")
    return h / 2**64 < fraction


class Source(ABC):
    """A corpus source: fetch one file, then turn it into documents.

    Subclasses set ``name`` (used in document ids), ``license``, ``url``, ``package``
    and ``registry``; ``refetchable`` sources own their downloaded file and may delete and
    fetch it again when its hash changed. Tests inject small local sources.
    """

    name: str
    license: str
    url: str
    package: str
    registry: str
    refetchable: bool = False

    @abstractmethod
    def fetch(self, download_dir: Path) -> Path:
        """Return the local file of this source, downloading it into ``download_dir`` if needed."""

    @abstractmethod
    def documents(self, path: Path) -> Iterator[Document]:
        """Yield the clean documents contained in the fetched file."""

    def version(self, path: Path) -> str:
        """Version string of the fetched file (default: unknown)."""
        return "unknown"


@dataclass(frozen=True)
class DebianSource(Source):
    """A Debian package holding a dictd database or a SWORD zText module."""

    name: str
    package: str
    kind: Literal["dictd", "sword"]
    license: str
    url: str
    registry: str = field(default="Debian (apt-get download)")
    refetchable: bool = field(default=True)

    def fetch(self, download_dir: Path) -> Path:  # noqa: D102
        return cached_deb(download_dir, self.package) or apt_download(self.package, download_dir)

    def version(self, path: Path) -> str:  # noqa: D102
        return deb_version(path)

    def documents(self, path: Path) -> Iterator[Document]:  # noqa: D102
        if self.kind == "sword":
            files = read_deb_files(path, lambda p: "/modules/texts/ztext/" in p)
            yield from sword_documents({k.rsplit("/", 1)[1]: v for k, v in files.items()}, self.name)
            return
        files = read_deb_files(path, lambda p: p.startswith("usr/share/dictd/"))
        index = next(v for k, v in files.items() if k.endswith(".index"))
        data = next(v for k, v in files.items() if k.endswith((".dict.dz", ".dict")))
        yield from dictd_documents(index, data, self.name)


@dataclass(frozen=True)
class TextFileSource(Source):
    """A local UTF-8 text file whose documents are separated by ``separator``.

    Args:
        name: Source name (document ids are ``<name>:<n>``).
        path: The text file.
        license: Licence to record.
        url: Where it comes from.
        separator: Document separator (default: a line holding only ``<|endoftext|>``).
    """

    name: str
    path: Path
    license: str = "unknown"
    url: str = ""
    separator: str = "\n<|endoftext|>\n"
    package: str = "local file"
    registry: str = "local"

    def fetch(self, download_dir: Path) -> Path:  # noqa: D102
        if not Path(self.path).is_file():
            raise FileNotFoundError(f"source {self.name}: no file at {self.path}")
        return Path(self.path)

    def documents(self, path: Path) -> Iterator[Document]:  # noqa: D102
        texts = (t.strip() for t in path.read_text(encoding="utf-8").split(self.separator))
        yield from (Document(f"{self.name}:{i}", t) for i, t in enumerate(texts) if t)


DEFAULT_SOURCES: tuple[Source, ...] = (
    DebianSource("web", "sword-text-web", "sword", "public domain", "https://ebible.org/web/"),
    DebianSource("foldoc", "dict-foldoc", "dictd", "GFDL-1.1-or-later", "https://foldoc.org/"),
    DebianSource("jargon", "dict-jargon", "dictd", "public domain", "http://catb.org/jargon/"),
    DebianSource("devil", "dict-devil", "dictd", "public domain", "https://www.gutenberg.org/ebooks/972"),
)


@dataclass(frozen=True)
class Corpus:
    """A built corpus on disk.

    Attributes:
        path: Directory holding ``train.jsonl``, ``val.jsonl`` and ``meta.json``.
        meta: Contents of ``meta.json``.
    """

    path: Path
    meta: dict[str, Any]

    @property
    def name(self) -> str:
        """Corpus name (directory name)."""
        return self.path.name

    def split_path(self, split: str) -> Path:
        """Path of the JSONL file of ``split`` ("train" or "val")."""
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        return self.path / f"{split}.jsonl"

    def documents(self, split: str) -> Iterator[Document]:
        """Iterate over the documents of a split, in build order."""
        with open(self.split_path(split), encoding="utf-8") as f:
            for line in f:
                obj = json.loads(line)
                yield Document(obj["id"], obj["text"])

    def texts(self, split: str) -> Iterator[str]:
        """Iterate over the texts of a split."""
        return (doc.text for doc in self.documents(split))


def _corpus_is_valid(out: Path, meta: dict[str, Any] | None, spec: dict[str, Any]) -> bool:
    if meta is None:
        return False
    if any(meta.get(k) != v for k, v in spec.items()):
        log.info("corpus %s was built with other settings; rebuilding", out)
        return False
    for split in SPLITS:
        path = out / f"{split}.jsonl"
        expected = meta.get("files", {}).get(path.name, {})
        if not path.is_file() or path.stat().st_size != expected.get("bytes"):
            log.warning("corpus file %s is missing or truncated; rebuilding", path)
            return False
        if sha256_file(path) != expected.get("sha256"):
            log.warning("corpus file %s does not match its recorded sha256; rebuilding", path)
            return False
    return True


def _load_source(source: Source, downloads: Path, recorded: dict[str, Any]) -> tuple[Path, str, list[Document]]:
    """Fetch and read a source; a refetchable file that is corrupt is deleted and fetched once more.

    Corrupt means: its sha256 differs from the one recorded at the last build, or it cannot be read.
    """
    for attempt in range(2):
        path = source.fetch(downloads)
        digest = sha256_file(path)
        old = recorded.get(source.name, {})
        problem = None
        if old.get("file") == path.name and old.get("sha256") not in (None, digest):
            problem = "does not match its recorded sha256"
        else:
            try:
                return path, digest, list(source.documents(path))
            except (ValueError, EOFError, OSError, tarfile.TarError, zlib.error) as err:
                problem = f"cannot be read ({err!r})"
        if not source.refetchable or attempt == 1:
            raise RuntimeError(f"source {source.name}: {path} {problem}")
        log.warning("%s %s; downloading it again", path, problem)
        path.unlink()
    raise AssertionError("unreachable")


def build_corpus(
    data_root: Path | None = None,
    sources: Sequence[Source] | None = None,
    name: str = DEFAULT_CORPUS,
    val_fraction: float = VAL_FRACTION,
) -> Corpus:
    """Build (or validate) a corpus under ``<data_root>/corpus/<name>``.

    Args:
        data_root: Data root; ``None`` means :func:`default_data_root`.
        sources: Sources to include; ``None`` means :data:`DEFAULT_SOURCES`.
        name: Corpus name (directory name).
        val_fraction: Fraction of documents held out for validation (by document id hash).

    Returns:
        The corpus. A second call with the same arguments only re-validates hashes.
    """
    root = Path(data_root) if data_root is not None else default_data_root()
    sources = tuple(DEFAULT_SOURCES if sources is None else sources)
    out = root / "corpus" / name
    spec = {
        "version": CORPUS_VERSION,
        "val_fraction": val_fraction,
        "source_names": [s.name for s in sources],
    }
    old = read_json(out / "meta.json")
    if _corpus_is_valid(out, old, spec):
        log.debug("corpus %s is valid", out)
        return Corpus(out, old or {})
    recorded = {s["name"]: s for s in (old or {}).get("sources", [])}
    log.info("building corpus %s from %d sources", out, len(sources))
    (out / "meta.json").unlink(missing_ok=True)  # the corpus is invalid until rewritten
    records: list[dict[str, Any]] = []
    counts = {split: {"documents": 0, "bytes": 0} for split in SPLITS}
    with atomic_open(out / "train.jsonl", "w") as ftrain, atomic_open(out / "val.jsonl", "w") as fval:
        for source in tqdm(sources, desc="corpus sources", unit="source"):
            path, digest, docs = _load_source(source, root / "downloads", recorded)
            n_docs = n_bytes = 0
            for doc in docs:
                split = "val" if is_val_document(doc.id, val_fraction) else "train"
                line = json.dumps({"id": doc.id, "text": doc.text}, ensure_ascii=False)
                (fval if split == "val" else ftrain).write(line + "\n")
                size = len(doc.text.encode("utf-8"))
                counts[split]["documents"] += 1
                counts[split]["bytes"] += size
                n_docs, n_bytes = n_docs + 1, n_bytes + size
            if n_docs == 0:
                raise RuntimeError(f"source {source.name} ({path}) produced no documents")
            records.append(
                {
                    "name": source.name,
                    "package": source.package,
                    "version": source.version(path),
                    "license": source.license,
                    "url": source.url,
                    "registry": source.registry,
                    "file": path.name,
                    "sha256": digest,
                    "documents": n_docs,
                    "text_bytes": n_bytes,
                }
            )
            log.info("%s: %d documents, %.2f MB clean text", source.name, n_docs, n_bytes / 1e6)
    files = {
        f"{s}.jsonl": {"bytes": (out / f"{s}.jsonl").stat().st_size, "sha256": sha256_file(out / f"{s}.jsonl")}
        for s in SPLITS
    }
    meta = {**spec, "name": name, "sources": records, "splits": counts, "files": files}
    write_json(out / "meta.json", meta)
    return Corpus(out, meta)
