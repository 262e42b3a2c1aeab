"""A measurements file: hardware measurements of one device made anywhere, as CSV or Parquet.

One row per observation. The format (also in ``docs/guide/your-device.md``):

=============== ========= ==================================================================================
column          required  meaning
=============== ========= ==================================================================================
``arch``        yes [1]_  the architecture: JSON of :meth:`hwgpt.Arch.to_dict` (in Parquet also a struct)
                          (``{"embed_dim": 384, "n_layer": 10, "n_head": [...], "mlp_ratio": [...],
                          "bias": true}``), as ``profile.py ... export=`` writes it
``metric``      yes       ``latency``, ``energy`` or ``memory`` (several metrics may share a file)
``value``       yes       the observation: a finite number > 0, in ``unit``
``unit``        yes       latency ``s``/``ms``/``us``; energy ``J``/``mJ``/``kJ``/``Wh``/``kWh``; memory
                          ``B``/``kB``/``MB``/``GB``/``KiB``/``MiB``/``GiB``. One unit per metric per file;
                          values are converted to the project's unit (s, J, B) by the named factor only
``batch``       yes       sequences per forward (an integer >= 1), one value per metric
``seq_len``     yes       tokens per sequence (1 .. the scale's block size), one value per metric
``dtype``       yes       ``float32``, ``bfloat16`` or ``float16``, one value per metric
``device_name`` yes       what was measured, e.g. ``NVIDIA H100 80GB HBM3`` (one value per file)
``device_kind`` no        ``gpu`` or ``cpu`` (one value per file)
``repeat``      no        the observation's index within its arch (integer >= 0); needed when genuine
                          repeats can be equal (rounded values, memory)
``arch_id``     no        ``Arch.id`` of ``arch``; checked when given
``threads``     no        CPU threads of the measurement, one value per metric
=============== ========= ==================================================================================

.. [1] Or, instead of ``arch``, the flattened Syne Tune columns of :meth:`hwgpt.SearchSpace.to_syne_tune`:
   ``embed_dim``, ``n_layer``, ``bias`` (``true``/``false`` or 1/0) and ``n_head_<i>``, ``mlp_ratio_<i>`` for
   ``i < n_layer`` (slots ``i >= n_layer`` may be empty and are ignored).

Rules (:func:`read`): every row is checked and the first problem raises :class:`MeasurementsFileError`
naming the row (1-based data row, the header is row 0), the column, the value and what is allowed.
Unknown columns are refused. An architecture must lie in the scale (given, or inferred: the one scale every
arch of the file lies in). Rows of one arch and metric with different values are *repeated observations*
(their spread becomes the interval's measurement noise); a row repeated exactly (every column equal, or
the same arch, metric and ``repeat``) is refused as a duplicate.
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hwgpt.errors import InvalidInput
from hwgpt.search_space import PRESETS, Arch, SearchSpace

HARDWARE_METRICS = ("latency", "energy", "memory")
"""Metrics a measurements file may hold (the transfer fits hardware metrics only)."""
PROJECT_UNITS = {"latency": "s", "energy": "J", "memory": "B"}
"""The unit each metric is stored and predicted in."""
UNITS: dict[str, dict[str, float]] = {
    "latency": {"s": 1.0, "ms": 1e-3, "us": 1e-6},
    "energy": {"J": 1.0, "mJ": 1e-3, "kJ": 1e3, "Wh": 3600.0, "kWh": 3.6e6},
    "memory": {"B": 1.0, "kB": 1e3, "MB": 1e6, "GB": 1e9, "KiB": 1024.0, "MiB": 1024.0 ** 2, "GiB": 1024.0 ** 3},
}
"""Accepted units per metric and their factor to :data:`PROJECT_UNITS` (exact spelling)."""
DTYPES = ("float32", "bfloat16", "float16")
DEVICE_KINDS = ("gpu", "cpu")
REQUIRED = ("metric", "value", "unit", "batch", "seq_len", "dtype", "device_name")
OPTIONAL = ("device_kind", "repeat", "arch_id", "threads")
FLAT_ARCH = ("embed_dim", "n_layer", "bias")
"""Flattened arch columns (with ``n_head_<i>`` and ``mlp_ratio_<i>``), the alternative to ``arch``."""
SETTING = ("batch", "seq_len", "dtype", "threads")
"""Columns that must hold one value per metric (the measurement setting)."""


class MeasurementsFileError(InvalidInput):
    """A measurements file that cannot be used; the message names the row, the column and what is allowed."""


@dataclass
class Measurements:
    """A validated measurements file, as observation rows with the measurement store's columns.

    Attributes:
        path: The file read.
        sha256: SHA-256 of its bytes.
        scale: The scale every arch lies in.
        frame: One row per observation: ``arch_id``, ``arch`` (canonical JSON), ``scale``, ``device``,
            ``metric``, ``value`` (project unit), ``unit`` (project unit), ``batch``, ``seq_len``, ``dtype``,
            ``threads``, ``repeat``, ``flags``, ``run_id``, ``row`` (the file's data row, 1-based).
        device_name: The file's ``device_name``.
        device_kind: The file's ``device_kind`` (None when the column is absent).
        units: The unit each metric was given in.
        n_archs: Distinct archs per metric.
    """

    path: Path
    sha256: str
    scale: str
    frame: pd.DataFrame
    device_name: str
    device_kind: str | None
    units: dict[str, str] = field(default_factory=dict)
    n_archs: dict[str, int] = field(default_factory=dict)

    @property
    def metrics(self) -> list[str]:
        """Metrics in the file, in :data:`HARDWARE_METRICS` order."""
        return [m for m in HARDWARE_METRICS if m in self.n_archs]

    def identity(self, device: str) -> dict[str, Any]:
        """The device identity recorded with a surrogate fitted from this file."""
        out: dict[str, Any] = {"id": device, "name": self.device_name, "source": "measurements file",
                               "measured_elsewhere": True, "file": self.path.name, "file_sha256": self.sha256}
        if self.device_kind:
            out["kind"] = self.device_kind
        return out

    def summary(self) -> dict[str, Any]:
        """What the file holds, per metric (for logs and reports)."""
        out: dict[str, Any] = {"file": self.path.name, "sha256": self.sha256, "scale": self.scale,
                               "device_name": self.device_name, "rows": int(len(self.frame)), "metrics": {}}
        for m in self.metrics:
            rows = self.frame[self.frame["metric"] == m]
            first = rows.iloc[0]
            out["metrics"][m] = {"archs": self.n_archs[m], "observations": int(len(rows)), "unit_given": self.units[m],
                                 "batch": int(first["batch"]), "seq_len": int(first["seq_len"]),
                                 "dtype": str(first["dtype"])}
        return out


# ------------------------------------------------------------------------------ reading
def _read_table(path: Path) -> pd.DataFrame:
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq"):
        raise MeasurementsFileError(f"measurements file {str(path)!r}: unknown format {suffix or '(no suffix)'!r}; "
                                    "use a .csv or .parquet file")
    if not path.is_file():
        raise MeasurementsFileError(f"measurements file {str(path)!r} does not exist")
    try:
        if suffix == ".csv":
            # everything as text: numbers are parsed per column below, so '1e-3' and '0.001' both work and
            # a value such as '12 ms' is reported with its row instead of turning the column into strings
            return pd.read_csv(path, dtype=str, keep_default_na=False)
        return pd.read_parquet(path)
    except (ValueError, OSError, pd.errors.ParserError) as e:  # pyarrow errors are ValueError/OSError subclasses
        raise MeasurementsFileError(f"measurements file {str(path)!r} cannot be read as {suffix[1:]}: {e}") from e


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, str) and v.strip() == "") or (isinstance(v, float) and math.isnan(v)) \
        or v is pd.NA


def _where(row: int, col: str) -> str:
    return f"row {row} ({col!r})"


def _as_int(v: Any, row: int, col: str, lo: int, hi: int | None = None) -> int:
    if isinstance(v, str):  # "4" or "4.0" (pandas writes an integer column with empty cells as floats)
        s = v.strip()
        try:
            x = float(s)
        except ValueError:
            x = float("nan")
        n = int(s) if s.lstrip("+-").isdigit() else int(x) if math.isfinite(x) and x.is_integer() else None
    elif isinstance(v, numbers.Integral) and not isinstance(v, bool):
        n = int(v)
    elif isinstance(v, numbers.Real) and not isinstance(v, bool) and float(v).is_integer():
        n = int(v)
    else:
        n = None
    if n is None or n < lo or (hi is not None and n > hi):
        rng = f">= {lo}" if hi is None else f"in {lo}..{hi}"
        raise MeasurementsFileError(f"{_where(row, col)}: {v!r} is not an integer {rng}")
    return n


def _as_float(v: Any, row: int, col: str) -> float:
    try:
        x = float(v.strip()) if isinstance(v, str) else float(v)
    except (TypeError, ValueError):
        x = float("nan")
    if isinstance(v, bool) or not math.isfinite(x) or x <= 0:
        raise MeasurementsFileError(f"{_where(row, col)}: {v!r} is not a finite number > 0 (give the number alone; "
                                    "the unit goes into the 'unit' column)")
    return x


def _as_bool(v: Any, row: int, col: str) -> bool:
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, numbers.Integral) and int(v) in (0, 1):
        return bool(int(v))
    s = str(v).strip().lower()
    if s in ("true", "1"):
        return True
    if s in ("false", "0"):
        return False
    raise MeasurementsFileError(f"{_where(row, col)}: {v!r} is not a boolean; allowed: true/false or 1/0")


def _choice(v: Any, row: int, col: str, allowed: tuple[str, ...] | list[str]) -> str:
    s = "" if _missing(v) else str(v).strip()
    if s not in allowed:
        raise MeasurementsFileError(f"{_where(row, col)}: {v!r} is not allowed; allowed: {list(allowed)}")
    return s


def _arch_from_json(v: Any, row: int) -> Arch:
    if _missing(v):
        raise MeasurementsFileError(f"{_where(row, 'arch')}: empty; give the JSON of hwgpt.Arch.to_dict")
    try:
        d = json.loads(v) if isinstance(v, str) else v
        if isinstance(d, dict):  # a Parquet struct column: numpy arrays and scalars -> Python lists and values
            d = {k: x.tolist() if hasattr(x, "tolist") else x for k, x in d.items()}
        return Arch.from_dict(d)
    except (json.JSONDecodeError, ValueError, TypeError) as e:
        raise MeasurementsFileError(f"{_where(row, 'arch')}: not an architecture ({e}); give the JSON of "
                                    'hwgpt.Arch.to_dict, e.g. {"embed_dim": 192, "n_layer": 10, "n_head": [4, ...], '
                                    '"mlp_ratio": [2, ...], "bias": true}') from e


def _arch_from_flat(rec: dict[str, Any], row: int) -> Arch:
    for c in FLAT_ARCH:
        if _missing(rec.get(c)):
            raise MeasurementsFileError(f"{_where(row, c)}: empty; the flattened arch needs {list(FLAT_ARCH)} and "
                                        "n_head_<i>, mlp_ratio_<i> for i < n_layer")
    n = _as_int(rec["n_layer"], row, "n_layer", 1)
    heads, ratios = [], []
    for i in range(n):
        for key, out in ((f"n_head_{i}", heads), (f"mlp_ratio_{i}", ratios)):
            if key not in rec or _missing(rec[key]):
                raise MeasurementsFileError(f"{_where(row, key)}: missing; an arch of n_layer={n} needs n_head_<i> "
                                            f"and mlp_ratio_<i> for i < {n}")
            out.append(_as_int(rec[key], row, key, 1))
    try:
        return Arch(embed_dim=_as_int(rec["embed_dim"], row, "embed_dim", 1), n_layer=n, n_head=tuple(heads),
                    mlp_ratio=tuple(ratios), bias=_as_bool(rec["bias"], row, "bias"))
    except ValueError as e:
        raise MeasurementsFileError(f"row {row}: not an architecture ({e})") from e


def _check_columns(cols: list[str]) -> str:
    """``"json"`` or ``"flat"``: how the file gives its archs; raises on unknown or missing columns."""
    flat = [c for c in cols if c in FLAT_ARCH or _is_slot(c)]
    mode = "json" if "arch" in cols else "flat" if flat else None
    if "arch" in cols and flat:
        raise MeasurementsFileError(f"the file has both an 'arch' column and flattened arch columns {flat[:4]}; "
                                    "give one of the two")
    allowed = set(REQUIRED) | set(OPTIONAL) | {"arch"}
    unknown = [c for c in cols if c not in allowed and not (mode == "flat" and (c in FLAT_ARCH or _is_slot(c)))]
    if unknown:
        raise MeasurementsFileError(f"unknown columns {unknown}; allowed: arch (or the flattened {list(FLAT_ARCH)}, "
                                    f"n_head_<i>, mlp_ratio_<i>), {list(REQUIRED)} and optionally {list(OPTIONAL)}")
    missing = [c for c in REQUIRED if c not in cols]
    if mode is None:
        missing = ["arch", *missing]
    elif mode == "flat":
        missing += [c for c in FLAT_ARCH if c not in cols]
    if missing:
        raise MeasurementsFileError(f"missing columns {missing}; a measurements file needs arch (or the flattened "
                                    f"{list(FLAT_ARCH)}, n_head_<i>, mlp_ratio_<i>) and {list(REQUIRED)}")
    return mode


def _is_slot(c: str) -> bool:
    for p in ("n_head_", "mlp_ratio_"):
        if c.startswith(p) and c[len(p):].isdigit():
            return True
    return False


def _infer_scale(archs: list[Arch], rows: list[int]) -> str:
    """The one scale every arch lies in (each arch of the file, checked in row order)."""
    spaces = [SearchSpace.from_name(s) for s in PRESETS]
    fits = {s.name for s in spaces}
    for arch, row in zip(archs, rows, strict=True):
        here = {s.name for s in spaces if _in_space(s, arch)}
        if not here:
            raise MeasurementsFileError(f"row {row} ('arch'): {arch.to_json()} lies in no scale {list(PRESETS)}; "
                                        "check it with hwgpt.SearchSpace.from_name(scale).validate(arch)")
        if not fits & here:
            raise MeasurementsFileError(f"row {row} ('arch'): lies in scale(s) {sorted(here)}, earlier rows in "
                                        f"{sorted(fits)}; a file holds archs of one scale")
        fits &= here
    if len(fits) > 1:
        raise MeasurementsFileError(f"the archs lie in several scales {sorted(fits)}; pass scale=<one of them>")
    return fits.pop()


def _in_space(space: SearchSpace, arch: Arch) -> bool:
    try:
        space.validate(arch)
    except ValueError:
        return False
    return True


def read(path: str | Path, scale: str | None = None, device: str = "file") -> Measurements:
    """Read and validate a measurements file (CSV or Parquet); see the module docstring for the format.

    Args:
        path: The ``.csv`` or ``.parquet`` file.
        scale: The scale the archs belong to; None infers it (the one scale every arch lies in).
        device: The device name written into the ``device`` column of the returned rows.

    Raises:
        MeasurementsFileError: anything wrong with the file (naming the row, column and what is allowed).
    """
    p = Path(path).expanduser()
    raw = _read_table(p)
    data = p.read_bytes()
    cols = [str(c) for c in raw.columns]
    if len(set(cols)) != len(cols):
        raise MeasurementsFileError(f"repeated column names {sorted({c for c in cols if cols.count(c) > 1})}")
    if raw.empty:
        raise MeasurementsFileError(f"measurements file {str(p)!r} has no rows")
    mode = _check_columns(cols)
    space = SearchSpace.from_name(scale) if scale is not None else None
    records = raw.to_dict("records")
    rows = list(range(1, len(records) + 1))
    archs = [_arch_from_json(r["arch"], i) if mode == "json" else _arch_from_flat(r, i)
             for r, i in zip(records, rows, strict=True)]
    if space is None:
        space = SearchSpace.from_name(_infer_scale(archs, rows))
    for arch, i in zip(archs, rows, strict=True):
        try:
            space.validate(arch)
        except ValueError as e:
            raise MeasurementsFileError(f"row {i} ('arch'): not in scale {space.name!r}: {e}") from e
    out: dict[str, list[Any]] = {k: [] for k in ("arch_id", "arch", "metric", "value", "unit_given", "batch",
                                                 "seq_len", "dtype", "threads", "repeat", "device_name",
                                                 "device_kind")}
    for r, i, arch in zip(records, rows, archs, strict=True):
        if "arch_id" in r and not _missing(r["arch_id"]) and str(r["arch_id"]).strip() != arch.id:
            raise MeasurementsFileError(f"{_where(i, 'arch_id')}: {r['arch_id']!r} is not the id of its arch "
                                        f"({arch.id}); leave the column out or fix it")
        metric = _choice(r["metric"], i, "metric", HARDWARE_METRICS)
        unit = _choice(r["unit"], i, "unit", list(UNITS[metric]))
        out["arch_id"].append(arch.id)
        out["arch"].append(arch.to_json())
        out["metric"].append(metric)
        out["value"].append(_as_float(r["value"], i, "value"))
        out["unit_given"].append(unit)
        out["batch"].append(_as_int(r["batch"], i, "batch", 1))
        out["seq_len"].append(_as_int(r["seq_len"], i, "seq_len", 1, space.block_size))
        out["dtype"].append(_choice(r["dtype"], i, "dtype", DTYPES))
        out["threads"].append(None if _missing(r.get("threads")) else _as_int(r["threads"], i, "threads", 1))
        out["repeat"].append(None if _missing(r.get("repeat")) else _as_int(r["repeat"], i, "repeat", 0))
        name = "" if _missing(r["device_name"]) else str(r["device_name"]).strip()
        if not name:
            raise MeasurementsFileError(f"{_where(i, 'device_name')}: empty; name the device measured "
                                        "(e.g. 'NVIDIA H100 80GB HBM3')")
        out["device_name"].append(name)
        out["device_kind"].append(None if _missing(r.get("device_kind"))
                                  else _choice(r["device_kind"], i, "device_kind", DEVICE_KINDS))
    df = pd.DataFrame(out)
    df["row"] = rows
    _check_one_value(df, "device_name", None)
    if "device_kind" in cols:
        _check_one_value(df, "device_kind", None)
    units = {}
    for m, g in df.groupby("metric", sort=False):
        _check_one_value(g, "unit_given", m, why="mixed units in one metric are refused; convert them first")
        for c in SETTING:
            _check_one_value(g, c, m, why="a metric is fitted at one measurement setting")
        units[str(m)] = str(g["unit_given"].iloc[0])
    _check_duplicates(df, "repeat" in cols)
    if "repeat" not in cols:
        df["repeat"] = df.groupby(["metric", "arch_id"]).cumcount()
    df["value"] = df["value"] * df["metric"].map(lambda m: UNITS[m][units[m]])
    df["unit"] = df["metric"].map(PROJECT_UNITS)
    df["scale"] = space.name
    df["device"] = device
    df["flags"] = ""
    df["run_id"] = hashlib.sha256(data).hexdigest()[:16]
    n_archs = {str(m): int(n) for m, n in df.groupby("metric")["arch_id"].nunique().items()}
    frame = df[["arch_id", "arch", "scale", "device", "metric", "value", "unit", "batch", "seq_len", "dtype",
                "threads", "repeat", "flags", "run_id", "row"]].reset_index(drop=True)
    kind = df["device_kind"].iloc[0] if "device_kind" in cols else None
    return Measurements(p, hashlib.sha256(data).hexdigest(), space.name, frame, str(df["device_name"].iloc[0]),
                        kind, units, n_archs)


def _check_one_value(g: pd.DataFrame, col: str, metric: str | None, why: str = "") -> None:
    vals = g[col].astype(object).where(g[col].notna(), None)
    first = vals.iloc[0]
    diff = vals.map(lambda v: v != first)
    if diff.any():
        j = int(np.argmax(diff.to_numpy()))
        scope = f"metric {metric!r}" if metric else "the file"
        name = col.removesuffix("_given")  # the file's column
        raise MeasurementsFileError(
            f"row {int(g['row'].iloc[j])} ({name!r}): {vals.iloc[j]!r} differs from {first!r} of row "
            f"{int(g['row'].iloc[0])}; {scope} must have one {name}" + (f" ({why})" if why else "")
            + ("; put each device into its own file" if col == "device_name" else ""))


def _check_duplicates(df: pd.DataFrame, has_repeat: bool) -> None:
    key = ["metric", "arch_id", "repeat"] if has_repeat else [
        "metric", "arch_id", "value", "unit_given", "batch", "seq_len", "dtype", "threads", "device_name"]
    k = df[key].astype(object).where(df[key].notna(), None).apply(tuple, axis=1)
    dup = k.duplicated(keep="first")
    if dup.any():
        j = int(np.argmax(dup.to_numpy()))
        first = int(df["row"][k == k.iloc[j]].iloc[0])
        what = "the same arch, metric and repeat" if has_repeat else "every column equal"
        hint = "" if has_repeat else ("; if equal values are genuine repeats (rounded values, memory), add a "
                                      "'repeat' column numbering each arch's observations")
        raise MeasurementsFileError(f"row {int(df['row'].iloc[j])} duplicates row {first} ({what}){hint}")
