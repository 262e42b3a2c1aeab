"""The weight-entangled supernet and its extracted dense models."""

from __future__ import annotations

import pytest
import torch

from hwgpt import DenseGPT, SearchSpace, SuperGPT


@pytest.fixture(scope="module")
def tiny() -> tuple[SearchSpace, SuperGPT]:
    torch.manual_seed(0)
    space = SearchSpace.from_name("tiny")
    model = SuperGPT(space)
    with torch.no_grad():  # non-trivial norms and biases, so slicing mistakes show
        for name, p in model.named_parameters():
            if p.ndim == 1:
                p.normal_(1.0 if name.endswith("norm.weight") or name.endswith("ln_f.weight") else 0.0, 0.1)
    return space, model.eval()


def test_subnet_equals_extracted_dense_model(tiny) -> None:
    space, model = tiny
    idx = torch.randint(0, space.vocab_size, (2, 48))
    archs = [space.smallest(), space.largest()] + [space.sample(s) for s in range(30)]
    for arch in archs:
        model.set_sub_network(arch)
        dense = model.extract(arch)
        assert isinstance(dense, DenseGPT)
        with torch.no_grad():
            a, b = model(idx), dense(idx)
        assert a.shape == (2, 48, space.vocab_size)
        assert (a - b).abs().max().item() <= 1e-5, arch


def test_extracted_model_is_dense_and_standalone(tiny) -> None:
    space, model = tiny
    arch = space.sample(3)
    dense = model.extract(arch)
    kinds = {type(m).__name__ for m in dense.modules()}
    assert not any("Super" in k for k in kinds)
    assert "Linear" in kinds and "LayerNorm" in kinds
    assert dense.wte.weight.shape == (space.padded_vocab_size, arch.embed_dim)
    # modifying the extracted copy leaves the supernet untouched
    with torch.no_grad():
        dense.wte.weight.zero_()
    assert model.wte.abs().sum() > 0


def test_bias_switch_removes_every_bias(tiny) -> None:
    space, model = tiny
    arch = space.sample(0)
    no_bias = type(arch)(arch.embed_dim, arch.n_layer, arch.n_head, arch.mlp_ratio, False)
    dense = model.extract(no_bias)
    assert not [n for n, _ in dense.named_parameters() if n.endswith("bias")]
    with_bias = model.extract(type(arch)(arch.embed_dim, arch.n_layer, arch.n_head, arch.mlp_ratio, True))
    assert len([n for n, _ in with_bias.named_parameters() if n.endswith("bias")]) == 1 + 7 * arch.n_layer
    # the supernet's bias parameters do not affect a bias-free sub-network
    idx = torch.randint(0, space.vocab_size, (1, 16))
    model.set_sub_network(no_bias)
    with torch.no_grad():
        before = model(idx)
        saved = {n: p.clone() for n, p in model.named_parameters() if n.endswith("bias")}
        for n, p in model.named_parameters():
            if n.endswith("bias"):
                p.add_(1.0)
        after = model(idx)
        for n, p in model.named_parameters():
            if n in saved:
                p.copy_(saved[n])
    assert torch.equal(before, after)


def test_weight_entanglement_shares_leading_slices(tiny) -> None:
    space, model = tiny
    small, big = space.smallest(), space.largest()
    d_small, d_big = model.extract(small), model.extract(big)
    e = small.embed_dim
    assert torch.equal(d_small.wte.weight, d_big.wte.weight[:, :e])
    w = small.n_head[0] * space.head_size
    assert torch.equal(d_small.blocks[0].q.weight, d_big.blocks[0].q.weight[:w, :e])
    h = small.mlp_ratio[0] * e
    assert torch.equal(d_small.blocks[0].fc_proj.weight, d_big.blocks[0].fc_proj.weight[:e, :h])


def test_gradients_flow_only_into_used_slices(tiny) -> None:
    space, model = tiny
    arch = space.smallest()
    model.zero_grad(set_to_none=True)
    model.set_sub_network(arch)
    model(torch.randint(0, space.vocab_size, (1, 8))).sum().backward()
    e = arch.embed_dim
    assert model.wte.grad[:, e:].abs().sum() == 0 and model.wte.grad[:, :e].abs().sum() > 0
    assert model.blocks[arch.n_layer].q.weight.grad is None  # unused layers get no gradient
    model.zero_grad(set_to_none=True)


def test_rope_makes_attention_position_aware(tiny) -> None:
    space, model = tiny
    model.set_sub_network(space.largest())
    idx = torch.randint(0, space.vocab_size, (1, 12))
    with torch.no_grad():
        a = model(idx)[0, -1]
        b = model(torch.cat([idx[:, :1], idx[:, 2:], idx[:, 1:2]], dim=1))[0, -2]
    assert not torch.allclose(a, b)  # same token, same context set, different positions


def test_causality(tiny) -> None:
    space, model = tiny
    model.set_sub_network(space.sample(5))
    idx = torch.randint(0, space.vocab_size, (1, 20))
    idx2 = idx.clone()
    idx2[0, 10:] = (idx2[0, 10:] + 1) % space.vocab_size
    with torch.no_grad():
        assert torch.allclose(model(idx)[0, :10], model(idx2)[0, :10], atol=1e-6)


def test_bad_inputs(tiny) -> None:
    space, model = tiny
    with pytest.raises(ValueError, match="not in scale 'tiny'"):
        model.set_sub_network(SearchSpace.from_name("s").smallest())
    with pytest.raises(ValueError, match="block_size 256"):
        model(torch.zeros(1, 257, dtype=torch.long))
