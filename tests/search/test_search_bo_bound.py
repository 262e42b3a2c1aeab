"""The bounded BO step (issue 19): the fitted subset, warm-started fits, EHVI's unseen best candidate."""

from __future__ import annotations

import numpy as np
import pytest

from hwgpt.errors import InvalidInput
from hwgpt.search.optimizers.bo_bound import WarmStart, fit_subset, nondominated


def test_fit_subset_keeps_everything_under_the_cap() -> None:
    Y = np.random.default_rng(0).random((30, 2))
    assert fit_subset(Y, 30, np.random.RandomState(0)) is None
    assert fit_subset(Y, None, np.random.RandomState(0)) is None


def test_fit_subset_front_recent_then_random() -> None:
    rng = np.random.default_rng(1)
    Y = rng.random((300, 2))
    keep = fit_subset(Y, 64, np.random.RandomState(0))
    assert keep is not None and len(keep) == 64 and len(set(keep.tolist())) == 64
    assert (np.diff(keep) > 0).all()
    front = np.flatnonzero(nondominated(Y))
    assert 0 < len(front) <= 32 and set(front.tolist()) <= set(keep.tolist())
    rest = sorted(set(range(300)) - set(front.tolist()))
    assert set(rest[-16:]) <= set(keep.tolist())  # the 16 most recent (a quarter of the cap)
    again = fit_subset(Y, 64, np.random.RandomState(0))
    assert (keep == again).all()  # seeded


def test_fit_subset_caps_a_large_front() -> None:
    t = np.linspace(0, 1, 100)
    Y = np.stack([t, 1 - t], axis=1)  # all non-dominated
    keep = fit_subset(Y, 40, np.random.RandomState(0))
    assert keep is not None and len(keep) == 40


def test_fit_subset_random_is_uniform_subset() -> None:
    Y = np.random.default_rng(2).random((100, 3))
    keep = fit_subset(Y, 50, np.random.RandomState(0), subset="random")
    assert keep is not None and len(set(keep.tolist())) == 50


def test_warm_start_loads_the_previous_fit_and_refits_on_schedule() -> None:
    import torch

    class M(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.raw = torch.nn.Parameter(torch.zeros(3))

    w = WarmStart(True, maxiter=7, refit_every=3)
    first = M()
    assert w.start("y", first, 50) == 50  # nothing to start from
    with torch.no_grad():
        first.raw.add_(1.5)
    w.keep("y", first)
    second = M()
    assert w.start("y", second, 50) == 7 and torch.equal(second.raw, first.raw)
    w.keep("y", second)
    assert w.start("y", M(), 50) == 7
    third = M()
    assert w.start("y", third, None) is None  # every 3rd fit from the defaults (full budget: None)
    assert torch.equal(third.raw, torch.zeros(3))
    off = WarmStart(False)
    off.keep("y", first)
    assert off.start("y", M(), 50) == 50
    with pytest.raises(InvalidInput):
        WarmStart(True, maxiter=0)
    with pytest.raises(InvalidInput):
        WarmStart(True, refit_every=0)


def _observe(n: int, seed: int = 0) -> list[tuple[dict, list[float]]]:
    from hwgpt.search_space import SearchSpace

    space = SearchSpace.from_name("tiny")
    out = []
    for a in space.sample_unique(n, seed=seed):
        c = space.to_config(a)
        out.append((c, [a.embed_dim / 256 + 0.01 * a.n_layer, 1.0 - a.embed_dim / 300]))
    return out


@pytest.mark.parametrize("name", ["rsbo", "lsbo"])
def test_scalarized_bo_warm_steps_run_and_suggest_unseen(name: str) -> None:
    from hwgpt.search.optimizers.lsbo import LinearScalarizationBO
    from hwgpt.search.optimizers.rsbo import RandomScalarizationBO
    from hwgpt.search_space import SearchSpace

    cls = {"rsbo": RandomScalarizationBO, "lsbo": LinearScalarizationBO}[name]
    cs = SearchSpace.from_name("tiny").to_syne_tune()
    s = cls(cs, scale="tiny", random_seed=0, num_candidates=32, num_local=8, max_num_observations=12,
            warm_maxiter=3, refit_every=2)
    for i, (c, y) in enumerate(_observe(16)):
        s.on_trial_complete(i, c, y)
    for i in range(3):  # full fit, warm fit, full fit
        c = s.suggest()
        assert s.key(c) not in {s.key(x) for x in s.trial_configs.values()}
        s.on_trial_complete(100 + i, c, [0.5, 0.5])
    assert s.warm._fits["objective"] == 3
    with pytest.raises(InvalidInput):
        cls(cs, scale="tiny", subset="newest")


def test_ehvi_skips_suggested_architectures() -> None:
    import torch

    from hwgpt.search.optimizers.ehvi import EHVISearcher, _key
    from hwgpt.search_space import SearchSpace

    cs = SearchSpace.from_name("tiny").to_syne_tune()
    data = _observe(12, seed=3)
    picks = {}
    for skip in (False, True):
        s = EHVISearcher(cs, reference=1.1, random_seed=0, num_init_random=2, optimization_strategy="random",
                         num_raw_samples=16, mc_samples=8, skip_seen=skip, max_num_observations=8)
        for i, (c, y) in enumerate(data):
            s.trial_configs[i] = c
            s.on_trial_complete(i, c, y)
        torch.manual_seed(0)
        picks[skip] = s._sample_next_candidate()
        if skip:
            assert _key(picks[skip]) not in {_key(c) for c, _ in data}
        assert s.warm._fits == {"objective0": 1, "objective1": 1}
