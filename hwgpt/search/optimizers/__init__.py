"""Multi-objective searchers on Syne Tune's searcher interface, one per module.

Syne Tune ships random search, MOREA and EHVI (used through conf/optimizer/); the others are
built on pymoo (NSGA-II, local search's non-dominated sorting) and botorch (RSBO, LSBO).
"""

from __future__ import annotations

from hwgpt.search.optimizers.base import MOSearcher
from hwgpt.search.optimizers.local_search import LocalSearcher
from hwgpt.search.optimizers.lsbo import LinearScalarizationBO
from hwgpt.search.optimizers.nsga2 import NSGA2Searcher
from hwgpt.search.optimizers.rsbo import RandomScalarizationBO

__all__ = ["LinearScalarizationBO", "LocalSearcher", "MOSearcher", "NSGA2Searcher", "RandomScalarizationBO"]
