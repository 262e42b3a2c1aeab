"""Supernet training from a Hydra config: ``run(cfg)`` is what ``train.py`` calls.

Builds the data, module, callbacks, logger and trainer with ``hydra.utils.instantiate``,
fits (optionally resuming from ``cfg.ckpt_path``), then on rank 0 writes into the run dir:
``supernet.safetensors`` (bf16 weights + scale/tokenizer metadata, see :mod:`hwgpt.checkpoint`)
and ``results.json`` (the final perplexity table, see :mod:`hwgpt.training.evaluate`, and the
precision used: ``trainer.precision=auto`` is resolved by :mod:`hwgpt.training.precision`).

Ctrl-C or SIGTERM saves ``checkpoints/interrupted.ckpt`` and ends with
:class:`hwgpt.errors.Interrupted`, whose message gives the command to resume.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import os
import re
import signal
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from lightning.pytorch.callbacks import OnExceptionCheckpoint
from lightning.pytorch.loggers import CSVLogger, Logger, WandbLogger
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf

from hwgpt.checkpoint import save_supernet
from hwgpt.errors import HwgptError, Interrupted, InvalidInput, check_int, check_seed
from hwgpt.search_space import SearchSpace
from hwgpt.tracking import wandb_mode
from hwgpt.training.evaluate import format_table, results_table
from hwgpt.training.precision import PrecisionChoice, choose_precision

MAX_STEPS = 10**9
"""Most optimizer steps ``trainer.max_steps`` may ask for (a sanity bound; real runs use thousands)."""

log = logging.getLogger(__name__)


def _env_defaults(output_dir: Path) -> None:
    """Keep tool side files (wandb, torch extensions) in the run dir, never the cwd or home."""
    os.environ.setdefault("WANDB_DIR", str(output_dir))
    os.environ.setdefault("WANDB_CACHE_DIR", str(output_dir / "wandb" / "cache"))
    os.environ.setdefault("WANDB_CONFIG_DIR", str(output_dir / "wandb" / "config"))
    os.environ.setdefault("WANDB_DATA_DIR", str(output_dir / "wandb" / "data"))
    os.environ.setdefault("TORCH_EXTENSIONS_DIR", str(output_dir / "torch_extensions"))
    os.environ.setdefault("DS_ACCELERATOR", "cpu")


def build_logger(cfg: DictConfig | None, run_name: str) -> Logger | bool:
    """Translate a neutral ``conf/logger`` entry (name/project/mode/save_dir) into a Lightning logger.

    Returns:
        A WandbLogger or CSVLogger, or ``False`` for ``name: none``.
    """
    if cfg is None or cfg.get("name", "none") == "none":
        return False
    name = cfg.name
    save_dir = str(cfg.get("save_dir") or ".")
    if name == "csv":
        return CSVLogger(save_dir=save_dir, name="csv", version="")
    if name == "wandb":
        mode = wandb_mode(cfg.get("mode", "auto"))
        Path(save_dir).mkdir(parents=True, exist_ok=True)
        return WandbLogger(project=cfg.get("project", "hwgpt"), name=run_name, save_dir=save_dir, mode=mode)
    raise InvalidInput(f"logger.name={name!r}; allowed: ['wandb', 'csv', 'none']")


def space_from_cfg(scale_cfg: DictConfig) -> SearchSpace:
    """The search space of ``cfg.scale``: a preset by ``name``, or, when the entry also carries
    every :class:`SearchSpace` field (e.g. a small space for tests), that custom space."""
    extra = {k: v for k, v in OmegaConf.to_container(scale_cfg, resolve=True).items() if k != "name"}
    if not extra:
        return SearchSpace.from_name(scale_cfg.name)
    lists = ("embed_dim", "n_layer", "n_head", "mlp_ratio", "bias")
    return SearchSpace(name=scale_cfg.name, **{k: tuple(v) if k in lists else v for k, v in extra.items()})


def build_datamodule(cfg: DictConfig, space: SearchSpace) -> pl.LightningDataModule:
    """Instantiate ``cfg.data``; ``null`` tokenizer/block_size/vocab_size come from the space."""
    fill = {"tokenizer": space.tokenizer, "block_size": space.block_size, "vocab_size": space.vocab_size}
    overrides = {k: v for k, v in fill.items() if k in cfg.data and cfg.data[k] is None}
    dm = instantiate(cfg.data, **overrides)
    if dm.block_size > space.block_size:
        raise ValueError(f"data.block_size={dm.block_size} exceeds scale {space.name!r} block_size {space.block_size}")
    return dm


def build_callbacks(cfg: DictConfig) -> list[pl.Callback]:
    """Instantiate every entry of ``cfg.callbacks`` that has a ``_target_`` (null entries are skipped)."""
    return [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c is not None and "_target_" in c]


def check_ckpt_path(ckpt_path: Any) -> Path | None:
    """``ckpt_path`` as a Path to a Lightning checkpoint (a ``torch.save`` zip archive), or None."""
    if ckpt_path is None:
        return None
    if not isinstance(ckpt_path, str) or not ckpt_path:
        raise InvalidInput(f"ckpt_path must be null or the path of a Lightning .ckpt file, got {ckpt_path!r}")
    path = Path(ckpt_path).expanduser()
    if not path.is_file():
        raise InvalidInput(f"ckpt_path={ckpt_path}: no such checkpoint file (resume from "
                           "<run dir>/checkpoints/last.ckpt of an earlier run)")
    try:
        with zipfile.ZipFile(path) as z:
            ok = any(n.endswith("data.pkl") for n in z.namelist())
    except (zipfile.BadZipFile, OSError):
        ok = False
    if not ok:
        raise InvalidInput(f"ckpt_path={ckpt_path} is not a Lightning checkpoint (not a torch.save archive); "
                           "pass a .ckpt written by train.py (<run dir>/checkpoints/last.ckpt)")
    load_checkpoint(path, what=f"ckpt_path={ckpt_path}")
    return path


def load_checkpoint(path: str | Path, *, what: str | None = None) -> dict[str, Any]:
    """Load a Lightning ``.ckpt`` with ``torch.load(weights_only=True)``: tensors and plain data only.

    ``weights_only=True`` is passed explicitly, so ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` in the
    environment cannot turn it off (torch honours that variable only where the caller left
    ``weights_only`` unset). A checkpoint that needs any other class to unpickle (a pickle payload)
    is refused before Lightning sees it.

    Raises:
        InvalidInput: the file holds something other than tensors and plain data, or cannot be read.
    """
    import pickle

    what = what or str(path)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        text = re.sub(r"\x1b\[[0-9;]*m", "", str(e))
        found = re.search(r"Unsupported global: GLOBAL (\S+)", text)
        why = f"it needs the global {found.group(1)}" if found else " ".join(text.split())[:160]
        raise InvalidInput(f"{what} refused: it holds objects other than tensors and plain data, which only an "
                           f"unsafe (code-executing) load could read ({why}); load only checkpoints written by "
                           "train.py") from None
    except (RuntimeError, OSError, EOFError, ValueError) as e:
        raise InvalidInput(f"{what} cannot be read as a checkpoint: {type(e).__name__}: {str(e)[:200]}") from None
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise InvalidInput(f"{what} is not a Lightning checkpoint (no state_dict); pass a .ckpt written by train.py "
                           "(<run dir>/checkpoints/last.ckpt)")
    return ckpt


@contextlib.contextmanager
def _config_errors(section: str) -> Iterator[None]:
    """Hydra's InstantiationException (a config the target refuses) as an InvalidInput naming the section."""
    try:
        yield
    except InstantiationException as e:
        if isinstance(e.__cause__, HwgptError):
            raise e.__cause__ from None
        raise InvalidInput(f"{section} config cannot be built: {e}") from e


def validate_cfg(cfg: DictConfig) -> None:
    """Check the top-level options of ``conf/train.yaml``; errors name the option and what is allowed."""
    check_seed("seed", cfg.get("seed"))
    check_ckpt_path(cfg.get("ckpt_path"))
    if not isinstance(cfg.get("evaluate", True), bool):
        raise InvalidInput(f"evaluate must be true or false, got {cfg.evaluate!r}")
    trainer = cfg.get("trainer") or {}
    if trainer.get("max_steps") is None or trainer.max_steps == -1:
        raise InvalidInput(f"trainer.max_steps must be a number of optimizer steps >= 1 (the learning-rate schedule "
                           f"ends there), got {trainer.get('max_steps')!r}; Lightning's -1 (unlimited) is not allowed")
    check_int("trainer.max_steps", trainer.max_steps, min=1, max=MAX_STEPS)


def run(cfg: DictConfig) -> dict[str, Any]:
    """Train a supernet as configured; return the final results (also written to results.json).

    Args:
        cfg: The composed ``conf/train.yaml``.

    Returns:
        ``{"run_dir", "supernet", "step", "tokens_seen", "results"}`` (``results`` is the table of
        :func:`~hwgpt.training.evaluate.results_table`, or ``None`` when ``cfg.evaluate`` is false).
    """
    # Checkpoints after the optimizer step are what resuming needs (state and step agree).
    warnings.filterwarnings("ignore", message="Using ModelCheckpoint with manual optimization")
    validate_cfg(cfg)
    ckpt_path = cfg.get("ckpt_path")
    output_dir = Path(cfg.paths.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    _env_defaults(output_dir)
    pl.seed_everything(cfg.seed, workers=True)
    space = space_from_cfg(cfg.scale)
    with _config_errors("data"):
        datamodule = build_datamodule(cfg, space)
    with _config_errors("model"):
        module = instantiate(cfg.model, _partial_=True)(space=space)  # a dataclass can't pass through instantiate
    logger = build_logger(cfg.get("logger"), f"{cfg.task_name}-{cfg.scale.name}-{output_dir.name}")
    precision = choose_precision(cfg.trainer.get("precision", "32-true"), str(cfg.trainer.get("accelerator", "cpu")))
    callbacks = build_callbacks(cfg) + [OnExceptionCheckpoint(str(output_dir / "checkpoints"), "interrupted")]
    with _config_errors("trainer"):
        trainer: pl.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=logger, precision=precision.chosen)
    if logger:
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))  # type: ignore[arg-type]
    log.info("training scale %s for %s steps at precision %s (%s); run dir %s", space.name,
             cfg.trainer.get("max_steps"), precision.chosen, precision.reason, output_dir)
    _fit(trainer, module, datamodule, ckpt_path, output_dir)
    out = {"run_dir": str(output_dir), "step": trainer.global_step, "tokens_seen": module.tokens_seen,
           "precision": precision.to_dict()}
    out.update(_finish(cfg, module, datamodule, trainer, output_dir, precision) or {})
    return out


def _fit(trainer: pl.Trainer, module: Any, datamodule: Any, ckpt_path: str | None, output_dir: Path) -> None:
    """``trainer.fit``; Lightning's exit on Ctrl-C/SIGTERM becomes :class:`Interrupted` with the resume command."""
    try:
        safe = {"weights_only": True} if "weights_only" in inspect.signature(trainer.fit).parameters else {}
        if ckpt_path is not None and not safe:  # a Lightning whose fit() cannot be told: check the file again now
            load_checkpoint(ckpt_path, what=f"ckpt_path={ckpt_path}")
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path, **safe)
    except (SystemExit, KeyboardInterrupt) as e:
        if not trainer.interrupted and not isinstance(e, KeyboardInterrupt):
            raise
        saved = output_dir / "checkpoints" / "interrupted.ckpt"
        where = f"saved {saved}" if saved.is_file() else "no checkpoint could be saved"
        raise Interrupted(
            f"training stopped at step {trainer.global_step}; {where}. Resume with the same command plus "
            f"ckpt_path={saved if saved.is_file() else output_dir / 'checkpoints' / 'last.ckpt'}"
        ) from None
    finally:
        if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:  # Lightning ignores Ctrl-C while it shuts down
            signal.signal(signal.SIGINT, signal.default_int_handler)


@rank_zero_only
def _finish(cfg: DictConfig, module: Any, datamodule: Any, trainer: pl.Trainer, output_dir: Path,
            precision: PrecisionChoice | None = None) -> dict[str, Any]:
    """Rank 0: evaluate the final table, export the supernet and write results.json."""
    results = None
    if cfg.get("evaluate", True):
        progress = trainer.progress_bar_callback is not None
        results = results_table(module.model, datamodule, device=module.device, progress=progress)
        log.info("final validation perplexity (%d tokens):\n%s", results["val_tokens"] or 0, format_table(results))
        if trainer.logger is not None:
            trainer.logger.log_metrics({f"final/ppl_{k}": v for k, v in results["perplexity"].items()},
                                       step=trainer.global_step)
            trainer.logger.save()
        if not results["ordering_ok"]:
            log.warning("expected largest < smallest < unigram perplexity, got %s", results["perplexity"])
    extra = {"step": trainer.global_step, "tokens_seen": module.tokens_seen, "run_dir": str(output_dir),
             "data": datamodule.meta.get("corpus", cfg.data.get("_target_")), "seed": cfg.seed,
             "results": results["perplexity"] if results else None}
    tokenizer = datamodule.tokenizer_name
    path = save_supernet(module.model, output_dir / "supernet.safetensors", tokenizer=tokenizer, extra=extra)
    summary = {"scale": module.space.name, "tokenizer": datamodule.tokenizer_name, "supernet": str(path), **extra,
               "table": results, "precision": precision.to_dict() if precision else None}
    (output_dir / "results.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    log.info("wrote %s and %s", path, output_dir / "results.json")
    return {"supernet": str(path), "results": results}
