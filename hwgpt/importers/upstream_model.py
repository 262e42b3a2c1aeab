"""What the published HW-GPT-Bench measurements are measurements of, read off upstream's code.

Upstream is ``automl/HW-Aware-LLM-Bench`` (Apache-2.0); the data and the profilers that wrote it
are at commit ``795cba8``. Every constant here cites the upstream file and line it comes from
(``path:line`` at that commit, unless another commit is named); ``docs/upstream_fidelity.md``
quotes the code and states the checks against the data.

**The profiled model is not the supernet's sub-network.** The hardware profilers build
``gpt_base.model.GPT`` (``profiler/profile/gpt_profiler.py:3,81-83``) from the YAML config
``configs_hw/config_lat_en_{small,medium,large}/*.yaml``. That config asks for
``_mlp_class: "GptNeoxMLP"`` (line 155), but the config object's ``mlp_class`` property
(``pl_gpt/utils/configuration.py:35-41``) compares against the misspelt ``"GptNeoMLP"`` and
otherwise returns ``LLaMAMLP``, so every published latency, energy, memory, FLOP and parameter
count is of a model with

* a SwiGLU MLP (``LLaMAMLP``, ``gpt_base/model.py:300-311``): three ``E x rE`` matrices,
  ``silu(fc_1 x) * fc_2 x``, instead of the GELU MLP with two matrices the supernet trains;
* an untied LM head (``gpt_base/model.py:25,29``: separate ``lm_head`` and ``wte``),
* a vocabulary of 50,254 rows, unpadded (``padded_vocab_size: 50254``, config line 127),
* attention width ``64 * n_head`` at every embedding dim (``head_size: 64``, config line 134;
  ``gpt_base/model.py:183-193``), MHA (``n_query_groups`` = heads of the layer, lines 184-188),
* RoPE on 25 % of each head (``rotary_percentage: 0.25``, config line 154; the perplexity
  supernet uses 0.5: ``config/juwels_owt_sw_s_eval.yaml``),
* pre-LayerNorm with parallel residual (``parallel_residual: True``, config line 161;
  ``gpt_base/model.py:166-168``), two LayerNorms per block plus a final one, no dropout modules.

:func:`published_params`, :func:`published_macs` and :func:`published_flops` reproduce the
published ``params``, ``macs`` and ``flops`` fields exactly (checked on all 10,000 records of
``latency_a100``, ``latency_a100_m`` and ``latency_a100_l``). The counts are DeepSpeed's
``FlopsProfiler`` (``profiler/utils/flop_utils.py:15-27``) on one forward of the latency batch:
MACs = tokens x (weights of every ``nn.Linear``), FLOPs = 2 x MACs + 5 per LayerNorm element +
1 per SiLU element; attention products (SDPA), RoPE, the ``*`` of SwiGLU, the embedding and
bias adds are not counted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "COMMIT", "CPU_HOSTS", "CPU_HOSTS_UNUSED", "ENERGY_SOURCE", "GPU_DIRS", "GPU_DTYPE", "HEAD_SIZE",
    "MEMORY_DTYPE", "SCALE_EMBED_DIMS", "SEQ_LEN", "SETTINGS", "VOCAB_SIZE", "published_flops",
    "published_macs", "published_params", "scale_of",
]

#: upstream commit that holds the raw data and the profilers that wrote it
COMMIT = "795cba8"
#: rows of the embedding and of the (untied) LM head of the profiled model (config line 127)
VOCAB_SIZE = 50254
#: per-head width at every embedding dim (config line 134)
HEAD_SIZE = 64
#: tokens per sequence of every hardware measurement (``block_size: 1024``, config line 123;
#: inputs are ``randint(0, vocab, (batch, block_size))``, ``gpt_profiler.py:87``)
SEQ_LEN = 1024
#: embedding-dim choices of each scale (``embed_choices``, config line 117); a record's scale is
#: the scale of its ``sample_embed_dim``
SCALE_EMBED_DIMS: dict[str, frozenset[int]] = {
    "s": frozenset({192, 384, 768}), "m": frozenset({256, 512, 1024}), "l": frozenset({320, 640, 1280}),
}

#: ``torch.amp.autocast`` dtype of the GPU runs (``gpu_dtype`` in ``configs_hw/config_lat_en_*/latency_<dir>.yaml``;
#: the same at S, M and L). Weights stay float32; autocast runs the matmuls in this dtype.
GPU_DTYPE: dict[str, str] = {
    "a100": "bfloat16", "a40": "bfloat16", "a6000": "bfloat16", "h100": "bfloat16",
    "P100": "float16", "rtx2080": "float16", "rtx3080": "float16", "v100": "float16",
}
#: autocast dtype of the memory runs (``configs_hw/config_mem_*/mem_<dir>.yaml``); upstream's API calls
#: these ``bfloat16_memory`` (a100) and ``float16_memory`` (rtx2080)
MEMORY_DTYPE: dict[str, str] = {"a100": "bfloat16", "rtx2080": "float16"}

#: upstream directory suffix (``raw_results_hw/latency_<dir>{,_m,_l}``) -> the device name upstream's API
#: uses (``hwgpt/api.py:38-52`` at HEAD, ``self.device_list``). Directory and API name are the same for every GPU.
GPU_DIRS: dict[str, str] = {d: d for d in ("a100", "a40", "a6000", "h100", "P100", "rtx2080", "rtx3080", "v100")}

#: CPU host directory (``raw_results_hw/latency_<dir>{,_m,_l}``) -> CPU model, as upstream's API names it.
#: No upstream file states the mapping in words. It is established by matching the mean latency that
#: upstream stored per API device next to its surrogates (``data_collection/gpt_datasets/predictor_ckpts/``
#: ``hwmetric/stats_mean_std_latencies_<scale>_conformal_quantile_quantile_<api name>.pkl``, commit 9f57f31)
#: with the raw directories: at S and M every API name is within 2.5 % of exactly one directory and the
#: runner-up is >= 6.7 % off; L agrees (see docs/upstream_fidelity.md). The SLURM partitions in
#: ``hw_scripts/*/*/profile_latency_cpu_*.sh`` name the hosts.
CPU_HOSTS: dict[str, str] = {
    "cpu_mlgpu": "Xeon Silver",   # partition ml_gpu-rtx2080 -> API "cpu_xeon_silver"
    "cpu_meta": "Xeon Gold",      # partition bosch_cpu-cascadelake -> API "cpu_xeon_gold"
    "cpu_alldlc": "EPYC 7502",    # partition alldlc_gpu-rtx2080 -> API "cpu_amd_7502"
    "helix_cpu": "EPYC 7513",     # Helix cluster, partition single (A40 node) -> API "cpu_amd_7513"
    "cpu_a6000": "EPYC 7452",     # partition ml_gpu-rtxA6000 -> API "cpu_amd_7452"
}
#: CPU host directories upstream measured but its API does not use (the sixth host; at HEAD
#: ``configs/config_lat_en_{medium,large}/`` no longer even have its config)
CPU_HOSTS_UNUSED: dict[str, str] = {"cpu_p100": "partition ml_gpu-teslaP100; no API device matches it"}

#: which files hold the published GPU energy series (the ones upstream's surrogates were fitted on: the
#: tracker files' statistics match upstream's ``stats_mean_std_energies_*`` files; the older codecarbon
#: files ``efficiency_energy_observations_*.pkl`` / ``efficiency_energy_20_observations_*.pkl`` exist for
#: only a few S devices, are partial, and are not used)
ENERGY_SOURCE: dict[str, Any] = {
    "pattern": "raw_results_hw/latency_<dir>{,_m,_l}/efficiency_energy_observations_tracker_<start>_<end>.pkl",
    "field": "energy_gpu",
    "power_field": "emissions_gpu",
    "observations_per_arch": 50,
    "unit": "Wh",  # the files' unit_energy says 'KWh'; the code computes s * W / 3600 = Wh
    "joules_per_unit": 3600.0,
    "covers": "one forward pass of batch 8 x 1024 tokens at every scale (S, M and L)",
    "drop_first": True,  # element 0 is the first forward after model.cuda(): a warm-up outlier at process starts
    "ignored": ("efficiency_energy_observations_<start>_<end>.pkl",
                "efficiency_energy_20_observations_<start>_<end>.pkl"),
}

#: measurement settings of each published metric, per scale where they differ
SETTINGS: dict[str, dict[str, Any]] = {
    "latency": {
        # GPTProfiler(batch_size=8) gpt_profiler.py:19; gpt_profiler_m.py:19 batch 4; gpt_profiler_l.py:19 batch 1
        "batch": {"s": 8, "m": 4, "l": 1},
        "seq_len": SEQ_LEN,
        "gpu_dtype": GPU_DTYPE,  # torch.amp.autocast(device_type="cuda", dtype=gpu_dtype), latency_profile_utils.py:69
        "cpu_dtype": "float32",  # no autocast on CPU, latency_profile_utils.py:84-87
        "grad": "enabled",  # no torch.no_grad() around the profiled forward (lines 67-70, 85-87)
        "forward_only": True,
        "gpu_timer": "torch.profiler 'Self CUDA time total' (sum of kernel times of one forward), ms",
        "cpu_timer": "torch.profiler 'Self CPU time total' (sum of op self CPU times of one forward)",
        "gpu_unit": "ms",
        "cpu_unit": "per observation: unit_cpu[i] in {'s', 'ms'}; 's' values have lost their last digit (10 ms steps)",
        "cpu_threads": "torch default (no set_num_threads); SLURM --cpus-per-task=8",
        "observations_per_arch": 10,  # latency_helix_cpu (S): 1
        "warmup_excluded": False,
        "profiler": "torch.profiler.profile, one profile() per forward (latency_profile_utils.py:66-76, 84-91)",
    },
    "energy": {
        "batch": {"s": 8, "m": 8, "l": 8},  # gpt_profiler_energy_tracker{,_m,_l}.py keep batch_size=8 (line 19)
        "seq_len": SEQ_LEN,
        "dtype": GPU_DTYPE,  # autocast, profiler/utils/energy_profiler.py:9
        "grad": "disabled",  # @torch.no_grad(), energy_profiler.py:7
        # plotting/analysis/test_energy_profiler.py: a thread polls `nvidia-smi -q -x` power_draw
        "tool": "custom GPUTracer polling nvidia-smi power_draw",
        # test_energy_profiler.py:119-120
        "formula": "CUDA-event elapsed s of one forward x mean sampled power W / 3600",
        "unit": "Wh",
        "joules_per_unit": 3600.0,
        "observations_per_arch": 50,  # while len(...) < 50, energy_profiler.py:31
        "warmup_excluded": False,
        "cpu": None,  # no CPU energy series in the tracker files
    },
    "memory": {
        "batch": {"s": 8, "m": 4, "l": 1},  # gpt_mem_profiler.py / _m.py / _l.py line 17
        "seq_len": SEQ_LEN,
        "dtype": MEMORY_DTYPE,
        "what": "torch.cuda.memory_allocated() right after a forward (not the peak), inside autocast",
        "unit": "MB",  # / 1e6, profiler/utils/measure_memory_usage.py:15
        "bytes_per_unit": 1e6,
        "observations": "forwards 4 and 5 of 5 averaged (i > 2, n=5)",
    },
    "quality": {
        "model": "supernet gpt.model.GPT with inherited weights (GELU MLP, tied head, vocab 50304, rotary 0.5)",
        "dataset": "OpenWebText 'validationnas': 10 % of the training split (train_test_split(0.1, seed=2357))",
        "seq_len": 1024,
        "perplexity": "exp(sum(token CE) / tokens)",
        "accuracy": "next-token top-1 accuracy over non-ignored target tokens",
    },
}


def scale_of(arch: Mapping[str, Any]) -> str:
    """The scale ('s', 'm' or 'l') whose embedding-dim choices contain ``arch['sample_embed_dim']``."""
    e = arch.get("sample_embed_dim") if isinstance(arch, Mapping) else None
    for scale, dims in SCALE_EMBED_DIMS.items():
        if e in dims:
            return scale
    allowed = {s: sorted(d) for s, d in SCALE_EMBED_DIMS.items()}
    raise ValueError(f"arch['sample_embed_dim'] = {e!r} is not an embedding dim of any scale; allowed: {allowed}")


def _layers(arch: Mapping[str, Any]) -> tuple[int, int, bool, Sequence[int], Sequence[int]]:
    """``(E, L, bias, heads[:L], ratios[:L])`` of an upstream arch dict, validated."""
    if not isinstance(arch, Mapping):
        raise TypeError(f"arch must be a mapping with upstream's sample_* keys, got {type(arch).__name__}")
    missing = [k for k in ("sample_embed_dim", "sample_n_layer", "sample_n_head", "sample_mlp_ratio", "sample_bias")
               if k not in arch]
    if missing:
        raise ValueError(f"arch lacks the keys {missing}; got {sorted(arch)}")
    e, n = arch["sample_embed_dim"], arch["sample_n_layer"]
    if not isinstance(e, int) or e < 1:
        raise ValueError(f"arch['sample_embed_dim'] must be a positive int, got {e!r}")
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"arch['sample_n_layer'] must be a positive int, got {n!r}")
    heads, ratios = list(arch["sample_n_head"]), list(arch["sample_mlp_ratio"])
    # the lists have the scale's maximum depth; only the first n_layer entries are active
    for name, values in (("sample_n_head", heads), ("sample_mlp_ratio", ratios)):
        if len(values) < n:
            raise ValueError(f"arch[{name!r}] has {len(values)} entries, fewer than sample_n_layer = {n}")
        if any(not isinstance(v, int) or v < 1 for v in values[:n]):
            raise ValueError(f"arch[{name!r}] must hold positive ints, got {values[:n]!r}")
    return e, n, bool(arch["sample_bias"]), heads[:n], ratios[:n]


def published_params(arch: Mapping[str, Any]) -> int:
    """The published ``params`` of ``arch``: parameters of upstream's profiled ``gpt_base`` model.

    Embedding and untied LM head (no bias) of ``VOCAB_SIZE x E`` each, a final LayerNorm, and per layer
    two LayerNorms, fused q/k/v ``E -> 3 * 64h`` and projection ``64h -> E``, and the SwiGLU MLP
    ``fc_1, fc_2: E -> rE``, ``proj: rE -> E``; biases on the block linears when ``sample_bias``
    (``gpt_base/model.py:25-31,134-137,188-193,300-305``). Equals DeepSpeed's ``get_total_params``.
    """
    e, _, bias, heads, ratios = _layers(arch)
    total = 2 * VOCAB_SIZE * e + 2 * e
    for h, r in zip(heads, ratios, strict=True):
        w = HEAD_SIZE * h
        total += 4 * e + 3 * w * e + w * e + 3 * e * r * e
        if bias:
            total += 3 * w + e + 2 * r * e + e
    return total


def _tokens(arch: Mapping[str, Any], batch: int | None) -> int:
    if batch is None:
        batch = SETTINGS["latency"]["batch"][scale_of(arch)]
    if not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch must be a positive int or None (the scale's latency batch), got {batch!r}")
    return batch * SEQ_LEN


def published_macs(arch: Mapping[str, Any], batch: int | None = None) -> int:
    """The published ``macs``: DeepSpeed's count for one forward of ``batch x 1024`` tokens.

    ``batch`` defaults to the batch of the latency run that recorded the field (8 at S, 4 at M, 1 at L).
    Only ``nn.Linear`` products count (``tokens x in x out``): attention products, which run in
    ``scaled_dot_product_attention``, are not counted.
    """
    e, _, _, heads, ratios = _layers(arch)
    weights = VOCAB_SIZE * e + sum(4 * HEAD_SIZE * h * e + 3 * e * r * e for h, r in zip(heads, ratios, strict=True))
    return _tokens(arch, batch) * weights


def published_flops(arch: Mapping[str, Any], batch: int | None = None) -> int:
    """The published ``flops``: ``2 * macs`` + 5 per LayerNorm element + 1 per SiLU element.

    DeepSpeed counts an affine LayerNorm as 5 FLOPs per element and SiLU as 1; biases, RoPE and the
    elementwise product of SwiGLU are not counted. ``batch`` as in :func:`published_macs`.
    """
    e, n, _, _, ratios = _layers(arch)
    per_token = 5 * e * (2 * n + 1) + e * sum(ratios)
    return 2 * published_macs(arch, batch) + _tokens(arch, batch) * per_token
