"""SuperGPT: one weight-entangled GPT that holds every architecture of a scale."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hwgpt.search_space import Arch, SearchSpace
from hwgpt.supernet.dense import DenseGPT
from hwgpt.supernet.modules import SuperLayerNorm, SuperLinear, residual_std
from hwgpt.supernet.ops import causal_attention, mlp, rope_cache


class SuperBlock(nn.Module):
    """Parallel-residual block of maximal width; runs any (heads, MLP ratio) slice."""

    def __init__(self, embed_max: int, width_max: int, hidden_max: int, head_size: int, n_layer_max: int) -> None:
        super().__init__()
        self.head_size = head_size
        self.norm = SuperLayerNorm(embed_max)
        self.q = SuperLinear(embed_max, width_max)
        self.k = SuperLinear(embed_max, width_max)
        self.v = SuperLinear(embed_max, width_max)
        self.attn_proj = SuperLinear(width_max, embed_max, std=residual_std(n_layer_max))
        self.fc = SuperLinear(embed_max, hidden_max)
        self.fc_proj = SuperLinear(hidden_max, embed_max, std=residual_std(n_layer_max))

    def forward(
        self, x: torch.Tensor, n_head: int, mlp_ratio: int, bias: bool, cos: torch.Tensor, sin: torch.Tensor
    ) -> torch.Tensor:
        e = x.size(-1)
        width, hidden = n_head * self.head_size, mlp_ratio * e
        h = self.norm(x, bias)
        attn = causal_attention(self.q(h, width, bias), self.k(h, width, bias), self.v(h, width, bias),
                                self.head_size, cos, sin)
        out = mlp(h, lambda t: self.fc(t, hidden, bias), lambda t: self.fc_proj(t, e, bias))
        return x + self.attn_proj(attn, e, bias) + out

    def dense_state(self, e: int, n_head: int, mlp_ratio: int, bias: bool) -> dict[str, torch.Tensor]:
        width, hidden = n_head * self.head_size, mlp_ratio * e
        shapes = {"q": (e, width), "k": (e, width), "v": (e, width), "attn_proj": (width, e),
                  "fc": (e, hidden), "fc_proj": (hidden, e)}
        sd = {f"norm.{k}": v for k, v in self.norm.dense_weights(e, bias).items()}
        for name, (i, o) in shapes.items():
            sd.update({f"{name}.{k}": v for k, v in getattr(self, name).dense_weights(i, o, bias).items()})
        return sd


class SuperGPT(nn.Module):
    """Weight-entangled GPT supernet (plain ``nn.Module``).

    Sub-networks share weights by first-k slicing: the leading ``embed_dim`` embedding
    columns, the first ``n_head`` heads and ``mlp_ratio * embed_dim`` hidden units of each
    layer, and the first ``n_layer`` layers. ``bias=False`` drops every bias term.

    Usage: ``model.set_sub_network(arch); logits = model(idx)``; ``model.extract(arch)``.
    """

    def __init__(self, space: SearchSpace) -> None:
        super().__init__()
        self.space = space
        E, L = max(space.embed_dim), space.max_layers
        width, hidden = max(space.n_head) * space.head_size, max(space.mlp_ratio) * E
        self.wte = nn.Parameter(torch.empty(space.padded_vocab_size, E).normal_(0.0, 0.02))
        self.blocks = nn.ModuleList(SuperBlock(E, width, hidden, space.head_size, L) for _ in range(L))
        self.ln_f = SuperLayerNorm(E)
        cos, sin = rope_cache(space.block_size, space.head_size)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)
        self.arch: Arch = space.largest()

    def set_sub_network(self, arch: Arch) -> None:
        """Select the sub-network that :meth:`forward` runs (validated against the space)."""
        self.arch = self.space.validate(arch)

    def reset_super_network(self) -> None:
        """Select the largest sub-network."""
        self.arch = self.space.largest()

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """``idx (B, T)`` token ids -> logits ``(B, T, vocab_size)`` of the current sub-network."""
        if idx.size(1) > self.space.block_size:
            raise ValueError(f"sequence length {idx.size(1)} > block_size {self.space.block_size}")
        a, V = self.arch, self.space.vocab_size
        wte = self.wte[:, : a.embed_dim] if a.embed_dim < self.wte.size(1) else self.wte
        x = F.embedding(idx, wte)
        for block, h, r in zip(self.blocks, a.n_head, a.mlp_ratio, strict=False):  # first n_layer blocks
            x = block(x, h, r, a.bias, self.cos, self.sin)
        return F.linear(self.ln_f(x, a.bias), wte[:V])

    @torch.no_grad()
    def extract(self, arch: Arch) -> DenseGPT:
        """A standalone :class:`DenseGPT` whose logits equal this sub-network's.

        The dense model is built on the meta device and handed copies of the supernet's
        slices, skipping its random init (at ``s`` that init costs more than a forward).
        """
        with torch.device("meta"):
            dense = DenseGPT(arch, self.space)
        e, b = arch.embed_dim, arch.bias
        sd = {"wte.weight": self.wte[:, :e].clone()}
        sd.update({f"ln_f.{k}": v for k, v in self.ln_f.dense_weights(e, b).items()})
        for i, (h, r) in enumerate(zip(arch.n_head, arch.mlp_ratio, strict=True)):
            sd.update({f"blocks.{i}.{k}": v for k, v in self.blocks[i].dense_state(e, h, r, b).items()})
        dense.load_state_dict(sd, strict=True, assign=True)
        dense.cos, dense.sin = self.cos.clone(), self.sin.clone()  # non-persistent buffers
        return dense
