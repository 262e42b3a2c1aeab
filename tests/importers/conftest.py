"""Fixtures of the importer tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from upstream_helpers import Upstream


@pytest.fixture
def upstream(tmp_path: Path) -> Upstream:
    return Upstream(tmp_path / "upstream")
