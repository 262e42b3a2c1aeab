"""upstream_model reproduces upstream's published params/macs/flops exactly (records copied from the data)."""

from __future__ import annotations

import pytest

from hwgpt.importers import upstream_model as um


# (arch, params, flops, macs) copied from raw_results_hw/latency_a100{,_m,_l}/efficiency_observations_0_2500.pkl
# at upstream commit 795cba8; per-layer lists have the scale's maximum depth, only n_layer entries are active.
def _arch(embed: int, n_layer: int, bias: bool, heads: str, ratios: str) -> dict:
    """An upstream arch dict; ``heads``/``ratios`` are space-separated per-layer values (max depth)."""
    return {"sample_embed_dim": embed, "sample_n_layer": n_layer, "sample_layer_indices": list(range(n_layer)),
            "sample_n_head": [int(v) for v in heads.split()], "sample_mlp_ratio": [int(v) for v in ratios.split()],
            "sample_bias": bias}


RECORDS = [
    (_arch(768, 10, False,
           "4 12 12 4 4 12 12 8 4 12 8 4",
           "2 2 4 4 3 3 3 4 4 2 3 2"),
     148591104, 1802502144000, 900823252992),
    (_arch(192, 12, False,
           "8 12 12 4 12 4 4 8 4 8 8 8",
           "4 4 4 2 2 4 2 4 3 3 4 3"),
     28142208, 303097184256, 151419617280),
    (_arch(768, 11, True,
           "4 12 12 4 4 12 4 12 4 12 4 12",
           "4 3 4 4 3 2 3 3 3 4 3 3"),
     157529856, 1947551662080, 973300826112),
    (_arch(256, 24, False,
           "16 8 12 16 8 8 16 12 16 16 12 8 8 12 8 16 8 8 8 12 16 8 16 16",
           "2 3 3 2 3 2 4 4 3 4 2 4 3 3 2 4 3 2 3 3 4 3 3 4"),
     58719744, 375769792512, 187718172672),
    (_arch(1024, 23, True,
           "8 16 12 8 12 12 12 8 16 12 12 16 16 12 16 8 8 16 8 16 8 12 12 8",
           "2 3 3 2 3 4 4 3 3 3 3 3 3 4 2 3 2 3 4 4 3 2 2 2"),
     389517056, 2767884124160, 1383306625024),
    (_arch(320, 34, False,
           "16 16 20 16 8 20 8 16 20 16 8 16 20 8 16 20 20 20 16 16 20 16 20 16 8 16 8 20 8 20 20 20 20 16 16 8",
           "2 4 2 3 4 3 2 2 3 3 3 3 3 3 3 4 4 3 2 3 2 3 2 4 3 2 3 2 4 3 3 4 3 4 3 3"),
     107798400, 187892367360, 93873111040),
    (_arch(1280, 36, True,
           "16 8 8 8 20 20 8 8 20 8 8 16 20 20 20 20 8 20 16 20 20 8 16 8 20 16 16 16 8 16 16 8 8 20 16 16",
           "4 4 4 3 3 3 2 3 4 4 3 3 2 3 4 3 2 3 2 2 3 4 4 3 3 2 3 4 2 4 4 2 3 2 4 2"),
     840376320, 1588622786560, 794000097280),
]


@pytest.mark.parametrize(("arch", "params", "flops", "macs"), RECORDS)
def test_reproduces_published_counts(arch, params, flops, macs):
    assert um.published_params(arch) == params
    assert um.published_macs(arch) == macs
    assert um.published_flops(arch) == flops


def test_batch_is_the_scales_latency_batch():
    s_arch, m_arch, l_arch = RECORDS[0][0], RECORDS[3][0], RECORDS[5][0]
    assert [um.scale_of(a) for a in (s_arch, m_arch, l_arch)] == ["s", "m", "l"]
    # macs scale linearly with the batch; the defaults are 8, 4 and 1 sequences of 1024 tokens
    assert um.published_macs(s_arch, batch=1) * 8 == um.published_macs(s_arch)
    assert um.published_macs(m_arch, batch=1) * 4 == um.published_macs(m_arch)
    assert um.published_macs(l_arch, batch=1) == um.published_macs(l_arch)
    # an S record measured inside the M run (latency_a6000_m) has the M batch: half the S value
    assert um.published_macs(s_arch, batch=4) * 2 == RECORDS[0][3]


def test_inactive_layers_are_ignored():
    arch = dict(RECORDS[0][0])
    arch["sample_n_head"] = arch["sample_n_head"][:10] + [1, 1]
    arch["sample_mlp_ratio"] = arch["sample_mlp_ratio"][:10] + [99, 99]
    assert um.published_params(arch) == RECORDS[0][1]
    assert um.published_flops(arch) == RECORDS[0][2]


def test_differs_from_a_tied_gelu_model():
    # the profiled model has an untied 50254-row head and a 3-matrix SwiGLU MLP: removing both
    # (one V x E matrix, one E x rE matrix per layer) gives a tied-head GELU model's count
    arch, params = RECORDS[0][0], RECORDS[0][1]
    e, n = arch["sample_embed_dim"], arch["sample_n_layer"]
    gelu_tied = params - um.VOCAB_SIZE * e - sum(e * r * e for r in arch["sample_mlp_ratio"][:n])
    assert gelu_tied == 148591104 - 38595072 - 18284544


@pytest.mark.parametrize(("patch", "match"), [
    ({"sample_embed_dim": 784}, "sample_embed_dim"),
    ({"sample_n_layer": 13}, "fewer than sample_n_layer"),
    ({"sample_n_head": [4, 0, 12, 4, 4, 12, 12, 8, 4, 12]}, "positive ints"),
])
def test_bad_arch_names_the_field(patch, match):
    arch = {**RECORDS[0][0], **patch}
    with pytest.raises(ValueError, match=match):
        um.published_flops(arch)


def test_missing_keys_and_bad_batch():
    with pytest.raises(ValueError, match="lacks the keys"):
        um.published_params({"sample_embed_dim": 768})
    with pytest.raises(TypeError, match="mapping"):
        um.published_params([768])
    with pytest.raises(ValueError, match="batch"):
        um.published_macs(RECORDS[0][0], batch=0)


def test_constants_are_consistent():
    assert set(um.CPU_HOSTS.values()) == {"Xeon Silver", "Xeon Gold", "EPYC 7502", "EPYC 7513", "EPYC 7452"}
    assert set(um.CPU_HOSTS).isdisjoint(um.CPU_HOSTS_UNUSED)
    assert set(um.GPU_DIRS) == set(um.GPU_DTYPE)
    assert um.ENERGY_SOURCE["joules_per_unit"] == 3600.0 and um.ENERGY_SOURCE["unit"] == "Wh"
    assert um.SETTINGS["latency"]["batch"] == {"s": 8, "m": 4, "l": 1}
    assert um.SETTINGS["energy"]["batch"] == {"s": 8, "m": 8, "l": 8}
    assert um.SETTINGS["memory"]["bytes_per_unit"] == 1e6
