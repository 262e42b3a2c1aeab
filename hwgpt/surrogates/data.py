"""From measurement-store rows to fit-ready observations: selection, architecture splits, hashes.

Everything here works on a pandas frame with the store's columns (``arch_id``, ``arch``,
``scale``, ``device``, ``metric``, ``value``, ``batch``, ``seq_len``, ``dtype``, ``threads``,
``flags``...), so surrogates can be fitted from :meth:`hwgpt.profiling.store.Store.observations`
or from any frame of the same shape (tests use :mod:`hwgpt.surrogates.synthetic`).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from hwgpt.search_space import Arch, SearchSpace
from hwgpt.surrogates.features import FeatureSpec

log = logging.getLogger(__name__)

SETTING_COLUMNS = ("batch", "seq_len", "dtype", "threads")
SPLITS = ("train", "calibration", "test")
MIN_ARCHS = 5


def parse_flags(value: Any) -> set[str]:
    """Flags of one row: None, ``""``, ``"a,b"``, a JSON list string, or a list."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return set()
    if isinstance(value, (list, tuple, set)):
        return {str(v) for v in value}
    s = str(value).strip()
    if s.startswith("["):
        try:
            return {str(v) for v in json.loads(s)}
        except json.JSONDecodeError:
            pass
    return {f.strip() for f in s.replace(";", ",").split(",") if f.strip()}


@dataclass
class Selection:
    """The observations of one (scale, device, metric) that a surrogate is fitted on.

    Attributes:
        frame: The selected rows.
        spec: Measurement setting (cost features are computed for it).
        setting: The selected ``batch``/``seq_len``/``dtype``/``threads`` values (None where absent).
        flags: Flags present on the selected rows.
        dropped: Rows dropped, by reason.
        kept_flagged: Excluded flags that were kept anyway (too few clean observations).
    """

    frame: pd.DataFrame
    spec: FeatureSpec
    setting: dict[str, Any]
    flags: list[str]
    dropped: dict[str, int] = field(default_factory=dict)
    kept_flagged: list[str] = field(default_factory=list)


def _clean(v: Any) -> Any:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    return v.item() if isinstance(v, np.generic) else v


def select(
    df: pd.DataFrame, space: SearchSpace, device: str, metric: str,
    exclude_flags: tuple[str, ...] | list[str] = ("contended",), min_clean_fraction: float = 0.5,
) -> Selection:
    """Rows of ``(space.name, device, metric)`` minus flagged ones, at the most common setting.

    Observations flagged with any of ``exclude_flags`` are dropped, unless that would leave fewer
    than ``min_clean_fraction`` of the architectures with any observation (a machine busy the whole
    time): then they are kept, with a warning, and listed in ``Selection.kept_flagged``.

    When a metric was measured at several settings (batch, seq_len, dtype, threads), the one
    covering the most architectures is used and the others are reported as dropped.

    Raises:
        ValueError: no usable rows, listing what the frame holds.
    """
    need = {"arch_id", "arch", "scale", "device", "metric", "value"}
    if missing := need - set(df.columns):
        raise ValueError(f"observation frame lacks columns {sorted(missing)}; it has {list(df.columns)}")
    rows = df[(df["scale"] == space.name) & (df["device"] == device) & (df["metric"] == metric)]
    if rows.empty:
        have = df.groupby(["scale", "device"])["metric"].unique().apply(sorted).to_dict()
        raise ValueError(
            f"no {metric!r} observations for scale {space.name!r} on device {device!r}; "
            f"the data holds (scale, device) -> metrics: {have or 'nothing'}")
    dropped: dict[str, int] = {}
    flags = rows["flags"].map(parse_flags) if "flags" in rows else pd.Series([set()] * len(rows), index=rows.index)
    bad = flags.map(lambda f: bool(f & set(exclude_flags)))
    kept_flagged: list[str] = []
    if bad.any():
        n_all, n_clean = rows["arch_id"].nunique(), rows.loc[~bad, "arch_id"].nunique()
        if n_clean < min_clean_fraction * n_all:
            kept_flagged = sorted(set(exclude_flags) & set().union(*flags[bad]))
            log.warning("%s on %s: only %d of %d architectures have observations without flags %s; keeping the "
                        "flagged ones (recorded in the artifact). Measure on a quiet machine for clean data.",
                        metric, device, n_clean, n_all, kept_flagged)
        else:
            dropped["flagged " + ",".join(sorted(exclude_flags))] = int(bad.sum())
            rows, flags = rows[~bad], flags[~bad]
    finite = np.isfinite(rows["value"].astype(float))
    if not finite.all():
        dropped["non-finite value"] = int((~finite).sum())
        rows, flags = rows[finite], flags[finite]
    if rows.empty:
        raise ValueError(f"every {metric!r} observation on {device!r} was dropped ({dropped})")
    cols = [c for c in SETTING_COLUMNS if c in rows]
    setting: dict[str, Any] = {c: None for c in SETTING_COLUMNS}
    if cols:
        keys = rows[cols].astype(object).where(rows[cols].notna(), None).apply(tuple, axis=1)
        n_archs = rows.groupby(keys)["arch_id"].nunique()
        best = n_archs.idxmax()
        if len(n_archs) > 1:
            dropped["other settings"] = int((keys != best).sum())
            log.warning("%s on %s was measured at %d settings %s; fitting the one with most archs: %s",
                        metric, device, len(n_archs), list(n_archs.index), best)
        keep = keys.map(lambda k: k == best)
        rows, flags = rows[keep], flags[keep]
        setting.update({c: _clean(v) for c, v in zip(cols, best, strict=True)})
    spec = FeatureSpec(
        batch=int(setting["batch"] or 1),
        seq_len=int(setting["seq_len"] or space.block_size),
        dtype=str(setting["dtype"] or "float32").removeprefix("torch."),
    )
    all_flags = sorted(set().union(*flags)) if len(flags) else []
    return Selection(rows.reset_index(drop=True), spec, setting, all_flags, dropped, kept_flagged)


def archs_of(frame: pd.DataFrame, space: SearchSpace) -> dict[str, Arch]:
    """arch_id -> validated Arch, parsed once per distinct architecture."""
    out = {}
    for aid, js in frame.drop_duplicates("arch_id")[["arch_id", "arch"]].itertuples(index=False):
        out[aid] = space.validate(Arch.from_dict(json.loads(js)))
    return out


def split_archs(arch_ids: list[str] | np.ndarray, fractions: dict[str, float], seed: int) -> dict[str, set[str]]:
    """Split distinct architecture ids into train / calibration / test, seeded and order-independent.

    Ids are ordered by a seeded hash, so the same architectures land in the same split for every
    metric measured on them. Each split gets at least one architecture.

    Raises:
        ValueError: fewer than :data:`MIN_ARCHS` architectures, or bad fractions.
    """
    ids = sorted(set(arch_ids))
    if set(fractions) != set(SPLITS) or any(v <= 0 for v in fractions.values()):
        raise ValueError(f"split fractions need positive {list(SPLITS)}, got {fractions}")
    if len(ids) < MIN_ARCHS:
        raise ValueError(f"need at least {MIN_ARCHS} distinct architectures to fit and validate, got {len(ids)}; "
                         "profile more (profile.py ... n_archs=...)")
    ids.sort(key=lambda a: hashlib.sha256(f"{seed}:{a}".encode()).hexdigest())
    total = sum(fractions.values())
    n_cal = max(1, int(round(len(ids) * fractions["calibration"] / total)))
    n_test = max(1, int(round(len(ids) * fractions["test"] / total)))
    n_train = len(ids) - n_cal - n_test
    return {"train": set(ids[:n_train]), "calibration": set(ids[n_train:n_train + n_cal]),
            "test": set(ids[n_train + n_cal:])}


def group_median(values: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct groups (sorted) and the median of ``values`` in each."""
    s = pd.Series(np.asarray(values, dtype=np.float64)).groupby(np.asarray(groups)).median()
    return s.index.to_numpy(), s.to_numpy()


def balance_weights(groups: np.ndarray) -> np.ndarray:
    """Row weights giving every group the same total weight (mean weight 1)."""
    _, inv, counts = np.unique(groups, return_inverse=True, return_counts=True)
    w = 1.0 / counts[inv]
    return w * len(w) / w.sum()


def frame_sha256(frame: pd.DataFrame) -> str:
    """Content hash of the rows a surrogate was fitted on (order-independent)."""
    cols = [c for c in ("arch_id", "metric", "value", "repeat", "run_id", *SETTING_COLUMNS) if c in frame]
    csv = frame[cols].sort_values(cols).to_csv(index=False)
    return hashlib.sha256(csv.encode()).hexdigest()


SPLIT_LIST_MAX = 2500


def describe_splits(split: dict[str, set[str]]) -> dict[str, Any]:
    """The arch ids of each split, as recorded in an artifact's metadata.

    Up to :data:`SPLIT_LIST_MAX` archs the ids are listed; above, each split is recorded by its size and
    the SHA-256 of its sorted ids (it is reproducible from the data and the seed with :func:`split_archs`),
    which keeps the metadata of surrogates fitted on the 10,000-arch published series small.
    """
    if sum(len(v) for v in split.values()) <= SPLIT_LIST_MAX:
        return {k: sorted(v) for k, v in split.items()}
    return {k: {"n": len(v), "sha256": hashlib.sha256(",".join(sorted(v)).encode()).hexdigest()}
            for k, v in split.items()}


def subsample(frame: pd.DataFrame, max_archs: int | None, max_obs_per_arch: int | None, seed: int) -> pd.DataFrame:
    """At most ``max_archs`` architectures and ``max_obs_per_arch`` observations of each (seeded samples).

    Architectures are chosen by a seeded hash of their id (so the same ones for every metric and device
    of a scale), observations uniformly within each architecture. None keeps everything.
    """
    if max_archs is not None and max_archs < MIN_ARCHS:
        raise ValueError(f"max_archs={max_archs}: need at least {MIN_ARCHS}")
    if max_obs_per_arch is not None and max_obs_per_arch < 1:
        raise ValueError(f"max_obs_per_arch={max_obs_per_arch}: need at least 1")
    out = frame
    if max_archs is not None:
        ids = sorted(set(out["arch_id"]))
        if len(ids) > max_archs:
            ids.sort(key=lambda a: hashlib.sha256(f"subsample:{seed}:{a}".encode()).hexdigest())
            out = out[out["arch_id"].isin(set(ids[:max_archs]))]
    if max_obs_per_arch is not None and out.groupby("arch_id").size().max() > max_obs_per_arch:
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(out))
        shuffled = out.iloc[order]
        out = shuffled[shuffled.groupby("arch_id").cumcount() < max_obs_per_arch].sort_index()
    return out.reset_index(drop=True)
