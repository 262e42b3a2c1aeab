"""Corpus building, splitting, caching and corruption handling (tiny local sources only)."""

from __future__ import annotations

import gzip
import io
import json
import logging
import shutil
import struct
import tarfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from hwgpt.data import debian
from hwgpt.data.corpus import (
    DebianSource,
    Document,
    Source,
    TextFileSource,
    build_corpus,
    default_data_root,
    is_val_document,
)
from hwgpt.data.extract import clean_dict_entry, sword_documents


def test_default_data_root_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HWGPT_DATA_DIR", str(tmp_path / "d"))
    assert default_data_root() == tmp_path / "d"
    monkeypatch.delenv("HWGPT_DATA_DIR")
    assert default_data_root() == Path.home() / ".cache" / "hwgpt" / "data"


def test_val_split_is_deterministic_and_about_five_percent() -> None:
    ids = [f"src:{i}" for i in range(20000)]
    held = [is_val_document(i) for i in ids]
    assert held == [is_val_document(i) for i in ids]
    assert 0.04 < sum(held) / len(ids) < 0.06


def test_build_corpus_records_sources_and_is_idempotent(tiny_source: TextFileSource, tmp_path: Path) -> None:
    corpus = build_corpus(tmp_path / "root", [tiny_source], name="tiny")
    meta = corpus.meta
    (src,) = meta["sources"]
    assert src["name"] == "tiny" and src["license"] == "CC0-1.0" and len(src["sha256"]) == 64
    assert meta["splits"]["train"]["documents"] + meta["splits"]["val"]["documents"] == 240
    assert src["text_bytes"] == meta["splits"]["train"]["bytes"] + meta["splits"]["val"]["bytes"]
    val_ids = [d.id for d in corpus.documents("val")]
    assert val_ids and all(is_val_document(i) for i in val_ids)
    assert not any(is_val_document(d.id) for d in corpus.documents("train"))
    stamp = corpus.split_path("train").stat().st_mtime_ns
    again = build_corpus(tmp_path / "root", [tiny_source], name="tiny")
    assert again.meta == meta and corpus.split_path("train").stat().st_mtime_ns == stamp


@pytest.mark.parametrize("damage", ["truncate", "flip", "delete"])
def test_corrupt_corpus_is_rebuilt(
    tiny_source: TextFileSource, tmp_path: Path, caplog: pytest.LogCaptureFixture, damage: str
) -> None:
    corpus = build_corpus(tmp_path, [tiny_source], name="tiny")
    path = corpus.split_path("train")
    good = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(good[: len(good) // 2])
    elif damage == "flip":
        path.write_bytes(good[:-2] + bytes([good[-2] ^ 1]) + good[-1:])
    else:
        path.unlink()
    with caplog.at_level(logging.WARNING, logger="hwgpt.data.corpus"):
        build_corpus(tmp_path, [tiny_source], name="tiny")
    assert path.read_bytes() == good
    assert "rebuilding" in caplog.text


class _DownloadSource(Source):
    """Copies a 'remote' file into the download dir, counting fetches."""

    name, license, url, package, registry, refetchable = "dl", "CC0-1.0", "", "dl", "test", True

    def __init__(self, remote: Path) -> None:
        self.remote, self.fetches = remote, 0

    def fetch(self, download_dir: Path) -> Path:
        target = download_dir / "dl.txt"
        if not target.exists():
            self.fetches += 1
            download_dir.mkdir(parents=True, exist_ok=True)
            shutil.copy(self.remote, target)
        return target

    def documents(self, path: Path) -> Iterator[Document]:
        yield from TextFileSource("dl", path).documents(path)


def test_corrupt_download_is_fetched_again(tiny_source: TextFileSource, tmp_path: Path) -> None:
    source = _DownloadSource(tiny_source.path)
    corpus = build_corpus(tmp_path, [source], name="dl")
    download = tmp_path / "downloads" / "dl.txt"
    download.write_bytes(download.read_bytes()[:100])  # corrupt cache ...
    corpus.split_path("val").unlink()  # ... noticed when the corpus is rebuilt
    rebuilt = build_corpus(tmp_path, [source], name="dl")
    assert source.fetches == 2 and rebuilt.meta["sources"] == corpus.meta["sources"]


def _ar(members: dict[str, bytes]) -> bytes:
    out = b"!<arch>\n"
    for name, data in members.items():
        out += f"{name:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(data):<10}`\n".encode() + data
        out += b"\n" if len(data) % 2 else b""
    return out


def _b64(n: int) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    s = ""
    while True:
        s, n = alphabet[n % 64] + s, n // 64
        if n == 0:
            return s


def _fake_dict_deb(path: Path) -> Path:
    entries = [
        "00-database-info\n  header, skipped\n",
        "widget\n\n   <hardware> A small {device} that does one\n"
        "   thing well and nothing else, ever, at all (http://x.org/).\n\n   (1999-01-01)\n",
        "gadget\n\n   A {widget} with more buttons than a widget, often\n   sold as a birthday gift to engineers.\n",
    ]
    data, index, pos = b"", [], 0
    for e in entries:
        raw = e.encode()
        index.append(f"{e.split(chr(10))[0]}\t{_b64(pos)}\t{_b64(len(raw))}")
        data, pos = data + raw, pos + len(raw)
    tar_buf = io.BytesIO()
    with tarfile.open(fileobj=tar_buf, mode="w:xz") as tar:
        for name, blob in {"fake.index": "\n".join(index).encode(), "fake.dict.dz": gzip.compress(data)}.items():
            info = tarfile.TarInfo(f"./usr/share/dictd/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    path.write_bytes(_ar({"debian-binary": b"2.0\n", "control.tar.xz": b"", "data.tar.xz": tar_buf.getvalue()}))
    return path


def test_debian_dict_source_reads_a_deb_without_apt(tmp_path: Path) -> None:
    deb = _fake_dict_deb(tmp_path / "dict-fake_1.0-2_all.deb")
    source = DebianSource("fake", "dict-fake", "dictd", "public domain", "")
    assert source.fetch(tmp_path) == deb and source.version(deb) == "1.0-2"
    docs = list(source.documents(deb))
    assert [d.id for d in docs] == ["fake:widget", "fake:gadget"]
    assert docs[0].text == "widget\n\nA small device that does one thing well and nothing else, ever, at all."
    assert "{" not in docs[1].text and "<" not in docs[1].text


def test_apt_missing_gives_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(debian.shutil, "which", lambda _: None)
    with pytest.raises(RuntimeError, match="apt-get download dict-foldoc"):
        DebianSource("foldoc", "dict-foldoc", "dictd", "GFDL", "").fetch(tmp_path)


def test_clean_dict_entry_keeps_verse_and_drops_short_entries() -> None:
    poem = "ODE\n\n    Roses are red,\n    violets are blue,\n    tokens are counted\n    and batches are too.\n"
    title, text = clean_dict_entry(poem) or ("", "")
    assert title == "ODE" and "Roses are red,\nviolets are blue," in text
    assert clean_dict_entry("X\n\n   See {Y}.\n") is None


def test_sword_documents_split_chapters_and_drop_notes() -> None:
    verses = [
        '<milestone n="Genesis" type="x-usfm-toc2"/>',
        '<chapter osisID="Gen.1" sID="Gen.1"/>',
        'In the beginning God<note placement="foot">a note</note>created the heavens and the earth. ',
        "The earth was formless and empty, and darkness was on the surface of the deep. ",
        '<chapter osisID="Gen.2" sID="Gen.2"/>',
        "The heavens, the earth, and all their vast array were finished, and rest followed. ",
    ]
    block = "".join(verses).encode()
    bzz = zlib.compress(block)
    bzs = struct.pack("<III", 0, len(bzz), len(block))
    offsets, pos = [], 0
    for v in verses:
        offsets.append(struct.pack("<IIH", 0, pos, len(v.encode())))
        pos += len(v.encode())
    docs = list(sword_documents({"ot.bzs": bzs, "ot.bzv": b"".join(offsets), "ot.bzz": bzz}, "web"))
    assert [d.id for d in docs] == ["web:Gen.1", "web:Gen.2"]
    assert docs[0].text.startswith("Genesis 1\n\nIn the beginning God created the heavens")
    assert "note" not in docs[0].text


def test_meta_is_json_and_has_no_absolute_cwd_paths(tiny_source: TextFileSource, tmp_path: Path) -> None:
    corpus = build_corpus(tmp_path, [tiny_source], name="tiny")
    meta = json.loads((corpus.path / "meta.json").read_text())
    assert meta["version"] == 1 and set(meta["files"]) == {"train.jsonl", "val.jsonl"}


def test_unreadable_deb_is_fetched_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = _fake_dict_deb(tmp_path / "good.deb").read_bytes()
    downloads = tmp_path / "root" / "downloads"
    downloads.mkdir(parents=True)
    (downloads / "dict-fake_1.0_all.deb").write_bytes(good[: len(good) // 2])  # truncated download
    calls = []

    def fake_apt(package: str, download_dir: Path) -> Path:
        calls.append(package)
        (download_dir / "dict-fake_1.0_all.deb").write_bytes(good)
        return download_dir / "dict-fake_1.0_all.deb"

    monkeypatch.setattr("hwgpt.data.corpus.apt_download", fake_apt)
    corpus = build_corpus(tmp_path / "root", [DebianSource("fake", "dict-fake", "dictd", "public domain", "")])
    assert (
        calls == ["dict-fake"]
        and corpus.meta["splits"]["train"]["documents"] + corpus.meta["splits"]["val"]["documents"] == 2
    )
