"""Supernet weights as safetensors, with the metadata that keeps evaluation honest.

A checkpoint records its scale and the exact tokenizer it was trained with; loading it for
another scale or tokenizer is refused. Lightning's ``.ckpt`` files (optimizer state, for
resuming) are separate: this is the exported, inference-only form later stages read.
"""

from __future__ import annotations

import json
import logging
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from hwgpt.search_space import SearchSpace
from hwgpt.supernet import SuperGPT

log = logging.getLogger(__name__)
FORMAT = "hwgpt-supernet/1"


def save_supernet(
    model: SuperGPT, path: Path, *, tokenizer: str, dtype: torch.dtype = torch.bfloat16,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write ``model``'s weights (cast to ``dtype``) and metadata to ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu", dtype).contiguous() for k, v in model.state_dict().items()}
    meta = {"format": FORMAT, "scale": model.space.name, "tokenizer": tokenizer,
            "extra": json.dumps(extra or {}, sort_keys=True)}
    tmp = path.with_suffix(path.suffix + ".tmp")
    save_file(tensors, str(tmp), metadata=meta)
    tmp.replace(path)
    return path


def read_metadata(path: Path) -> dict[str, Any]:
    """Metadata of a checkpoint, without loading its tensors."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = dict(f.metadata() or {})
    except (SafetensorError, OSError) as e:
        raise ValueError(f"{path}: not a readable safetensors checkpoint ({e})") from e
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path}: format {meta.get('format')!r}, expected {FORMAT!r}")
    meta["extra"] = json.loads(meta.get("extra", "{}"))
    return meta


def load_supernet(
    path: Path, *, scale: str | None = None, tokenizer: str | None = None,
    dtype: torch.dtype = torch.float32,
) -> tuple[SuperGPT, dict[str, Any]]:
    """Load a supernet checkpoint; refuse one from another scale or tokenizer.

    Args:
        path: A file written by :func:`save_supernet`.
        scale: If given, the scale the caller expects.
        tokenizer: If given, the tokenizer name of the data the caller will evaluate on.

    Returns:
        The model (in eval mode, ``dtype``) and the checkpoint's metadata.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"supernet checkpoint not found: {path}")
    meta = read_metadata(path)
    if scale is not None and meta["scale"] != scale:
        raise ValueError(f"{path} is a {meta['scale']!r} supernet, but scale {scale!r} was asked for")
    if tokenizer is not None and meta["tokenizer"] != tokenizer:
        raise ValueError(
            f"{path} was trained with tokenizer {meta['tokenizer']!r}, but the evaluation data uses "
            f"{tokenizer!r}; evaluate on data tokenized with the checkpoint's tokenizer"
        )
    model = SuperGPT(SearchSpace.from_name(meta["scale"]))
    state = {k: v.to(dtype) for k, v in load_file(str(path)).items()}
    model.load_state_dict(state, strict=True)
    return model.to(dtype).eval(), meta


def shipped_checkpoint(scale: str) -> Path | None:
    """The trained supernet shipped inside the package for ``scale``, if there is one."""
    ref = resources.files("hwgpt") / "artifacts" / "checkpoints" / f"{scale}.safetensors"
    return Path(str(ref)) if ref.is_file() else None
