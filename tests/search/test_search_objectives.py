"""Objective parsing, per-objective devices, normalisation direction, problem checks."""

from __future__ import annotations

import numpy as np
import pytest

from hwgpt.search import Normalization, SurrogateProblem, parse_objectives


def test_parse_devices_and_forms() -> None:
    objs = parse_objectives(["perplexity", "latency@rtx2080", "energy"], "cpu")
    assert [(o.name, o.metric, o.device) for o in objs] == [
        ("perplexity", "perplexity", None), ("latency@rtx2080", "latency", "rtx2080"), ("energy", "energy", "cpu")
    ]
    objs = parse_objectives(["perplexity", "latency", "energy"], "cpu", {"latency": "rtx2080"})
    assert [o.device for o in objs] == [None, "rtx2080", "cpu"]


@pytest.mark.parametrize(
    ("objectives", "devices", "match"),
    [
        (["perplexity", "speed"], {}, "unknown objective metric 'speed'.*allowed"),
        (["perplexity", "perplexity"], {}, "duplicates"),
        (["latency", "latency@cpu"], {}, "duplicates"),
        (["perplexity", "latency"], {"energy": "cpu"}, r"devices: \['energy'\] are not objectives"),
        (["perplexity@cpu", "latency"], {}, "does not depend on the device"),
        ([], {}, "non-empty list"),
        ("perplexity", {}, "non-empty list"),
    ],
)
def test_parse_errors(objectives, devices, match) -> None:
    with pytest.raises(ValueError, match=match):
        parse_objectives(objectives, "cpu", devices)


def test_accuracy_is_minimised_as_error() -> None:
    objs = tuple(parse_objectives(["accuracy", "latency"]))
    norm = Normalization(objs, {"accuracy": (0.2, 0.6), "latency": (1.0, 3.0)})
    y = norm({"accuracy": np.array([0.6, 0.2, 0.4]), "latency": np.array([1.0, 3.0, 2.0])})
    assert np.allclose(y, [[0.0, 0.0], [1.0, 1.0], [0.5, 0.5]])
    assert norm.to_dict() == {"accuracy": [0.2, 0.6], "latency": [1.0, 3.0]}
    with pytest.raises(ValueError, match="hi > lo"):
        Normalization(objs, {"accuracy": (0.5, 0.5), "latency": (1.0, 3.0)})


def test_problem_checks_devices_and_surrogates_before_work(fake) -> None:
    with pytest.raises(ValueError, match=r"unknown device 'h100'.*devices with surrogates: \['cpu', 'rtx2080'\]"):
        SurrogateProblem(fake, "tiny", parse_objectives(["perplexity", "latency"], "h100"), "h100")
    with pytest.raises(ValueError, match=r"no energy surrogate for device 'rtx2080'.*devices with one: \['cpu'\]"):
        SurrogateProblem(fake, "tiny", parse_objectives(["perplexity", "energy@rtx2080"], "cpu"), "cpu")


def test_problem_noise_and_medians(fake) -> None:
    objs = parse_objectives(["perplexity", "latency@rtx2080", "energy"], "cpu")
    noisy = SurrogateProblem(fake, "tiny", objs, "cpu", noise=True, seed=0)
    exact = SurrogateProblem(fake, "tiny", objs, "cpu", noise=False)
    assert noisy.devices == {"latency@rtx2080": "rtx2080", "energy": "cpu"}
    arch = noisy.space.sample(3)
    med = exact.evaluate(arch, 0)
    assert med == {k: float(v[0]) for k, v in exact.medians([arch]).items()}
    a, b = noisy.evaluate(arch, 0), noisy.evaluate(arch, 1)
    assert a == noisy.evaluate(arch, 0) and a != b  # seeded per evaluation
    assert all(abs(np.log(a[k] / med[k])) < 0.5 for k in a)
    bounds = exact.normalization(50).bounds
    assert all(lo < hi for lo, hi in bounds.values())
