"""Perplexity and next-token accuracy of sub-networks, with weights inherited from a trained supernet.

Evaluated with :meth:`SuperGPT.set_sub_network` — the same logits as the extracted model,
without copying weights per architecture. Token budget (fixed, deterministic): ``windows``
consecutive, non-overlapping windows of ``block_size + 1`` tokens of the held-out split, from
window ``first_window`` on (inputs = first ``block_size``, targets = last ``block_size``); the
class default is 32 windows (the shipped measurements: 8,192 predicted tokens at ``tiny``),
conf/metric/quality.yaml uses 64 (16,384 at ``tiny``; see README ("Robustness") for the
noise study). :func:`pool_windows` pools disjoint window ranges exactly.

* ``perplexity`` = exp(mean next-token cross-entropy over every predicted token), unit ``ppl``.
* ``accuracy`` = fraction of predicted tokens whose arg-max logit is the target, unit ``fraction``.

One observation per architecture. The checkpoint's sha256 is kept in ``extra``; a store that
already holds quality values of another checkpoint for the scale is refused (clear error).
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from hwgpt.checkpoint import load_supernet, shipped_checkpoint
from hwgpt.errors import InvalidInput, check_int
from hwgpt.profiling.base import Context, Metric
from hwgpt.profiling.store import Observation, Settings, Store
from hwgpt.search_space import Arch, SearchSpace

log = logging.getLogger(__name__)

UNITS = {"perplexity": "ppl", "accuracy": "fraction"}


def resolve_checkpoint(checkpoint: str | Path | None, scale: str) -> Path:
    """The checkpoint to evaluate: ``checkpoint`` if given, else the shipped one of ``scale``."""
    if checkpoint is not None:
        path = Path(checkpoint).expanduser()
        if not path.is_file():
            raise FileNotFoundError(
                f"supernet checkpoint {path} does not exist; train one with `python train.py scale={scale}` "
                "and pass its exported .safetensors as checkpoint=<path>"
            )
        return path
    shipped = shipped_checkpoint(scale)
    if shipped is None:
        raise FileNotFoundError(
            f"no trained supernet checkpoint ships for scale={scale!r}, and checkpoint= was not given; "
            f"produce one with `python train.py scale={scale}` and pass checkpoint=<path to its .safetensors>"
        )
    return shipped


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def token_data(space: SearchSpace, *, block_size: int, batch_size: int, val_tokens: int,
               data_dir: str | None = None, data_root: str | None = None) -> Any:
    """The prepared corpus of ``space``'s tokenizer (:class:`hwgpt.data.datamodule.TokenDataModule`)."""
    from hwgpt.data.datamodule import TokenDataModule

    return TokenDataModule(data_dir=data_dir, tokenizer=space.tokenizer, block_size=block_size,
                           batch_size=batch_size, val_tokens=val_tokens, data_root=data_root)


def synthetic_data(space: SearchSpace, *, block_size: int, batch_size: int, val_tokens: int, seed: int = 0) -> Any:
    """Synthetic tokens over ``space``'s vocabulary (tests; tokenizer ``synthetic<vocab>``)."""
    from hwgpt.data.datamodule import SyntheticTokenDataModule

    return SyntheticTokenDataModule(vocab_size=space.vocab_size, block_size=block_size, batch_size=batch_size,
                                    seed=seed, val_tokens=val_tokens, train_tokens=block_size + 1)


@torch.inference_mode()
def evaluate(model: torch.nn.Module, batches: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> tuple[float, float, int]:
    """``(perplexity, accuracy, n_tokens)`` of ``model`` over ``batches`` of ``(inputs, targets)``."""
    loss, correct, n = 0.0, 0, 0
    for x, y in batches:
        logits = model(x).float()
        loss += F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="sum").item()
        correct += int((logits.argmax(-1) == y).sum())
        n += y.numel()
    return math.exp(loss / n), correct / n, n


class QualityMetric(Metric):
    """Perplexity and/or accuracy on the fixed validation budget.

    Args:
        outputs: Which of ``perplexity``, ``accuracy`` to write (both cost one pass).
        windows: Validation windows of ``block_size`` predicted tokens.
        batch_size: Windows per forward.
        checkpoint: Supernet ``.safetensors``; ``None``: the shipped checkpoint of the scale.
        data: Partial factory ``(space, block_size=, batch_size=, val_tokens=) -> DataModule``.
    """

    def __init__(
        self, outputs: Sequence[str] = ("perplexity", "accuracy"), windows: int = 32, batch_size: int = 8,
        checkpoint: str | None = None, data: Callable[..., Any] = token_data, first_window: int = 0,
    ) -> None:
        if isinstance(outputs, str) or not all(isinstance(o, str) for o in outputs):
            raise InvalidInput(f"metric.outputs must be a list of metric names, got {outputs!r}; "
                               f"allowed {sorted(UNITS)}")
        bad = [o for o in outputs if o not in UNITS]
        if bad or not outputs:
            raise InvalidInput(f"metric.outputs {list(outputs)}: allowed {sorted(UNITS)}")
        windows = check_int("metric.windows", windows, min=1)
        batch_size = check_int("metric.batch_size", batch_size, min=1)
        first_window = check_int("metric.first_window", first_window, min=0)
        self.outputs = tuple(outputs)
        self.windows, self.batch_size, self.checkpoint = windows, batch_size, checkpoint
        self.first_window = first_window
        self.chunk_size = 1
        self._data = data

    def settings(self, ctx: Context) -> Settings:  # noqa: D102
        return Settings(self.batch_size, ctx.space.block_size, ctx.settings.dtype, ctx.settings.threads)

    def setup(self, ctx: Context) -> None:  # noqa: D102
        super().setup(ctx)
        space, block = ctx.space, ctx.space.block_size
        path = resolve_checkpoint(self.checkpoint, space.name)
        first, last = self.first_window, self.first_window + self.windows
        dm = self._data(space, block_size=block, batch_size=self.batch_size, val_tokens=last * (block + 1))
        dm.prepare_data()
        dm.setup("validate")
        pairs = [(x, y) for xb, yb in dm.val_dataloader() for x, y in zip(xb, yb, strict=True)][first:last]
        self._batches = [
            (torch.stack([x for x, _ in pairs[i:i + self.batch_size]]).to(ctx.device),
             torch.stack([y for _, y in pairs[i:i + self.batch_size]]).to(ctx.device))
            for i in range(0, len(pairs), self.batch_size)
        ]
        n_windows = len(pairs)
        if n_windows == 0:
            raise InvalidInput(f"metric.first_window={first}: the validation split has fewer windows than that")
        if n_windows < self.windows:
            log.warning("validation split holds only %d of the %d windows asked for", n_windows, self.windows)
        self._supernet, meta = load_supernet(path, scale=space.name, tokenizer=dm.tokenizer_name, dtype=ctx.dtype)
        self._supernet.to(ctx.device)
        self._info = {"checkpoint": str(path), "checkpoint_sha256": sha256_file(path),
                      "tokenizer": dm.tokenizer_name, "windows": n_windows, "first_window": first}
        log.info("quality: %s (%s), %d windows x %d tokens", path, meta.get("tokenizer"), n_windows, block)

    def check_store(self, store: Store, scale: str, device: str) -> None:
        """Refuse a store holding quality values of another checkpoint, or another token budget, for this scale."""
        for metric in self.outputs:
            budgets = {int(w) for w in store.distinct_extra("windows", scale=scale, device=device, metric=metric)}
            starts = {int(w) for w in store.distinct_extra("first_window", scale=scale, device=device,
                                                           metric=metric)} or {0}
            if budgets and (budgets != {self.windows} or starts != {self.first_window}):
                raise InvalidInput(
                    f"store {store.path} already holds {metric} of scale {scale!r} measured on windows "
                    f"{sorted(budgets)} from {sorted(starts)}; this run measures metric.windows={self.windows} from "
                    f"metric.first_window={self.first_window}. Use a new store= path per token budget (pool disjoint "
                    "ranges with hwgpt.profiling.quality.pool_windows)"
                )
            shas = store.distinct_extra("checkpoint_sha256", scale=scale, metric=metric)
            other = shas - {self._info["checkpoint_sha256"]}
            if other:
                raise ValueError(
                    f"store {store.path} already holds {metric} of scale {scale!r} from another checkpoint "
                    f"(sha256 {sorted(other)[0][:12]}..., this one {self._info['checkpoint_sha256'][:12]}...); "
                    "use a new store= path for a new supernet"
                )

    def measure(self, archs: Sequence[Arch]) -> dict[str, list[Observation]]:  # noqa: D102
        out = {}
        for a in archs:
            self._supernet.set_sub_network(a)
            ppl, acc, n = evaluate(self._supernet, self._batches)
            extra = {**self._info, "tokens": n}
            values = {"perplexity": ppl, "accuracy": acc}
            out[a.id] = [Observation(m, values[m], UNITS[m], 0, (), extra) for m in self.outputs]
        return out


def pool_windows(sources: Sequence[Any], out: str | Path, *, scale: str = "tiny", device: str = "cpu") -> int:
    """Pool quality measurements of disjoint validation windows into one per architecture.

    ``sources`` are observation frames (``Store.observations()`` or the exported parquet) of the
    same checkpoint over disjoint window ranges (``first_window``/``windows`` in ``extra``), e.g.
    the shipped first 32 windows plus ``metric.first_window=32 metric.windows=32``. For each arch
    present in every source, perplexity is ``exp`` of the token-weighted mean log perplexity and
    accuracy the token-weighted mean: exactly the values of one measurement over all the windows.
    They are written to a new store ``out`` (one observation per arch and metric). Returns the
    number of archs written.

    Raises:
        InvalidInput: the sources disagree on the checkpoint or their windows overlap.
    """
    import json as _json

    import pandas as pd

    frames = []
    for src in sources:
        df = src[(src["scale"] == scale) & (src["device"] == device) & src["metric"].isin(list(UNITS))].copy()
        extra = df["extra"].map(_json.loads)
        df["tokens"] = extra.map(lambda e: int(e["tokens"]))
        df["first_window"] = extra.map(lambda e: int(e.get("first_window", 0)))
        df["windows"] = extra.map(lambda e: int(e["windows"]))
        df["sha"] = extra.map(lambda e: e.get("checkpoint_sha256"))
        frames.append(df)
    shas = set().union(*(set(f["sha"]) for f in frames))
    if len(shas) != 1:
        raise InvalidInput(f"quality sources come from different checkpoints: {sorted(map(str, shas))}")
    ranges = sorted({(int(f["first_window"].min()), int((f["first_window"] + f["windows"]).max())) for f in frames})
    for (_, end), (start, _) in zip(ranges, ranges[1:], strict=False):
        if start < end:
            raise InvalidInput(f"quality sources cover overlapping windows {ranges}; pool disjoint ranges only")
    common = set.intersection(*(set(f["arch_id"]) for f in frames))
    both = pd.concat([f[f["arch_id"].isin(common)] for f in frames])
    store = Store(out, create=True)
    key = store.register_device(device, "cpu", {"pooled_from": len(frames)})
    run_id = "pooled-" + hashlib.sha1(",".join(sorted(common)).encode()).hexdigest()[:12]
    store.start_run(run_id, key, {"pooled": [list(r) for r in ranges]})
    first = both.iloc[0]
    settings = Settings(int(first["batch"]), int(first["seq_len"]), str(first["dtype"]), int(first["threads"]))
    n = 0
    for _, g in both.groupby("arch_id"):
        arch = Arch.from_dict(_json.loads(g["arch"].iloc[0]))
        obs = []
        for metric in UNITS:
            m = g[g["metric"] == metric]
            if len(m) != len(frames):
                continue
            w = m["tokens"].to_numpy(float)
            v = m["value"].to_numpy(float)
            value = math.exp(float((w * [math.log(x) for x in v]).sum() / w.sum())) if metric == "perplexity" \
                else float((w * v).sum() / w.sum())
            extra = {"checkpoint_sha256": next(iter(shas)), "tokens": int(w.sum()), "first_window": ranges[0][0],
                     "windows": int(m["windows"].sum()), "pooled": [list(r) for r in ranges]}
            obs.append(Observation(metric, value, UNITS[metric], 0, (), extra))
        if obs and store.write_arch(arch=arch, scale=scale, device=device, settings=settings, observations=obs,
                                    run_id=run_id, device_key=key):
            n += 1
    store.close()
    return n
