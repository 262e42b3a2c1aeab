"""Hypervolume (pymoo/moocore) against independent computations; Pareto masks against brute force."""

from __future__ import annotations

import numpy as np
import pytest

from hwgpt.search.hypervolume import hypervolume, hypervolume_curve, pareto_mask


def _sweep_2d(F: np.ndarray, ref: np.ndarray) -> float:
    """Exact 2-D hypervolume: sort by the first objective, add one rectangle per new best second objective."""
    F = F[(F < ref).all(axis=1)]
    total, best_y = 0.0, ref[1]
    for x, y in sorted(map(tuple, F)):
        if y < best_y:
            total += (ref[0] - x) * (best_y - y)
            best_y = y
    return total


def _brute_mask(F: np.ndarray) -> np.ndarray:
    n = len(F)
    dominated = [any((F[j] <= F[i]).all() and (F[j] < F[i]).any() for j in range(n)) for i in range(n)]
    first = [not any((F[j] == F[i]).all() for j in range(i)) for i in range(n)]
    return ~np.array(dominated) & np.array(first)


@pytest.mark.parametrize("seed", range(5))
def test_2d_matches_exact_sweep(seed: int) -> None:
    rng = np.random.default_rng(seed)
    F = rng.random((60, 2)) * 1.3 - 0.1  # some points outside the reference box, some below 0
    ref = np.array([1.1, 1.1])
    assert hypervolume(F, ref) == pytest.approx(_sweep_2d(F, ref), rel=1e-12, abs=1e-12)


def test_3d_matches_monte_carlo() -> None:
    rng = np.random.default_rng(0)
    F = rng.random((30, 3))
    F = F / np.linalg.norm(F, axis=1, keepdims=True)  # points on a sphere: a curved front
    ref = np.full(3, 1.1)
    U = rng.random((400_000, 3)) * ref
    dominated = np.zeros(len(U), dtype=bool)
    for y in F:
        dominated |= (U >= y).all(axis=1)
    mc = dominated.mean() * np.prod(ref)
    se = np.sqrt(dominated.mean() * (1 - dominated.mean()) / len(U)) * np.prod(ref)
    assert abs(hypervolume(F, ref) - mc) < 4 * se


def test_known_values_and_edge_cases() -> None:
    ref = np.array([1.0, 1.0])
    assert hypervolume(np.array([[0.0, 0.0]]), ref) == pytest.approx(1.0)
    assert hypervolume(np.array([[0.5, 0.5], [0.5, 0.5]]), ref) == pytest.approx(0.25)
    assert hypervolume(np.array([[1.0, 0.0], [2.0, -5.0]]), ref) == 0.0  # on or outside the box
    assert hypervolume(np.zeros((0, 2)), ref) == 0.0


@pytest.mark.parametrize("seed", range(3))
def test_pareto_mask_matches_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    F = rng.integers(0, 6, size=(80, 3)).astype(float)  # many ties and duplicates
    assert (pareto_mask(F) == _brute_mask(F)).all()


def test_curve_is_monotone_and_matches_prefix_recomputation() -> None:
    rng = np.random.default_rng(1)
    F = rng.random((50, 2)) * 1.2
    ref = np.array([1.1, 1.1])
    curve = hypervolume_curve(F, ref)
    assert [n for n, _ in curve] == list(range(1, 51))
    hv = np.array([h for _, h in curve])
    assert (np.diff(hv) >= 0).all()
    for n in (1, 7, 23, 50):
        assert hv[n - 1] == pytest.approx(hypervolume(F[:n], ref), abs=1e-12)
