"""The benchmark as a Syne Tune blackbox with fidelity ``rounds`` (:class:`HWGPTBlackbox`), for Syne Tune's
simulator backend (:mod:`hwgpt.search.multifidelity` runs it: ``optimizer=moasha``).

Fidelity: ``rounds`` in ``1..simulation.repeats`` (10 by default), the share of the measurement
protocol done so far (:mod:`hwgpt.search.problem`): ``r`` timed forwards per hardware metric (the
observation is their median) and ``r / R`` of the perplexity windows. More rounds cost more
simulated time (:meth:`hwgpt.Benchmark.simulated_seconds` at ``r`` rounds, cumulative, so a trial
stopped at a rung has paid for the rounds it got) and are less noisy. Every result the scheduler
sees is the normalised, minimised objective vector (as the ask/tell searchers are told).

A trial's configuration is a random draw, so the blackbox computes the next trials ahead in batches (the
look-ahead, :meth:`HWGPTBlackbox._look_ahead`): the same values, bit for bit, as one trial at a time.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from syne_tune.blackbox_repository.blackbox import Blackbox, ObjectiveFunctionResult
from syne_tune.config_space import Categorical, randint
from syne_tune.optimizer.schedulers.multiobjective.moasha import MOASHA as _SyneTuneMOASHA

from hwgpt.errors import InvalidInput
from hwgpt.search.objectives import Normalization
from hwgpt.search.problem import SurrogateProblem
from hwgpt.search_space import Arch

FIDELITY = "rounds"
LOOK_AHEAD = 64
"""Configurations a trial's blackbox call computes ahead (:meth:`HWGPTBlackbox._look_ahead`), at first; later
as many as the trials so far, up to :data:`LOOK_AHEAD_MAX`."""
LOOK_AHEAD_MAX = 512
"""The largest look-ahead batch. A batch has a fixed cost (~2 ms on the tiny surrogates: the surrogates'
predictor calls, one simulated-seconds call per fidelity, numpy's per-call costs), so larger batches cost less
per trial (7,000 trials: 0.092 ms per trial at 64, 0.078 at 256, 0.068 at 512, 0.067 at 1,024); growing with the
run keeps the guesses a run never evaluates (the batch it ends in) below the trials it did."""
ELAPSED = "elapsed_time"


def metric_names(problem: SurrogateProblem) -> list[str]:
    """Result keys of the objectives (``objective_<j>``: objective names may hold ``@``)."""
    return [f"objective_{j}" for j in range(len(problem.names))]


class _Rounds(Sequence):
    """A trial's ``[(raw objectives, simulated seconds) at 1..R rounds]`` from its arrays (``values`` ``(R,
    objectives)`` in ``names``' order, ``secs`` ``(R,)``), each pair built when read: a run reads one fidelity
    of each trial (the last it reached), and most of the look-ahead's trials stop at a low rung."""

    __slots__ = ("names", "values", "secs")

    def __init__(self, names: list[str], values: np.ndarray, secs: np.ndarray) -> None:
        self.names, self.values, self.secs = names, values, secs

    def __len__(self) -> int:
        return len(self.secs)

    def __getitem__(self, r: int) -> tuple[dict[str, float], float]:  # type: ignore[override]
        if isinstance(r, slice):
            raise TypeError("_Rounds: index one fidelity at a time")
        return dict(zip(self.names, self.values[r].tolist(), strict=True)), float(self.secs[r])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]


def _uniform_choices(cs: dict[str, Any], space_cs: dict[str, Any]) -> np.ndarray | None:
    """Every key's choices as the rows of an object array (padded with None), if ``cs`` draws each key
    uniformly from the choices of ``space_cs`` (:meth:`SearchSpace.to_syne_tune`), in its key order; else None."""
    if list(cs) != list(space_cs):
        return None
    cats = []
    for v, w in zip(cs.values(), space_cs.values(), strict=True):
        if type(v) is not Categorical or type(v.get_sampler()) is not Categorical._Uniform:
            return None
        if list(v.categories) != list(w.categories):
            return None
        cats.append(list(v.categories))
    table = np.full((len(cats), max(map(len, cats))), None, dtype=object)
    for k, c in enumerate(cats):
        table[k, :len(c)] = c
    return table


class HWGPTBlackbox(Blackbox):
    """:class:`SurrogateProblem` as a Syne Tune blackbox with fidelity ``rounds``.

    Args:
        problem: The black box (its ``protocol.repeats`` is the largest fidelity).
        normalization: Objective normalisation (the results hold normalised, minimised values).

    Attributes:
        raw: ``{evaluation index: [(raw objectives, simulated seconds) at 1..R rounds]}`` of every trial (a
            sequence of those pairs: built when read for the trials answered ahead).
        archs: The arch of each trial, by evaluation index; each call of the objective function is a new trial.
    """

    def __init__(self, problem: SurrogateProblem, normalization: Normalization) -> None:
        R = problem.max_rounds
        super().__init__(configuration_space=problem.space.to_syne_tune(),
                         fidelity_space={FIDELITY: randint(1, R)},
                         objectives_names=[*metric_names(problem), ELAPSED])
        self.problem, self.normalization = problem, normalization
        self.raw: dict[int, Sequence[tuple[dict[str, float], float]]] = {}
        self.archs: list[Arch] = []
        self._keys = tuple(self.configuration_space)  # a configuration's values in this order key _decoded
        # every key's choices (rows padded), where the space's configurations are drawn uniformly from the
        # choices of problem.space.to_syne_tune(), which SearchSpace.from_choice_indices decodes; else None
        self._choices = _uniform_choices(self.configuration_space, problem.space.to_syne_tune())
        self._counts = [] if self._choices is None else [len(v.categories) for v in self.configuration_space.values()]
        self._rounds = list(range(1, R + 1))
        self.seconds_spent = 0.0  # wall time of the benchmark queries
        self._guessed: set[Arch] = set()  # archs whose surrogate rows were computed ahead (see _look_ahead)
        # the guessed configurations (their values in the config space's key order) -> their decoded archs
        self._decoded: dict[tuple, Arch] = {}
        # {evaluation index: (arch, every fidelity's (raw, seconds), the result rows)} of the guessed trials,
        # answered ahead in one batch (see _answer_ahead)
        self._answers: dict[int, tuple[Arch, Sequence[tuple[dict[str, float], float]], np.ndarray]] = {}
        self._hits = -1  # hits since the last look-ahead (-1: none yet); a look-ahead without any: stop guessing
        self.scheduler: Any = None  # the scheduler, whose draws between configurations _look_ahead replays
        self.guesses = [0, 0]  # (trials whose arch was computed ahead, trials)

    def _look_ahead(self, current: Arch | None = None) -> None:
        """Compute the next :data:`LOOK_AHEAD` or more trials that a random searcher drawing from numpy's global
        generator would start (Syne Tune's random searcher, MOASHA's) ahead, in one batch: every fidelity of
        each (:meth:`SurrogateProblem.observe_rounds_many`; with budgets, the surrogate rows only). Values never
        depend on how they were computed, so a wrong guess only wastes the batch. The generator's state is
        restored: the run's sequence of configurations is unchanged. ``current``: the arch of the trial being
        evaluated (the miss that called this), computed in the same batch at its index rather than alone
        (one arch through the surrogates costs ~0.5 ms, about a batch of 64 through numpy's per-call cost)."""
        m = min(LOOK_AHEAD_MAX, max(LOOK_AHEAD, len(self.archs)))
        drawn = self._draw_ahead(m)
        if drawn is None:
            return
        self._decoded, archs = drawn
        self._guessed, self._answers = set(archs), {}
        batch = archs if current is None else [current, *archs]
        if getattr(self.problem, "constraints", None) is None and hasattr(self.problem, "observe_rounds_many"):
            # every fidelity of each guessed trial, at the index it gets if the guesses hold (the current
            # trial takes len(self.archs)); a trial that differs is computed when it comes
            start = len(self.archs) + (current is None)
            got = self.problem.observe_rounds_many(batch, start=start)
            if got is not None:
                self._answer_ahead(batch, start, *got)
        else:
            self.problem.prefetch(batch)

    def _draw_ahead(self, m: int) -> tuple[dict[tuple, Arch], list[Arch]] | None:
        """The next ``m`` configurations the searcher draws from numpy's global generator: ``({their values in
        the config space's key order: decoded arch}, the archs in draw order)``, with the generator's state
        restored; None if they cannot be decoded (not this space's sampler)."""
        # MOASHA's on_trial_add draws a bracket per trial, np.random.choice(len(brackets), p=...): one
        # random_sample of numpy's global generator, i.e. two 32-bit outputs of its MT19937
        brackets = isinstance(self.scheduler, _SyneTuneMOASHA) and bool(getattr(self.scheduler, "brackets", None))
        cs = self.configuration_space
        state = np.random.get_state()
        try:
            if self._choices is not None:
                # Syne Tune's uniform categorical draws ``np.random.choice(len(categories), size=1)`` per key,
                # in order: the same numbers as one ``randint`` over every key's count (masked rejection per
                # value, one 32-bit output per try), and a bound of 2**32 takes exactly one output, so one
                # call with the bounds of all m configurations (and two 2**32 per bracket draw) replays them
                # all (tests/search/test_moasha_lookahead.py checks the configurations and the state)
                bounds = np.tile(np.array(self._counts + [2**32, 2**32] * brackets, dtype=np.int64), m)
                idx = np.random.randint(0, bounds).reshape(m, -1)[:, :len(self._counts)]
            else:
                configs = []
                for _ in range(m):
                    configs.append({k: v.sample() if hasattr(v, "sample") else v for k, v in cs.items()})
                    if brackets:
                        np.random.random_sample()
        finally:
            np.random.set_state(state)
        if self._choices is not None:
            archs = self.problem.space.from_choice_indices(idx)
            values = self._choices[np.arange(idx.shape[1]), idx].tolist()
            return dict(zip(map(tuple, values), archs, strict=True)), archs
        archs = []
        for c in configs:
            try:
                archs.append(self.problem.space.from_config(c))
            except InvalidInput:  # not this space's sampler after all: no guess
                return None
        return {tuple(c[k] for k in cs): a for c, a in zip(configs, archs, strict=True)}, archs

    def _answer_ahead(self, archs: list[Arch], start: int, values: np.ndarray, secs: np.ndarray) -> None:
        """The answers of the guessed trials (``archs[k]`` as evaluation ``start + k``), ahead, from their
        observations at every fidelity (:meth:`SurrogateProblem.observe_rounds_many`: ``values`` ``(n, R,
        objectives)``, ``secs`` ``(n, R)``), normalised in one call for the whole batch. A trial answers from
        here if it is the guessed arch at the guessed index (:meth:`_objective_function`); the values are the
        same bits as one trial at a time (elementwise ``(v - lo) / (hi - lo)``, seconds copied). A
        normalisation error (a non-finite value) is left to the trial that meets it, as without the look-ahead."""
        names = self.problem.names
        try:
            ys = self.normalization({name: values[:, :, j] for j, name in enumerate(names)})
        except InvalidInput:
            return
        rows = np.concatenate([ys, secs[:, :, None]], axis=-1)
        self._answers = {start + k: (a, _Rounds(names, values[k], secs[k]), rows[k]) for k, a in enumerate(archs)}

    def _result_rows(self, observed: list[list[tuple[dict[str, float], float]]]) -> np.ndarray:
        """``(trials, rounds, objectives + seconds)``: each trial's every-fidelity observations as result rows,
        normalised in one call (elementwise ``(v - lo) / (hi - lo)``: the same bits for one trial or many),
        the simulated seconds copied."""
        ys = self.normalization({n: [[raw[n] for raw, _ in obs] for obs in observed] for n in observed[0][0][0]})
        secs = np.array([[t for _, t in obs] for obs in observed], dtype=np.float64)
        return np.concatenate([ys, secs[:, :, None]], axis=-1)

    @property
    def fidelity_values(self) -> np.ndarray:
        return np.arange(1, self.problem.max_rounds + 1)

    def _objective_function(self, configuration: dict[str, Any], fidelity: dict | None = None,
                            seed: int | None = None) -> ObjectiveFunctionResult:
        t0 = time.perf_counter()
        arch = self._decoded.get(tuple(map(configuration.get, self._keys)))
        if arch is None:  # (not a guessed configuration: decoded and validated now)
            arch = self.problem.space.from_config(configuration)
        self.guesses[1] += 1
        if arch in self._guessed:
            self.guesses[0] += 1
            self._hits += 1
        elif self._hits != 0:  # a miss (or the first trial): the next ones, from where the generator is now
            self._hits = 0
            self._look_ahead(arch)
        index = len(self.archs)
        self.archs.append(arch)
        answer = self._answers.pop(index, None)
        if answer is not None and answer[0] is arch:  # the guessed trial at its guessed index: answered ahead
            self.raw[index], out = answer[1], answer[2]
        else:
            self.raw[index], out = self._answer(arch, index)
        self.seconds_spent += time.perf_counter() - t0
        if fidelity is not None:
            return dict(zip(self.objectives_names, out[int(fidelity[FIDELITY]) - 1].tolist(), strict=True))
        return out

    def _answer(self, arch: Arch, index: int) -> tuple[list[tuple[dict[str, float], float]], np.ndarray]:
        """``(every fidelity's (raw objectives, simulated seconds), the result rows)`` of trial ``index``."""
        observed, rows = [], []
        cons = getattr(self.problem, "constraints", None)  # budgets: infeasible results rank last
        if cons is None and hasattr(self.problem, "observe_rounds"):  # every fidelity at once, the same values
            observed = self.problem.observe_rounds(arch, index)
            return observed, self._result_rows([observed])[0]
        for r in self._rounds:
            raw, secs = self.problem.observe(arch, index, r)
            y = self.normalization(raw).tolist()
            if cons is not None:
                from hwgpt.search.constraints import told_metrics
                from hwgpt.search.problem import observation_seed

                raw = {**raw, **cons.observe(arch, observation_seed(self.problem.seed, index), r, self.problem.noise)}
                y = told_metrics(y, cons.slack(raw), "moasha")
            observed.append((raw, secs))
            rows.append([*y, secs])
        return observed, np.asarray(rows, dtype=np.float64)
