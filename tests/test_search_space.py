"""The search space: presets vs the paper's Table 1, sampling, validation, encodings."""

from __future__ import annotations

import hashlib
import json
import pickle

import numpy as np
import pytest

from hwgpt import Arch, SearchSpace

TABLE_1 = {  # paper, Table 1 (embed, layers, heads); MLP ratio {2,3,4} and bias {T,F} everywhere
    "s": ([192, 384, 768], [10, 11, 12], [4, 8, 12]),
    "m": ([256, 512, 1024], [22, 23, 24], [8, 12, 16]),
    "l": ([320, 640, 1280], [34, 35, 36], [8, 16, 20]),
    "tiny": ([64, 128, 256], [4, 5, 6], [2, 4, 8]),
}


@pytest.mark.parametrize("name", sorted(TABLE_1))
def test_presets_match_table_1(name: str) -> None:
    space = SearchSpace.from_name(name)
    embed, layers, heads = TABLE_1[name]
    assert space.choices == {
        "embed_dim": embed, "n_layer": layers, "n_head": heads, "mlp_ratio": [2, 3, 4], "bias": [True, False]
    }
    if name == "tiny":
        assert (space.vocab_size, space.block_size, space.head_size) == (8192, 256, 32)
    else:
        assert (space.vocab_size, space.padded_vocab_size, space.block_size, space.head_size) == (
            50257, 50304, 1024, 64)


def test_unknown_scale_lists_options() -> None:
    with pytest.raises(ValueError, match=r"unknown scale 'xl'.*'l', 'm', 's', 'tiny'"):
        SearchSpace.from_name("xl")


@pytest.mark.parametrize("name", sorted(TABLE_1))
def test_sampling_is_deterministic_and_in_space(name: str) -> None:
    space = SearchSpace.from_name(name)
    assert space.sample(7) == space.sample(7)
    archs = [space.sample(s) for s in range(200)]
    for a in archs:
        assert space.validate(a) is a
        assert len(a.n_head) == len(a.mlp_ratio) == a.n_layer
    assert len({a.id for a in archs}) > 190


def test_per_layer_choices_are_independent_and_uniform() -> None:
    space = SearchSpace.from_name("tiny")
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(3000)]
    mixed = [a for a in archs if len(set(a.n_head)) > 1]
    assert len(mixed) > 0.8 * len(archs)  # i.i.d. per layer: uniform heads are rare
    first = np.array([a.n_head[0] for a in archs])
    for h in space.n_head:  # each choice ~1/3
        assert abs((first == h).mean() - 1 / 3) < 0.05
    assert abs(np.mean([a.bias for a in archs]) - 0.5) < 0.05


def test_smallest_largest() -> None:
    space = SearchSpace.from_name("s")
    lo, hi = space.smallest(), space.largest()
    assert (lo.embed_dim, lo.n_layer, set(lo.n_head), set(lo.mlp_ratio), lo.bias) == (192, 10, {4}, {2}, False)
    assert (hi.embed_dim, hi.n_layer, set(hi.n_head), set(hi.mlp_ratio), hi.bias) == (768, 12, {12}, {4}, True)


def test_sample_unique() -> None:
    archs = SearchSpace.from_name("tiny").sample_unique(50, seed=3)
    assert len({a.id for a in archs}) == 50
    assert archs == SearchSpace.from_name("tiny").sample_unique(50, seed=3)


def test_dict_json_round_trip_and_stable_id() -> None:
    a = SearchSpace.from_name("m").sample(1)
    d = json.loads(json.dumps(a.to_dict()))
    b = Arch.from_dict(d)
    assert a == b and a.id == b.id and hash(a) == hash(b)
    canonical = '{"bias":true,"embed_dim":64,"mlp_ratio":[2],"n_head":[2],"n_layer":1}'
    assert Arch(64, 1, (2,), (2,), True).id == hashlib.sha1(canonical.encode()).hexdigest()[:16] == "b149d6b118fd927f"



def test_canonical_json_is_json_dumps_bytes() -> None:
    """``Arch.to_json`` formats the canonical JSON by hand (speed): the bytes of ``json.dumps`` with sorted keys."""
    archs = [a for name in ("tiny", "s", "l") for a in SearchSpace.from_name(name).sample_unique(200, seed=3)]
    archs += [Arch(64, 1, (2,), (2,), False), Arch(10**12, 2, (1, 10**18), (3, 4), True),
              Arch(np.int64(64), 1, (np.int32(2),), (2,), np.bool_(True))]
    for a in archs:
        canonical = json.dumps(a.to_dict(), sort_keys=True, separators=(",", ":"))
        assert a.to_json() == canonical
        assert a.id == hashlib.sha1(canonical.encode()).hexdigest()[:16]


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        (dict(bias="False"), r"'bias': expected a bool, got 'False'"),
        (dict(embed_dim="784"), r"'embed_dim': expected an int, got '784'"),
        (dict(embed_dim=784.0), r"'embed_dim': expected an int, got 784.0"),
        (dict(n_layer=True), r"'n_layer': expected an int, got True"),
        (dict(n_head=(4, "8")), r"'n_head\[1\]': expected an int, got '8'"),
        (dict(n_head=(4,)), r"'n_head': needs one entry per layer \(n_layer=2\), got 1"),
        (dict(mlp_ratio=3), r"'mlp_ratio': expected a tuple of ints"),
    ],
)
def test_arch_type_errors_name_field_and_value(kwargs: dict, pattern: str) -> None:
    base = dict(embed_dim=192, n_layer=2, n_head=(4, 8), mlp_ratio=(2, 3), bias=True)
    with pytest.raises(ValueError, match=pattern):
        Arch(**{**base, **kwargs})


@pytest.mark.parametrize(
    ("field", "value", "pattern"),
    [
        ("embed_dim", 200, r"'embed_dim' = 200 is not in scale 's'; allowed: \[192, 384, 768\]"),
        ("n_layer", 9, r"'n_layer' = 9 .*allowed: \[10, 11, 12\]"),
        ("n_head", (4,) * 9 + (5,), r"'n_head\[9\]' = 5 .*allowed: \[4, 8, 12\]"),
        ("mlp_ratio", (2,) * 9 + (8,), r"'mlp_ratio\[9\]' = 8 .*allowed: \[2, 3, 4\]"),
    ],
)
def test_validate_names_field_value_and_allowed(field: str, value, pattern: str) -> None:
    space = SearchSpace.from_name("s")
    d = dict(embed_dim=192, n_layer=10, n_head=(4,) * 10, mlp_ratio=(2,) * 10, bias=False)
    d[field] = value
    if field == "n_layer":
        d.update(n_head=(4,) * 9, mlp_ratio=(2,) * 9)
    with pytest.raises(ValueError, match=pattern):
        space.validate(Arch(**d))


def test_from_dict_rejects_unknown_and_missing_keys() -> None:
    with pytest.raises(ValueError, match=r"unknown keys \['heads'\], missing keys \['n_head'\]"):
        Arch.from_dict(dict(embed_dim=64, n_layer=1, heads=[2], mlp_ratio=[2], bias=True))


def test_encoding_pads_inactive_layers() -> None:
    space = SearchSpace.from_name("tiny")
    a = Arch(128, 4, (2, 4, 8, 2), (2, 3, 4, 2), False)
    x = space.encode(a)
    assert len(x) == len(space.feature_names) == 3 + 2 * 6
    assert x.tolist() == [128, 4, 0, 2, 4, 8, 2, 0, 0, 2, 3, 4, 2, 0, 0]
    assert space.encode([a, a]).shape == (2, 15)


def test_syne_tune_config_round_trip() -> None:
    space = SearchSpace.from_name("tiny")
    cs = space.to_syne_tune()
    assert set(cs) == {"embed_dim", "n_layer", "bias"} | {f"n_head_{i}" for i in range(6)} | {
        f"mlp_ratio_{i}" for i in range(6)}
    for s in range(20):
        a = space.sample(s)
        assert space.from_config(space.to_config(a)) == a
    cfg = {k: v.sample() for k, v in cs.items()}
    assert space.validate(space.from_config(cfg))


def test_arch_hash_is_cached_and_follows_equality() -> None:
    a = Arch(64, 2, (2, 2), (2, 4), True)
    b = Arch.from_dict(a.to_dict())
    assert a == b and hash(a) == hash(b) == hash((64, 2, (2, 2), (2, 4), True)) and {a: 1}[b] == 1
    assert hash(Arch(64, 2, (2, 2), (2, 4), False)) != hash(a)
    assert pickle.loads(pickle.dumps(a)) == a and hash(pickle.loads(pickle.dumps(a))) == hash(a)


@pytest.mark.parametrize("name", ["tiny", "s", "m", "l"])
def test_choice_indices_decode_as_from_config(name: str) -> None:
    """from_choice_indices (a searcher's draws decoded in bulk) builds the archs from_config builds: equal,
    the same hash, id and field types; an index outside its key's choices is refused, naming the ranges."""
    space = SearchSpace.from_name(name)
    cs = space.to_syne_tune()
    cats = [list(v.categories) for v in cs.values()]
    rng = np.random.default_rng(0)
    idx = np.stack([rng.integers(0, len(c), 300) for c in cats], axis=1)
    got = space.from_choice_indices(idx)
    want = [space.from_config({k: c[i] for k, c, i in zip(cs, cats, row, strict=True)}) for row in idx.tolist()]
    assert got == want and [hash(a) for a in got] == [hash(a) for a in want]
    assert [a.id for a in got] == [a.id for a in want]
    for a, b in zip(got, want, strict=True):
        assert all(type(getattr(a, f)) is type(getattr(b, f)) for f in ("embed_dim", "n_layer", "n_head",
                                                                        "mlp_ratio", "bias"))
    bad = idx[:2].copy()
    bad[1, 2] = len(cats[2])  # bias has two choices
    with pytest.raises(ValueError, match=r"out of range.*0 <= index <"):
        space.from_choice_indices(bad)
    with pytest.raises(ValueError, match="shape"):
        space.from_choice_indices(idx[:, :3])
