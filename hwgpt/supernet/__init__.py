"""Weight-entangled GPT supernet and the dense models it extracts."""

from hwgpt.supernet.dense import DenseGPT
from hwgpt.supernet.gpt import SuperGPT

__all__ = ["DenseGPT", "SuperGPT"]
