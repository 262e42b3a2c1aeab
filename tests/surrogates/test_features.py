"""Batched features equal the search space's encoding and the exact cost model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hwgpt import Arch, SearchSpace, cost
from hwgpt.surrogates.features import FeatureSpec, arch_arrays, build_features, cost_arrays, feature_names, features


@pytest.mark.parametrize("name", ["tiny", "s", "l"])
@pytest.mark.parametrize("n", [3, 40])  # per-arch and vectorised validation paths
def test_features_match_encode_and_cost(name: str, n: int) -> None:
    space = SearchSpace.from_name(name)
    archs = space.sample_unique(n, seed=1) + [space.smallest(), space.largest()]
    spec = FeatureSpec(batch=2, seq_len=64, dtype="bfloat16")
    aa = arch_arrays(archs, space)
    c = cost_arrays(aa, space, spec)
    for i, a in enumerate(archs):
        assert c["params"][i] == cost.params(a, space)
        assert c["flops"][i] == cost.flops(a, space, 2, 64)
        assert c["memory"][i] == cost.memory(a, space, 2, 64, torch.bfloat16).total
    X = features(aa, space, spec)
    assert X.shape == (len(archs), len(feature_names(space)))
    np.testing.assert_array_equal(X[:, : len(space.feature_names)], space.encode(archs))


@pytest.mark.parametrize("n_extra", [0, 30])
def test_invalid_arch_raises_the_space_error(n_extra: int) -> None:
    space = SearchSpace.from_name("tiny")
    bad = Arch(64, 4, (2, 2, 2, 3), (2, 2, 2, 2), True)
    with pytest.raises(ValueError) as expected:
        space.validate(bad)
    with pytest.raises(ValueError) as got:
        arch_arrays(space.sample_unique(n_extra, 0) + [bad], space)
    assert str(got.value) == str(expected.value)
    with pytest.raises(ValueError, match="hwgpt.Arch"):
        arch_arrays(["not an arch"], space)


def test_empty_and_single() -> None:
    space = SearchSpace.from_name("tiny")
    assert features(arch_arrays([], space), space, FeatureSpec()).shape == (0, len(feature_names(space)))
    assert build_features(space.sample(0), space, FeatureSpec()).shape == (1, len(feature_names(space)))
    with pytest.raises(ValueError, match="dtype"):
        FeatureSpec(dtype="float33")


def test_features_by_spec_equal_one_call_per_setting() -> None:
    """The simulator fills the caches of surrogates in different settings from one call: the same bits as
    :func:`features` once per setting (and the same cost breakdowns), at every scale."""
    from hwgpt.surrogates.features import features_by_spec

    for name in ("tiny", "s", "l"):
        space = SearchSpace.from_name(name)
        aa = arch_arrays(space.sample_unique(300, seed=2) + [space.smallest(), space.largest()], space)
        specs = [FeatureSpec(1, space.block_size), FeatureSpec(8, space.block_size), FeatureSpec(3, 17, "bfloat16")]
        many = features_by_spec(aa, space, [*specs, specs[0]])
        assert list(many) == specs
        for s in specs:
            np.testing.assert_array_equal(many[s], features(aa, space, s))
        for s, b in zip(specs, cost.breakdowns(aa, space, [(s.batch, s.seq_len, s.dtype) for s in specs]), strict=True):
            one = cost.breakdown(aa, space, s.batch, s.seq_len, s.dtype)
            assert b.keys() == one.keys() and all(np.array_equal(b[k], one[k]) for k in one)
