"""Fixtures for the surrogate tests: small synthetic frames, fast fit settings, fitted artifacts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from hwgpt import SearchSpace
from hwgpt.surrogates.fit import FitSettings, fit_all
from hwgpt.surrogates.synthetic import synthetic_observations

DEVICE = "synthetic-cpu"


@pytest.fixture(scope="session")
def fast() -> Callable[..., FitSettings]:
    """``fast(seed=0)``: the fast fit settings."""
    return FitSettings.fast


@pytest.fixture(scope="session")
def device() -> str:
    return DEVICE


@pytest.fixture(scope="session")
def space() -> SearchSpace:
    return SearchSpace.from_name("tiny")


@pytest.fixture(scope="session")
def frame(space: SearchSpace) -> pd.DataFrame:
    """150 archs: latency/energy/memory x 6 repeats, perplexity/accuracy x 1."""
    return synthetic_observations(space, n_archs=150, repeats=6, seed=0, device=DEVICE)


@pytest.fixture(scope="session")
def artifacts_dir(tmp_path_factory: pytest.TempPathFactory, frame: pd.DataFrame, space: SearchSpace) -> Path:
    """latency, memory and perplexity surrogates fitted into a temporary artifact root."""
    root = tmp_path_factory.mktemp("artifacts")
    fit_all(frame, space, DEVICE, FitSettings.fast(), metrics=["latency", "memory", "perplexity"], out_dir=root)
    return root
