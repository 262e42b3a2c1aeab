"""Final-table helpers: median-size arch, perplexity, unigram baseline."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from hwgpt import cost
from hwgpt.data.prepare import unigram_perplexity_of
from hwgpt.supernet import SuperGPT
from hwgpt.training.evaluate import format_table, median_arch, perplexities


def test_median_arch_has_median_params(small_space):
    arch = median_arch(small_space, n=11, seed=0)
    sizes = sorted(cost.params(a, small_space) for a in small_space.sample_unique(11, seed=0))
    assert cost.params(arch, small_space) == sizes[5]
    assert median_arch(small_space, n=11, seed=0) == arch


def test_perplexities_match_cross_entropy(small_space):
    torch.manual_seed(0)
    model = SuperGPT(small_space)
    batches = [(torch.randint(0, 64, (2, 16)), torch.randint(0, 64, (2, 16))) for _ in range(3)]
    archs = {"largest": small_space.largest(), "smallest": small_space.smallest()}
    ppl = perplexities(model, archs, batches, progress=False)
    assert model.arch == small_space.largest() and model.training  # state restored
    idx, tgt = torch.cat([b[0] for b in batches]), torch.cat([b[1] for b in batches])
    model.set_sub_network(small_space.smallest())
    with torch.no_grad():
        expected = math.exp(F.cross_entropy(model(idx).flatten(0, 1), tgt.flatten()).item())
    assert math.isclose(ppl["smallest"], expected, rel_tol=1e-5)


def test_unigram_perplexity():
    train = np.array([0, 0, 0, 1], dtype=np.uint16)
    ppl = unigram_perplexity_of(train, np.array([0, 1]), vocab_size=4)
    p0, p1 = 4 / 8, 2 / 8  # add-one smoothing: (count + 1) / (4 + 4)
    assert math.isclose(ppl, math.exp(-(math.log(p0) + math.log(p1)) / 2))


def test_format_table():
    text = format_table({"perplexity": {"largest": 10.0, "unigram": 300.0}, "params": {"largest": 5}})
    assert "| largest | 5 | 10.00 |" in text and "| unigram | - | 300.00 |" in text
