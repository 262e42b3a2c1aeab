"""Turn the raw files of the corpus sources into clean English documents.

Two formats are read:

* dictd databases (``.index`` + gzip-compatible ``.dict.dz``): one document per entry,
  headword as title, hard-wrapped prose paragraphs re-flowed, ``{cross refs}`` unbraced,
  URLs, category tags and date stamps removed, indented verse/code kept as is.
* SWORD zText modules (``*.bzs`` block index + ``*.bzz`` zlib blocks, OSIS markup):
  one document per chapter, footnotes dropped, tags stripped, paragraphs kept.
"""

from __future__ import annotations

import gzip
import html
import re
import struct
import textwrap
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_B64_VALUE = {c: i for i, c in enumerate(_B64)}
MIN_DOC_CHARS = 64  # shorter entries are mostly bare cross references


@dataclass(frozen=True)
class Document:
    """One document of the corpus.

    Attributes:
        id: Stable identifier, ``<source>:<key>``; the train/val split hashes it.
        text: Clean UTF-8 text.
    """

    id: str
    text: str


def _b64_int(s: str) -> int:
    value = 0
    for c in s:
        value = value * 64 + _B64_VALUE[c]
    return value


def _unwrap(body: str) -> str:
    """Re-flow hard-wrapped prose; keep mostly indented blocks (verse, code, tables).

    A block is kept verbatim when most lines are indented or all but the last are short.
    In a prose block, an indented line starts a new paragraph (Bierce's layout).
    Blocks without any letter (leftovers of removed URLs) are dropped.
    """
    paragraphs: list[str] = []
    for block in re.split(r"\n\s*\n", textwrap.dedent(body)):
        lines = [ln.rstrip() for ln in block.split("\n") if ln.strip()]
        if not lines or not any(c.isalpha() for c in block):
            continue
        short = len(lines) > 2 and max(map(len, lines[:-1])) < 56  # verse, tables
        if short or 2 * sum(ln[0].isspace() for ln in lines) > len(lines):
            paragraphs.append(textwrap.dedent("\n".join(lines)))
            continue
        current: list[str] = []
        for ln in lines:
            if ln[0].isspace() and current:
                paragraphs.append(re.sub(r"\s+", " ", " ".join(current)).strip())
                current = []
            current.append(ln)
        paragraphs.append(re.sub(r"\s+", " ", " ".join(current)).strip())
    return "\n\n".join(paragraphs)


def clean_dict_entry(raw: str) -> tuple[str, str] | None:
    """Clean one dictd entry into ``(title, text)``; None when too short to keep."""
    raw = raw.replace("\t", "    ").strip("\n")
    head, sep, rest = raw.partition("\n\n")
    head_lines = head.split("\n")
    rest_indented = bool(rest.strip()) and rest.lstrip("\n")[:1].isspace()
    if sep and rest_indented and len(head_lines) <= 8 and max(map(len, head_lines)) < 80:
        title, body = head_lines[0].strip(), rest
        title = title.split(",")[0] if len(title) > 50 else title
    else:
        title, body = head_lines[0].split(",")[0].strip(), raw
    body = re.sub(r"\s*\((?:https?|ftp)://[^)]*\)", "", body)  # bare URLs in parentheses
    body = re.sub(r"(?:https?|ftp)://\S+", "", body)
    body = re.sub(r"\{\s*([^{}]*?)\s*\}", r"\1", body)  # {cross reference}
    body = re.sub(r"(?m)^\s*\(\d{4}-\d{2}-\d{2}\)\s*$", "", body)  # FOLDOC date stamps
    body = re.sub(r"(?m)^(\s*)(?:<[\w ,.-]+>\s*)+", r"\1", body)  # <category> tags
    body = re.sub(r"(?<![\w_])_([^_\n]+)_(?![\w_])", r"\1", body)  # _emphasis_
    text = _unwrap(body)
    if len(text) < MIN_DOC_CHARS:
        return None
    if not text.lower().startswith(title.lower()):
        text = f"{title}\n\n{text}"
    return title, text


def dictd_documents(index: bytes, dict_dz: bytes, prefix: str) -> Iterator[Document]:
    """Yield one document per entry of a dictd database.

    Args:
        index: Contents of the ``.index`` file (``word<TAB>offset<TAB>length``, base64).
        dict_dz: Contents of the ``.dict.dz`` (or plain ``.dict``) file.
        prefix: Source name used in document ids.
    """
    data = gzip.decompress(dict_dz) if dict_dz[:2] == b"\x1f\x8b" else dict_dz
    seen: set[int] = set()
    entries = []
    for line in index.decode("utf-8", errors="replace").splitlines():
        parts = line.split("\t")
        if len(parts) < 3 or parts[0].startswith("00database") or parts[0].startswith("00-"):
            continue
        offset, length = _b64_int(parts[1]), _b64_int(parts[2])
        if offset not in seen:
            seen.add(offset)
            entries.append((offset, length))
    titles: dict[str, int] = {}
    for offset, length in sorted(entries):
        raw = data[offset : offset + length].decode("utf-8", errors="replace")
        cleaned = clean_dict_entry(raw)
        if cleaned is None:
            continue
        title, text = cleaned
        n = titles.get(title, 0)
        titles[title] = n + 1
        yield Document(f"{prefix}:{title}" + (f"#{n}" if n else ""), text)


_NOTE = re.compile(r"<note\b[^>]*>.*?</note>", re.S)
_TITLE = re.compile(r"<title\b[^>]*>(.*?)</title>", re.S)
_PARA = re.compile(r"<(?:div|lb)\b[^>]*type=\"x-p\"[^>]*/>|<lg\b[^>]*/>|<div\b[^>]*type=\"book\"[^>]*/>")
_LINE = re.compile(r"<l\b[^>]*eID=[^>]*/>|<item\b[^>]*>")
_CHAPTER = re.compile(r"<chapter\b[^>]*sID=\"([^\"]+)\"[^>]*/>")
_BOOK_NAME = re.compile(r"<milestone\b[^>]*n=\"([^\"]+)\"[^>]*type=\"x-usfm-toc2\"[^>]*/>")


def clean_osis(xml: str) -> str:
    """Strip OSIS markup: drop notes, keep titles and paragraph/line breaks."""
    xml = _NOTE.sub("\x00", xml)
    xml = _TITLE.sub(lambda m: f"\n\n{m.group(1)}\n\n", xml)
    xml = _PARA.sub("\n\n", xml)
    xml = _LINE.sub("\n", xml)
    text = html.unescape(re.sub(r"<[^>]+>", "", xml))
    text = re.sub(r"(?<=\w)\x00+(?=\w)", " ", text).replace("\x00", "")  # notes between words
    text = re.sub(r"[ \t\r\f\v]+", " ", text)
    text = re.sub(r" *\n *", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def sword_text(bzs: bytes, bzv: bytes, bzz: bytes) -> str:
    """Concatenate the entries of a SWORD zText testament in canonical verse order.

    ``.bzs`` holds one ``(offset, size, uncompressed size)`` uint32 triple per zlib block
    of ``.bzz``; ``.bzv`` holds one ``(block, offset, size)`` (uint32, uint32, uint16)
    entry per verse. Entries shared between verses are read once.
    """
    blocks: dict[int, bytes] = {}
    parts: list[str] = []
    seen: set[tuple[int, int, int]] = set()
    for i in range(0, len(bzv) - len(bzv) % 10, 10):
        key = struct.unpack("<IIH", bzv[i : i + 10])
        block, offset, size = key
        if size == 0 or key in seen:
            continue
        seen.add(key)
        if block not in blocks:
            start, csize, usize = struct.unpack("<III", bzs[12 * block : 12 * block + 12])
            blocks[block] = zlib.decompress(bzz[start : start + csize])
            if len(blocks[block]) != usize:
                raise ValueError(f"SWORD block {block}: bad uncompressed size")
        parts.append(blocks[block][offset : offset + size].decode("utf-8", errors="replace"))
    return " ".join(parts)


def sword_documents(files: dict[str, bytes], prefix: str) -> Iterator[Document]:
    """Yield one document per chapter (plus book introductions) of a zText module.

    Args:
        files: ``{basename: bytes}`` holding ``{ot,nt}.{bzs,bzv,bzz}``.
        prefix: Source name used in document ids.
    """
    ids: set[str] = set()
    for testament in ("ot", "nt"):
        if f"{testament}.bzv" not in files:
            continue
        stream = sword_text(*(files[f"{testament}.{ext}"] for ext in ("bzs", "bzv", "bzz")))
        pieces = _CHAPTER.split(stream)  # [intro, id1, text1, id2, text2, ...]
        names = _BOOK_NAME.findall(pieces[0])
        book = names[-1] if names else testament
        chapters = [(f"{book}.intro", pieces[0])]
        chapters += [(pieces[i], pieces[i + 1]) for i in range(1, len(pieces) - 1, 2)]
        for key, xml in chapters:
            text = clean_osis(xml)
            if len(text) >= MIN_DOC_CHARS and key not in ids:
                ids.add(key)
                if not key.endswith(".intro"):  # osisID "Gen.1": add a readable heading
                    text = f"{book} {key.rsplit('.', 1)[1]}\n\n{text}"
                yield Document(f"{prefix}:{key}", text)
            names = _BOOK_NAME.findall(xml)
            book = names[-1] if names else book
