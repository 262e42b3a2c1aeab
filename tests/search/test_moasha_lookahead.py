"""moasha computes the surrogate rows of its next random configurations ahead, in one batch (issue 19):
the run (configurations, observations, rounds, seconds) is the same as without, and the guesses hit."""

from __future__ import annotations

from pathlib import Path

import pytest

from hwgpt.search import run
from hwgpt.search.blackbox import HWGPTBlackbox


def _moasha(search_cfg, run_dir: Path) -> dict:  # noqa: ANN001
    return run(search_cfg("optimizer=moasha", "n_evals=150", "benchmark._target_=hwgpt.benchmark.Benchmark",
                          "device=cpu", "normalization.n_archs=50", run_dir=run_dir))


def test_moasha_look_ahead_keeps_the_run_and_hits(search_cfg, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    boxes: list[HWGPTBlackbox] = []
    look = HWGPTBlackbox._look_ahead

    def spy(self: HWGPTBlackbox, *args: object) -> None:
        boxes.append(self)
        look(self, *args)

    with monkeypatch.context() as m:
        m.setattr(HWGPTBlackbox, "_look_ahead", spy)
        ahead = _moasha(search_cfg, tmp_path / "ahead")
    hits, trials = boxes[-1].guesses
    assert trials >= 150 and hits >= trials - 3  # one look-ahead per 64 trials, the first trial a miss
    with monkeypatch.context() as m:
        m.setattr(HWGPTBlackbox, "_look_ahead", lambda self, *args: None)
        plain = _moasha(search_cfg, tmp_path / "plain")
    assert ahead["history"] == plain["history"]
    assert ahead["hypervolume"] == plain["hypervolume"]


@pytest.mark.parametrize("noise", [True, False])
def test_every_fidelity_at_once_equals_one_at_a_time(noise: bool) -> None:
    """observe_rounds (a moasha trial) gives the bits of observe at each number of rounds."""
    from hwgpt.benchmark import Benchmark
    from hwgpt.search import parse_objectives
    from hwgpt.search.problem import SurrogateProblem

    objectives = parse_objectives(["perplexity", "latency", "energy", "params"], "cpu")
    a, b = (SurrogateProblem(Benchmark, "tiny", objectives, "cpu", noise, 7) for _ in range(2))
    archs = a.space.sample_unique(12, 3)
    for i, arch in enumerate(archs):
        at_once = a.observe_rounds(arch, 100 + i)
        one = [b.observe(arch, 100 + i, r) for r in range(1, b.max_rounds + 1)]
        assert at_once == one  # floats compared exactly
    bench = Benchmark(scale="tiny", device="cpu")
    for arch in archs:
        assert bench.sample_observation_rounds(arch, "latency", 11, 7) == [
            bench.sample_observation(arch, "latency", 11, r) for r in range(1, 8)]


@pytest.mark.parametrize("scale", ["tiny", "s", "m", "l"])
@pytest.mark.parametrize("brackets", [False, True])
def test_bulk_draws_replay_syne_tunes(scale: str, brackets: bool) -> None:
    """The look-ahead's one randint over the bounds of every configuration (and MOASHA's bracket draws) gives
    the configurations Syne Tune's sampler draws, decoded as from_config decodes them, and leaves numpy's
    global generator where it was (the run goes on from there)."""
    import numpy as np
    from syne_tune.optimizer.schedulers.multiobjective.moasha import MOASHA

    from hwgpt.benchmark import Benchmark
    from hwgpt.search import parse_objectives
    from hwgpt.search.problem import SurrogateProblem

    device = "cpu" if scale == "tiny" else "a100"
    problem = SurrogateProblem(Benchmark, scale, parse_objectives(["params", "flops"], device), device)
    box = HWGPTBlackbox(problem, problem.normalization(20, 0))
    cs = box.configuration_space
    if brackets:
        box.scheduler = MOASHA(config_space=cs, metrics=["a", "b"], do_minimize=True, time_attr="rounds", max_t=10)
        assert box.scheduler.brackets
    np.random.seed(5)
    theirs = []
    for _ in range(200):
        theirs.append({k: v.sample() for k, v in cs.items()})
        if brackets:
            np.random.choice(len(box.scheduler.brackets), p=[1 / len(box.scheduler.brackets)] * len(
                box.scheduler.brackets))  # (MOASHA's on_trial_add: one random_sample)
    np.random.seed(5)
    before = np.random.get_state()
    decoded, archs = box._draw_ahead(200)  # noqa: SLF001
    now = np.random.get_state()
    assert (before[1] == now[1]).all() and before[2:] == now[2:]
    assert archs == [problem.space.from_config(c) for c in theirs]
    assert decoded == {tuple(c[k] for k in cs): a for c, a in zip(theirs, archs, strict=True)}
    assert all(type(v) is int for key in decoded for v in key)  # the keys of the configurations Syne Tune passes


@pytest.mark.parametrize("noise", [True, False])
def test_answers_ahead_equal_one_trial_at_a_time(noise: bool) -> None:
    """A batch of guessed trials answered ahead (observations and normalised result rows of every fidelity,
    one normalisation call) holds the bits of each trial answered alone, and a trial answers from it only as
    the guessed arch at the guessed index (an equal arch decoded anew is answered alone: the same bits)."""
    from hwgpt.benchmark import Benchmark
    from hwgpt.search import parse_objectives
    from hwgpt.search.problem import SurrogateProblem

    objectives = parse_objectives(["perplexity", "latency", "energy", "params"], "cpu")
    a, b = (SurrogateProblem(Benchmark, "tiny", objectives, "cpu", noise, 7) for _ in range(2))
    norm = a.normalization(50, 0)
    ahead, alone = HWGPTBlackbox(a, norm), HWGPTBlackbox(b, norm)
    archs = a.space.sample_unique(20, 3)
    ahead._answer_ahead(archs, 40, *a.observe_rounds_many(archs, start=40))  # noqa: SLF001
    for k, arch in enumerate(archs):
        guessed, observed, rows = ahead._answers[40 + k]  # noqa: SLF001
        want_observed, want_rows = alone._answer(arch, 40 + k)  # noqa: SLF001
        assert guessed is arch and observed == want_observed
        assert rows.dtype == want_rows.dtype and rows.shape == want_rows.shape
        assert rows.tobytes() == want_rows.tobytes()
    ahead.archs = [archs[0]] * 40  # the next trial takes index 40
    ahead._decoded = {}  # noqa: SLF001 - decoded from the configuration, an equal but other object
    ahead._hits = 0  # noqa: SLF001 - no look-ahead on this miss
    out = ahead._objective_function(a.space.to_config(archs[0]))  # noqa: SLF001
    assert out.tobytes() == alone._answer(archs[0], 40)[1].tobytes()  # noqa: SLF001
    assert ahead.raw[40] == alone._answer(archs[0], 40)[0]  # noqa: SLF001
    answered = ahead._answers[41][1]  # noqa: SLF001 - a trial answered ahead: its pairs, built when read
    assert len(answered) == 10 and list(answered) == alone._answer(archs[1], 41)[0]  # noqa: SLF001
    assert all(type(v) is float for raw, t in answered for v in [*raw.values(), t])
