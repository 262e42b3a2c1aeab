"""CPU latency of upstream's profiled model variant vs. this project's dense model, same input.

Upstream's published hardware metrics are of ``gpt_base.model.GPT`` built with the ``LLaMAMLP``
(SwiGLU) MLP, an untied 50,254-row LM head, two LayerNorms (with bias) per block and RoPE on 25 % of
each head (see ``hwgpt/importers/upstream_model.py``). This script rebuilds that variant with plain
torch modules (its parameter count is checked against ``published_params``) and times it next to
``SuperGPT.extract``'s ``DenseGPT`` (GELU MLP, tied 50,304-row embedding, one shared LayerNorm per
block, full RoPE) at the same batch, sequence length, dtype (float32) and thread count, both under
``torch.no_grad``. Forwards alternate between the two models; the ratio of medians is printed.

Usage (pin it to one core): ``taskset -c 1 python bench/bench_upstream_variant.py [--batch 1]
[--seq-len 1024] [--reps 3] [--threads 1]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from hwgpt.importers.upstream_model import HEAD_SIZE, VOCAB_SIZE, published_params
from hwgpt.search_space import PRESETS, Arch
from hwgpt.supernet.dense import DenseGPT

ROTARY_PERCENTAGE = 0.25  # configs_hw/config_lat_en_small/latency_*.yaml line 154


class UpstreamBlock(nn.Module):
    """``gpt_base.model.Block`` with ``LLaMAMLP``: ``x + attn(LN1 x) + swiglu(LN2 x)``."""

    def __init__(self, e: int, h: int, r: int, bias: bool) -> None:
        super().__init__()
        self.h, self.rope = h, int(HEAD_SIZE * ROTARY_PERCENTAGE)
        self.norm_1, self.norm_2 = nn.LayerNorm(e), nn.LayerNorm(e)  # torch.nn.LayerNorm: weight and bias always
        self.attn = nn.Linear(e, 3 * h * HEAD_SIZE, bias=bias)
        self.proj = nn.Linear(h * HEAD_SIZE, e, bias=bias)
        self.fc_1, self.fc_2 = nn.Linear(e, r * e, bias=bias), nn.Linear(e, r * e, bias=bias)
        self.mlp_proj = nn.Linear(r * e, e, bias=bias)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        B, T, _ = x.shape
        n1 = self.norm_1(x)
        # per-head groups of (q, k, v), as gpt_base's query-group layout with n_query_groups = n_head
        qkv = self.attn(n1).view(B, T, self.h, 3, HEAD_SIZE).permute(0, 2, 3, 1, 4)
        q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]

        def rope(t: torch.Tensor) -> torch.Tensor:
            part = t[..., : self.rope]
            half = self.rope // 2
            rotated = torch.cat((-part[..., half:], part[..., :half]), dim=-1)
            return torch.cat((part * cos[:T] + rotated * sin[:T], t[..., self.rope:]), dim=-1)

        y = F.scaled_dot_product_attention(rope(q), rope(k), v, is_causal=True, scale=HEAD_SIZE ** -0.5)
        h = self.proj(y.transpose(1, 2).reshape(B, T, self.h * HEAD_SIZE))
        n2 = self.norm_2(x)
        return x + h + self.mlp_proj(F.silu(self.fc_1(n2)) * self.fc_2(n2))


class UpstreamGPT(nn.Module):
    """``gpt_base.model.GPT`` as upstream profiled it: untied head, 50,254 rows, final LayerNorm."""

    def __init__(self, arch: Arch) -> None:
        super().__init__()
        e = arch.embed_dim
        self.wte = nn.Embedding(VOCAB_SIZE, e)
        layers = zip(arch.n_head, arch.mlp_ratio, strict=True)
        self.blocks = nn.ModuleList(UpstreamBlock(e, h, r, arch.bias) for h, r in layers)
        self.ln_f = nn.LayerNorm(e)
        self.lm_head = nn.Linear(e, VOCAB_SIZE, bias=False)
        n = int(HEAD_SIZE * ROTARY_PERCENTAGE)
        theta = 1.0 / (10000 ** (torch.arange(0, n, 2).float() / n))
        angles = torch.outer(torch.arange(1024).float(), theta).repeat(1, 2)
        self.register_buffer("cos", angles.cos(), persistent=False)
        self.register_buffer("sin", angles.sin(), persistent=False)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        x = self.wte(idx)
        for block in self.blocks:
            x = block(x, self.cos, self.sin)
        return self.lm_head(self.ln_f(x))


# five S architectures (embed dims 192/384/768, with and without bias)
ARCHS = [
    Arch(768, 10, (4, 12, 12, 4, 4, 12, 12, 8, 4, 12), (2, 2, 4, 4, 3, 3, 3, 4, 4, 2), False),
    Arch(768, 11, (4, 12, 12, 4, 4, 12, 4, 12, 4, 12, 4), (4, 3, 4, 4, 3, 2, 3, 3, 3, 4, 3), True),
    Arch(384, 12, (12, 4, 12, 12, 8, 8, 4, 12, 8, 4, 12, 8), (2, 3, 4, 2, 4, 3, 2, 4, 3, 3, 2, 4), False),
    Arch(384, 10, (8, 8, 8, 8, 8, 8, 8, 8, 8, 8), (3, 3, 3, 3, 3, 3, 3, 3, 3, 3), True),
    Arch(192, 12, (8, 12, 12, 4, 12, 4, 4, 8, 4, 8, 8, 8), (4, 4, 4, 2, 2, 4, 2, 4, 3, 3, 4, 3), False),
]


def upstream_dict(a: Arch) -> dict:
    return {"sample_embed_dim": a.embed_dim, "sample_n_layer": a.n_layer, "sample_n_head": list(a.n_head),
            "sample_mlp_ratio": list(a.mlp_ratio), "sample_bias": a.bias}


def timed(model: nn.Module, x: torch.Tensor) -> float:
    t0 = time.perf_counter()
    model(x)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--seq-len", type=int, default=1024)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    space = PRESETS["s"]
    print(f"batch {args.batch} x seq {args.seq_len}, float32, {args.threads} thread(s), no_grad, "
          f"median of {args.reps} after 1 warm-up, alternating")
    print(f"{'arch':44s} {'params ours':>12s} {'params upstr':>12s} {'ours s':>8s} {'upstr s':>8s} {'upstr/ours':>10s}")
    ratios = []
    for a in ARCHS:
        ours, up = DenseGPT(a, space).eval(), UpstreamGPT(a).eval()
        n_up = sum(p.numel() for p in up.parameters())
        assert n_up == published_params(upstream_dict(a)), (n_up, published_params(upstream_dict(a)))
        n_ours = sum(p.numel() for p in ours.parameters())
        x = torch.randint(0, VOCAB_SIZE, (args.batch, args.seq_len))
        t_ours, t_up = [], []
        with torch.no_grad():
            timed(ours, x), timed(up, x)
            for _ in range(args.reps):
                t_ours.append(timed(ours, x))
                t_up.append(timed(up, x))
        mo, mu = statistics.median(t_ours), statistics.median(t_up)
        ratios.append(mu / mo)
        name = f"E{a.embed_dim} L{a.n_layer} bias={int(a.bias)} r={sum(a.mlp_ratio)}/{a.n_layer}"
        print(f"{name:44s} {n_ours:12,d} {n_up:12,d} {mo:8.3f} {mu:8.3f} {mu / mo:10.3f}")
    print(f"geometric mean upstream/ours latency ratio: {statistics.geometric_mean(ratios):.3f}")


if __name__ == "__main__":
    main()
