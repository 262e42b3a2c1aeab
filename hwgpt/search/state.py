"""The state of a search run: what was evaluated, observed and what it cost (:class:`SearchState`), and
:func:`seeded`, the global generators a run's optimizer draws from."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hwgpt.search.budget import PREFIX
from hwgpt.search_space import Arch

__all__ = ["SearchState", "seeded"]


@contextmanager
def seeded(seed: int, threads: int | None = None) -> Iterator[None]:
    """Seed Python's, numpy's and torch's global generators (Syne Tune 0.16 samples from numpy's
    global one and ignores ``random_seed`` there) and set torch's thread count; restore all after."""
    import torch

    states = random.getstate(), np.random.get_state(), torch.get_rng_state(), torch.get_num_threads()
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if threads:
        torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.set_rng_state(states[2])
        torch.set_num_threads(states[3])


@dataclass
class SearchState:
    """The history of a run: what was evaluated, observed, and what it cost.

    Attributes:
        archs, observed, seconds, rounds: One entry per counted evaluation (raw objective values,
            simulated seconds, fidelity in rounds).
        n_duplicates: Suggestions answered from the history (not counted).
        timing: Wall seconds: ``benchmark_s`` (benchmark queries), ``optimizer_s`` (suggest +
            update), ``total_s``; ``setup_s`` (loading the surrogates once, before the first evaluation)
            is added by :func:`run`.
        stopped_by: ``n_evals``, ``simulated_budget``, ``duplicates`` or ``interrupted``.
    """

    archs: list[Arch] = field(default_factory=list)
    observed: list[dict[str, float]] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    rounds: list[int] = field(default_factory=list)
    n_duplicates: int = 0
    timing: dict[str, float] = field(default_factory=lambda: {"benchmark_s": 0.0, "optimizer_s": 0.0, "total_s": 0.0})
    stopped_by: str = "n_evals"

    def __iter__(self) -> Iterator[Any]:  # (archs, observed, timing), as optimize() returned before
        return iter((self.archs, self.observed, self.timing))

    @property
    def simulated_seconds(self) -> float:
        return float(sum(self.seconds))

    @classmethod
    def from_results(cls, results: dict[str, Any]) -> SearchState:
        h = results["history"]
        return cls(
            archs=[Arch.from_dict(e["arch"]) for e in h],
            observed=[{**e["objectives"], **{PREFIX + k: v for k, v in e.get("constraints", {}).items()}}
                      for e in h],
            seconds=[float(e.get("simulated_seconds", 0.0)) for e in h], rounds=[e.get("rounds") for e in h],
            n_duplicates=int(results.get("n_duplicates", 0)),
        )
