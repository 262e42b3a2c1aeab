"""Fit, calibrate, validate and save the surrogates of one (scale, device) from the measurement store.

Command line (Hydra, config ``conf/fit.yaml``)::

    python -m hwgpt.surrogates.fit scale=tiny device=cpu store=/path/to/store.sqlite [out_dir=...]

fits every metric the store holds for that (scale, device) (``metrics=[latency,energy]`` to choose),
except ``flops``/``params``, which :class:`hwgpt.Benchmark` answers exactly. Artifacts go to the
user's directory ``$HWGPT_HOME/surrogates`` (default, see :mod:`hwgpt.surrogates.userdirs`; found by
``hwgpt.Benchmark`` without further options), to ``out_dir``, or, only with ``into_package=true``
(the release scripts), into the installed package. Each save switches the metric's directory
atomically (:func:`hwgpt.surrogates.artifacts.save`): a killed fit leaves the previous surrogate
loadable. Validation plots and ``reports.json`` go to the Hydra run directory. A bad option ends
with one line (exit status 2). In Python, :func:`fit_metric` works on any frame with the store's columns.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hwgpt.errors import InvalidInput, StoreError, check_int, check_seed
from hwgpt.metrics import METRICS
from hwgpt.names import check_name
from hwgpt.provenance import file_sha256, versions
from hwgpt.search_space import SearchSpace
from hwgpt.surrogates import artifacts, data, validation
from hwgpt.surrogates.boosting import BoostSettings
from hwgpt.surrogates.features import arch_arrays, feature_names, features
from hwgpt.surrogates.mlp import MLPSettings
from hwgpt.surrogates.predictor import PointSettings, PointSurrogate
from hwgpt.surrogates.quantile import QuantileSettings, QuantileSurrogate
from hwgpt.surrogates.surrogate import EXACT_METRICS, POINT_METRICS, Surrogate, default_transform, to_fit_space

log = logging.getLogger(__name__)

@dataclass
class FitSettings:
    """Everything that shapes a fit (recorded in each artifact).

    Attributes:
        seed: Seed of the architecture split, tuning splits, models and validation sampling.
        split: Shares of architectures for train / calibration / test.
        exclude_flags: Observations carrying any of these flags are left out.
        quantile: Settings of hardware-metric surrogates.
        point: Settings of perplexity/accuracy predictors.
        max_archs: Use at most this many architectures (a seeded sample) for train+calibration+test;
            None uses all. The published data has 10,000 archs per series: a few thousand fit as well
            (held-out tau and coverage are reported) at a fraction of the time and file size.
        max_obs_per_arch: Use at most this many observations of each architecture (a seeded sample);
            None uses all (the published energy series have 50 per arch).
    """

    seed: int = 0
    split: dict[str, float] = field(default_factory=lambda: {"train": 0.6, "calibration": 0.2, "test": 0.2})
    exclude_flags: list[str] = field(default_factory=lambda: ["contended"])
    quantile: QuantileSettings = field(default_factory=QuantileSettings)
    point: PointSettings = field(default_factory=PointSettings)
    max_archs: int | None = None
    max_obs_per_arch: int | None = None

    def __post_init__(self) -> None:
        self.seed = check_seed("settings.seed", self.seed)
        if not isinstance(self.split, dict) or set(self.split) != set(data.SPLITS):
            raise InvalidInput(f"settings.split must give the shares {list(data.SPLITS)}, got {self.split!r}")
        for k, v in self.split.items():
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v < 1:
                raise InvalidInput(f"settings.split.{k} must be a share between 0 and 1 (exclusive), got {v!r}")
        if abs(sum(self.split.values()) - 1.0) > 1e-6:
            total = sum(self.split.values())
            raise InvalidInput(f"settings.split shares must sum to 1, got {self.split} (sum {total})")
        if not isinstance(self.exclude_flags, (list, tuple)) or not all(isinstance(f, str) for f in self.exclude_flags):
            raise InvalidInput(f"settings.exclude_flags must be a list of flag names, got {self.exclude_flags!r}")
        if self.max_archs is not None:
            self.max_archs = check_int("settings.max_archs", self.max_archs, min=data.MIN_ARCHS)
        if self.max_obs_per_arch is not None:
            self.max_obs_per_arch = check_int("settings.max_obs_per_arch", self.max_obs_per_arch, min=1)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def fast(cls, seed: int = 0) -> FitSettings:
        """Small boosters (one depth, <= 60 rounds) and a small MLP: a second or two per metric.

        For tests and smoke runs; real surrogates use the defaults (``conf/fit.yaml``).
        """
        boost = BoostSettings(max_depth=[3], learning_rate=0.2, max_rounds=60, early_stopping_rounds=10, nthread=1)
        return cls(seed=seed, quantile=QuantileSettings(boost=boost),
                   point=PointSettings(boost=boost, mlp=MLPSettings(hidden=[16], max_iter=300)))


@dataclass
class FitResult:
    """One fitted surrogate, its validation and how long the fit took."""

    surrogate: Surrogate
    validation: validation.Validation
    seconds: float

    @property
    def report(self) -> dict[str, Any]:
        return self.surrogate.meta["report"]


def fit_metric(
    df: pd.DataFrame, space: SearchSpace, metric: str, device: str, settings: FitSettings | None = None,
    device_identity: dict[str, Any] | None = None, store_sha256: str | None = None,
) -> FitResult:
    """Fit, calibrate and validate the surrogate of one metric from observation rows.

    Args:
        df: Observations with the store's columns (other scales/devices/metrics are ignored).
        space: Search space of the scale.
        metric: Metric to model (not ``flops``/``params``).
        device: Device id, as in the ``device`` column.
        settings: Fit settings (defaults if None).
        device_identity: Detected identity of the device, recorded in the artifact.
        store_sha256: Hash of the store file the frame came from, recorded in the artifact.

    Raises:
        ValueError: exact metrics, or too little usable data (the message says what exists).
    """
    settings = settings or FitSettings()
    if metric in EXACT_METRICS:
        raise InvalidInput(f"{metric!r} is exact (hwgpt.cost); it is never surrogate-modelled")
    t0 = time.perf_counter()
    sel = data.select(df, space, device, metric, settings.exclude_flags)
    sel.frame = data.subsample(sel.frame, settings.max_archs, settings.max_obs_per_arch, settings.seed)
    archs = data.archs_of(sel.frame, space)
    ids = list(archs)
    split = data.split_archs(ids, settings.split, settings.seed)
    X_arch = features(arch_arrays([archs[a] for a in ids], space), space, sel.spec)
    row_of = {a: i for i, a in enumerate(ids)}
    groups = sel.frame["arch_id"].to_numpy()
    X = X_arch[[row_of[g] for g in groups]]
    values = sel.frame["value"].to_numpy(dtype=np.float64)
    unit = str(sel.frame["unit"].iloc[0]) if "unit" in sel.frame else ""
    meta: dict[str, Any] = {
        "scale": space.name, "device": device, "metric": metric, "unit": unit,
        "transform": default_transform(metric),
        "observation_noise": metric not in POINT_METRICS,
        "features": {"names": feature_names(space), "spec": sel.spec.to_dict()},
        "levels": [0.5],
    }
    cls = PointSurrogate if metric in POINT_METRICS else QuantileSurrogate
    yf = to_fit_space(values, meta["transform"], metric)
    mask = {k: pd.Series(groups).isin(v).to_numpy() for k, v in split.items()}
    tr = mask["train"]
    w = data.balance_weights(groups[tr])
    cfg = settings.point if metric in POINT_METRICS else settings.quantile
    surrogate = cls.fit(meta, X[tr], yf[tr], w, groups[tr], cfg, settings.seed)
    surrogate.calibrate(X[mask["calibration"]], yf[mask["calibration"]])
    val = validation.validate(surrogate, X[mask["test"]], values[mask["test"]], groups[mask["test"]], settings.seed)
    seconds = time.perf_counter() - t0
    meta["report"] = {
        "n_archs_train": len(split["train"]), "n_archs_calibration": len(split["calibration"]),
        "n_archs_test": len(split["test"]),
        **val.report,
        "model": meta["model"],
        "device": device_identity or {"id": device},
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "versions": versions(),
        "store_sha256": store_sha256,
        "data_sha256": data.frame_sha256(sel.frame),
        "settings": {
            "fit": settings.to_dict() if metric not in POINT_METRICS else
            {**settings.to_dict(), "quantile": None},
            "measurement": sel.setting, "flags": sel.flags, "dropped": sel.dropped,
            "kept_flagged": sel.kept_flagged,
            "n_observations": len(values),
        },
        "fit_seconds": round(seconds, 3),
    }
    meta["splits"] = data.describe_splits(split)
    log.info("%s/%s/%s: %d archs (%d obs), test tau=%.3f r2=%s coverage=%s", space.name, device, metric,
             len(ids), len(values), val.report["kendall_tau"] or float("nan"), val.report["r2"], val.report["coverage"])
    return FitResult(surrogate, val, seconds)


def fit_all(
    df: pd.DataFrame, space: SearchSpace, device: str, settings: FitSettings | None = None,
    metrics: list[str] | None = None, out_dir: str | Path | None = None, plots_dir: str | Path | None = None,
    device_identity: dict[str, Any] | None = None, store_sha256: str | None = None, into_package: bool = False,
) -> dict[str, FitResult]:
    """Fit every metric of (scale, device) in ``df`` (or ``metrics``), save artifacts and plots.

    Args:
        out_dir: Artifact root; None writes into the user's root ``$HWGPT_HOME/surrogates``
            (:func:`hwgpt.surrogates.userdirs.user_root`), where ``hwgpt.Benchmark`` finds it.
        plots_dir: Where validation plots go (None: no plots).
        into_package: Write into the installed package's ``hwgpt/artifacts/surrogates`` (the release
            scripts; refuses surrogates fitted on rows flagged ``synthetic``). Not with ``out_dir``.

    Raises:
        InvalidInput: unknown, exact or unmeasured metrics (the message lists what the frame holds).
    """
    from tqdm.auto import tqdm

    from hwgpt.surrogates import userdirs

    if into_package and out_dir is not None:
        raise InvalidInput(f"give out_dir ({out_dir}) or into_package=true, not both")
    if metrics is not None:
        if isinstance(metrics, str) or not isinstance(metrics, (list, tuple)):
            raise InvalidInput(f"metrics must be a list of metric names, got {metrics!r}")
        metrics = _not_exact([check_name("metric", m) for m in metrics])
    here = df[(df["scale"] == space.name) & (df["device"] == device)]
    present = sorted(set(here["metric"]) - set(EXACT_METRICS))
    have = (df.groupby(["scale", "device"])["metric"].unique().apply(sorted).to_dict() if len(df) else {})
    if metrics is None:
        metrics = present
    if missing := [m for m in metrics if m not in present]:
        if unknown := [m for m in missing if m not in METRICS and m not in set(df["metric"])]:
            raise InvalidInput(f"unknown metric(s) {unknown}: the store holds no such metric for any scale or device; "
                               f"surrogate-modelled metrics are {[m for m in METRICS if m not in EXACT_METRICS]}")
        raise InvalidInput(f"no observations of {missing} for scale {space.name!r} on device {device!r}; "
                           f"the store holds (scale, device) -> metrics: {have or 'nothing'}. Measure them first: "
                           f"python profile.py scale={space.name} device={device} metric={missing[0]}")
    if not metrics:
        raise InvalidInput(f"nothing to fit for scale {space.name!r} on device {device!r}: the store holds "
                           f"(scale, device) -> metrics: {have or 'nothing (it is empty)'}. Measure first: "
                           f"python profile.py scale={space.name} device={device} metric=latency")
    if into_package and "flags" in here and here["flags"].map(data.parse_flags).map(
            lambda f: "synthetic" in f).any():
        raise InvalidInput("refusing to write surrogates fitted on synthetic observations into the shipped package "
                           "directory; leave into_package out (or pass out_dir=...)")
    root = artifacts.package_root() if into_package else userdirs.user_root() if out_dir is None else Path(out_dir)
    results = {}
    for metric in (bar := tqdm(metrics, desc=f"fit {space.name}/{device}", unit="metric")):
        bar.set_postfix_str(metric)
        try:
            res = fit_metric(df, space, metric, device, settings, device_identity, store_sha256)
        except InvalidInput:
            raise
        except ValueError as e:  # data.select / split_archs: too little usable data (the message says what exists)
            raise InvalidInput(f"cannot fit {space.name}/{device}/{metric}: {e}") from e
        try:
            artifacts.save(res.surrogate, Path(str(root)))
        except OSError as e:  # disk full, read-only: save() left the previous generation as it was
            raise artifacts.ArtifactError(f"cannot write the {metric} surrogate under {root}: {e}; the previous "
                                          "surrogate (if any) is kept unchanged") from e
        if plots_dir is not None:
            validation.plot(res.validation, Path(plots_dir), f"{space.name}_{device}_{metric}")
        results[metric] = res
    return results


def run(cfg: Any) -> tuple[dict[str, Any], dict[str, FitResult]]:
    """Entry point behind ``python -m hwgpt.surrogates.fit``: read the store, fit, save, report.

    Args:
        cfg: The composed ``conf/fit.yaml`` (``scale``, ``device`` groups; ``store``, ``metrics``,
            ``out_dir``, ``into_package``, ``plots``, ``settings``; ``paths.output_dir`` receives plots
            and ``reports.json``).

    Returns:
        ``({metric: report}, {metric: FitResult})``.

    Raises:
        InvalidInput: a bad option (names it and what is allowed), an empty store or one without
            (scale, device), unknown or exact metrics; :class:`~hwgpt.errors.StoreError`: the store
            cannot be read.
    """
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    from hwgpt.profiling.store import Store

    space = SearchSpace.from_name(cfg.scale.name)
    device = check_name("device", cfg.device.name)
    metrics = _metrics_option(cfg.get("metrics"))
    out_dir = cfg.get("out_dir")
    into_package = cfg.get("into_package", False)
    if not isinstance(into_package, bool):
        raise InvalidInput(f"into_package must be true or false, got {into_package!r}")
    try:
        settings = instantiate(cfg.settings, _convert_="all")
    except InstantiationException as e:  # FitSettings' own InvalidInput, wrapped by Hydra
        cause = e.__cause__
        if isinstance(cause, InvalidInput):
            raise InvalidInput(str(cause)) from e
        raise InvalidInput(f"bad settings: {e}") from e
    if cfg.get("store") is None or not str(cfg.store).strip():
        raise InvalidInput("store must name a measurement store (.sqlite) or an imported directory, got nothing")
    store_path = Path(str(cfg.store)).expanduser()
    if store_path.is_dir():  # imported published data (python -m hwgpt.importers.hwgptbench)
        from hwgpt.importers.hwgptbench import observations as imported

        df = imported(store_path, scale=space.name, device=device)
        if metrics:
            df = df[df["metric"].isin(metrics)]
        identity = json.loads(df["device_identity"].iloc[0]) if len(df) else {"id": device}
        store_sha = data.frame_sha256(df)
    elif not store_path.is_file():
        raise InvalidInput(f"measurement store {store_path} does not exist; create it with "
                         f"`python profile.py scale={space.name} device={device} metric=latency store={store_path}`"
                         " (or import the published data: python -m hwgpt.importers.hwgptbench source=...)")
    else:
        try:
            with Store(store_path) as store:
                df = store.observations(scale=space.name, device=device)
                held = None if len(df) else store._query("SELECT DISTINCT scale, device, metric FROM observations")
                identity = device_identity(store.devices(), df, device)
        except StoreError:
            raise
        except Exception as e:  # noqa: BLE001 - sqlite3.DatabaseError, pandas: not a usable store
            raise StoreError(f"cannot read the measurement store {store_path}: {type(e).__name__}: {e}") from e
        if held is not None:
            have = {f"{sc}/{dv}": sorted(g["metric"]) for (sc, dv), g in held.groupby(["scale", "device"])}
            raise InvalidInput(f"the store {store_path} holds no observations of scale {space.name!r} on device "
                               f"{device!r}; it holds (scale/device -> metrics) {have or 'nothing (it is empty)'}. "
                               "Choose one of those, or measure first: python profile.py "
                               f" scale={space.name} device={device} metric=latency store={store_path}")
        store_sha = file_sha256(store_path)
    out = Path(str(cfg.paths.output_dir))
    results = fit_all(df, space, device, settings, metrics, None if out_dir is None else Path(str(out_dir)),
                      out / "plots" if cfg.get("plots", True) else None, identity, store_sha, into_package)
    reports = {m: r.report for m, r in results.items()}
    out.mkdir(parents=True, exist_ok=True)
    (out / "reports.json").write_text(json.dumps(reports, indent=1, default=str))
    log.info("wrote %d surrogates for %s/%s; reports in %s", len(results), space.name, device, out / "reports.json")
    return reports, results


def _metrics_option(value: Any) -> list[str] | None:
    """``metrics=`` from the command line: null or a list of metric names (``metrics=latency`` is one)."""
    from omegaconf import ListConfig, OmegaConf

    if value is None:
        return None
    if isinstance(value, ListConfig):
        value = OmegaConf.to_container(value)
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise InvalidInput(f"metrics must be null or a non-empty list such as [latency,energy], got {value!r}")
    return _not_exact([check_name("metric", m) for m in value])


def _not_exact(metrics: list[str]) -> list[str]:
    """``metrics``, refused if any is exact (checked before the store is read: the first thing wrong is said first)."""
    if exact := [m for m in metrics if m in EXACT_METRICS]:
        raise InvalidInput(f"metrics={exact} are exact (hwgpt.cost computes them; hwgpt.Benchmark answers them "
                           f"without a surrogate), so they are never fitted; leave them out")
    return metrics


def device_identity(devices: pd.DataFrame, obs: pd.DataFrame, device: str) -> dict[str, Any]:
    """Detected identity of the device the observations came from (the store's ``devices`` table).

    Several identities under one device name (e.g. two machines profiled as ``cpu``) are all listed.
    """
    keys = set(obs["device_key"]) if "device_key" in obs else set()
    rows = devices[devices["device_key"].isin(keys)] if keys else devices[devices["name"] == device]
    found = []
    for r in rows.itertuples(index=False):
        try:
            ident = json.loads(r.identity)
        except (TypeError, json.JSONDecodeError):
            ident = {"raw": str(r.identity)}
        found.append({"id": device, "name": r.name, "kind": r.kind, "device_key": r.device_key, **ident})
    if not found:
        return {"id": device}
    return found[0] if len(found) == 1 else {"id": device, "identities": found}


def main() -> None:
    import hydra

    from hwgpt.configs import CONF_DIR
    from hwgpt.errors import cli_main

    @hydra.main(version_base="1.3", config_path=str(CONF_DIR),
                config_name="fit")
    def _main(cfg):
        cli_main(run, cfg, what="python -m hwgpt.surrogates.fit")

    _main()


if __name__ == "__main__":
    main()
