"""Multi-objective architecture search on the benchmark (Syne Tune ask/tell, pymoo, botorch).

``run(cfg)`` is ``python search.py``; the pieces are importable on their own.
"""

from __future__ import annotations

from hwgpt.search.budget import Constraint, parse_constraints
from hwgpt.search.hypervolume import hypervolume, hypervolume_curve, pareto_mask
from hwgpt.search.objectives import Normalization, Objective, parse_objectives
from hwgpt.search.problem import SurrogateProblem
from hwgpt.search.runner import optimize, run

__all__ = [
    "Constraint", "Normalization", "Objective", "SurrogateProblem", "hypervolume", "hypervolume_curve", "optimize",
    "parse_constraints", "parse_objectives", "pareto_mask", "run",
]
