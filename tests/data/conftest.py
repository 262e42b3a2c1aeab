"""Fixtures for the data tests: a tiny local corpus, never a download."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from hwgpt.data.corpus import TextFileSource

WORDS = (
    "the a model token data train network layer attention head small large energy latency "
    "device search space sample measure predict of in to and with for on by is was were "
    "we they it this that which every many few fast slow quickly carefully"
).split()


def make_text_file(path: Path, n_docs: int = 240, seed: int = 0) -> Path:
    """Write ``n_docs`` pseudo-English documents separated by ``<|endoftext|>`` lines."""
    rng = random.Random(seed)
    docs = []
    for _ in range(n_docs):
        sentences = [
            " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 14))).capitalize() + "."
            for _ in range(rng.randint(2, 6))
        ]
        docs.append(" ".join(sentences))
    path.write_text("\n<|endoftext|>\n".join(docs), encoding="utf-8")
    return path


@pytest.fixture
def tiny_source(tmp_path: Path) -> TextFileSource:
    """A local source of 240 short documents."""
    return TextFileSource("tiny", make_text_file(tmp_path / "tiny.txt"), license="CC0-1.0")


@pytest.fixture(scope="session")
def tiny_prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A prepared ``bpe300`` dataset of the tiny corpus (built once per session)."""
    from hwgpt.data.prepare import prepare_dataset

    root = tmp_path_factory.mktemp("data_root")
    source = TextFileSource("tiny", make_text_file(root / "tiny.txt", n_docs=400))
    return prepare_dataset("bpe300", root, sources=[source])


@pytest.fixture
def tiny_texts(tmp_path: Path) -> list[str]:
    """The 240 documents of the tiny corpus as strings."""
    return make_text_file(tmp_path / "texts.txt").read_text().split("\n<|endoftext|>\n")
