"""Synthetic multi-device data for the transfer tests: related devices on the same archs."""

from __future__ import annotations

import pandas as pd
import pytest
from transfer_helpers import DEVICES, NEW, device_frame

from hwgpt import SearchSpace


@pytest.fixture(scope="session")
def space() -> SearchSpace:
    return SearchSpace.from_name("tiny")


@pytest.fixture(scope="session")
def pool(space: SearchSpace) -> list:
    """400 archs shared by every synthetic device."""
    return space.sample_unique(400, seed=11)


@pytest.fixture(scope="session")
def multi_device(space: SearchSpace, pool: list) -> pd.DataFrame:
    """Every synthetic device (sources and the new one) on the same 400 archs, 5 repeats each."""
    frames = [device_frame(space, pool, d, p, 5, seed=i) for i, (d, p) in enumerate([*DEVICES.items(), NEW])]
    return pd.concat(frames, ignore_index=True)


