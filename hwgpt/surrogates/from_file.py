"""A new device's surrogates from a measurements file made anywhere: the sibling of ``profile.py ... fit=true``.

Command line (``key=value`` options, as ``profile.py``)::

    python -m hwgpt.surrogates.from_file <file.csv|file.parquet> device=<name> [scale=s] [metrics=latency]
        [overwrite=false] [method=auto] [folds=20] [seed=0] [out_dir=null] [check=false]

``profile.py ... fit=true`` measures on this machine, then fits; this command takes the measurements from
a file (:mod:`hwgpt.surrogates.measurements_file` defines and checks the format) and fits by the very same
transfer and CV+ calibration (:func:`hwgpt.surrogates.transfer.fit_transfer`, from every shipped device of
the scale but one of the same name). The surrogates go to ``$HWGPT_HOME/surrogates/<scale>/<device>/``
(:mod:`hwgpt.surrogates.userdirs`), where ``hwgpt.Benchmark(scale, device=<name>)`` and
``python search.py scale=<scale> device=<name>`` find them.

Nothing is written unless every row is valid and every metric fitted: the file is checked whole first,
then each metric is fitted in memory, then all are saved.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hwgpt.errors import InvalidInput
from hwgpt.surrogates import artifacts, userdirs
from hwgpt.surrogates.measurements_file import HARDWARE_METRICS, Measurements, MeasurementsFileError, read

log = logging.getLogger(__name__)

COMMAND = "python -m hwgpt.surrogates.from_file"


@dataclass
class Options:
    """Options of the command (``key=value`` on the command line).

    Attributes:
        file: The measurements file (``.csv`` or ``.parquet``); also the first positional argument.
        device: The new device's name (letters, digits, ``_ . + -``).
        scale: The scale of the archs; None infers it from them.
        metrics: Metrics to fit (None: every metric in the file).
        overwrite: Allow a device name the project ships (the user's copy then shadows it).
        method: Transfer method: ``auto``, ``scale_shift``, ``embedding`` or ``scratch``.
        folds: CV+ folds by arch (up to this many archs, jackknife+).
        seed: Seed of the folds.
        out_dir: Surrogate root; None: ``$HWGPT_HOME/surrogates``.
        check: Only read and validate the file (no fit, nothing written).
    """

    file: str | None = None
    device: str | None = None
    scale: str | None = None
    metrics: list[str] | None = None
    overwrite: bool = False
    method: str = "auto"
    folds: int = 20
    seed: int = 0
    out_dir: str | None = None
    check: bool = False


def _settings(options: Options) -> Any:
    from hwgpt.surrogates.transfer import TransferSettings

    try:
        return TransferSettings(method=options.method, folds=int(options.folds), seed=int(options.seed))
    except ValueError as e:
        raise InvalidInput(str(e)) from e


def check_device_name(device: str | None, overwrite: bool) -> str:
    """The device name, checked: a valid name, and not a shipped device's unless ``overwrite``.

    Raises:
        InvalidInput: no name, a name that cannot be a directory, or a shipped name without ``overwrite``.
    """
    from hwgpt.surrogates.new_device import shipped_devices

    if not device:
        raise InvalidInput(f"device=<name> is required: the name the new device's surrogates get "
                           f"(e.g. `{COMMAND} measurements.csv device=my_gpu`)")
    try:
        artifacts.check_name("device", device)
    except ValueError as e:
        raise InvalidInput(str(e)) from e
    if device == "local":
        raise InvalidInput("device=local names this machine (profile.py measures it); measurements from a file "
                           "need a name of their own, e.g. device=my_gpu")
    if device in shipped_devices() and not overwrite:
        raise InvalidInput(f"device={device} names a device the project ships; a surrogate under that name would "
                           f"replace it for every query. Use a name of your own (device=my_{device}), or pass "
                           "overwrite=true (the shipped one is then left out of the transfer sources either way)")
    return device


def fit_from_file(
    path: str | Path, device: str, scale: str | None = None, metrics: list[str] | None = None,
    overwrite: bool = False, settings: Any = None, out_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Fit ``device``'s surrogates from a measurements file and save them (all or nothing).

    Every shipped device of the scale with a surrogate of the metric is a transfer source, except a
    shipped device named ``device`` (with ``overwrite``): it never informs its own replacement.

    Args:
        path: The measurements file (``.csv`` or ``.parquet``).
        device: The new device's name.
        scale: The archs' scale; None infers it.
        metrics: Metrics to fit; None: every metric in the file.
        overwrite: Allow a shipped device's name.
        settings: :class:`hwgpt.surrogates.transfer.TransferSettings` (None: defaults, as ``fit=true``).
        out_dir: Surrogate root; None: ``$HWGPT_HOME/surrogates`` (:func:`userdirs.user_root`).

    Returns:
        ``{"dir", "seconds", "file", "metrics": {metric: summary}}``; the summary has the path, method,
        sources, archs, cross-validated tau, median relative error and 90% coverage.

    Raises:
        MeasurementsFileError: a bad file (the message names the row).
        InvalidInput: a bad device name, metric, too few archs (naming the minimum) or bad settings.
    """
    from hwgpt.search_space import SearchSpace
    from hwgpt.surrogates import transfer

    t0 = time.perf_counter()
    device = check_device_name(device, overwrite)
    settings = settings or transfer.TransferSettings()
    meas = read(path, scale, device)
    wanted = _metrics(meas, metrics)
    space = SearchSpace.from_name(meas.scale)
    sources = {m: transfer.shipped_sources(space.name, m, (device,)) for m in wanted}
    for m in wanted:  # every minimum before any fit, so a too-small second metric fails at once
        need = transfer.min_archs(settings.method, len(sources[m]))
        if meas.n_archs[m] < need:
            raise MeasurementsFileError(
                f"{m!r}: the file has {meas.n_archs[m]} distinct archs; the {settings.method!r} transfer "
                f"({len(sources[m])} source devices) needs at least {need}. About 20 give calibrated intervals")
        if meas.n_archs[m] < 20:
            log.warning("%s: %d archs; the transfer was validated with about 20 (fewer give wider, less reliable "
                        "intervals)", m, meas.n_archs[m])
    fitted = []
    for m in wanted:
        if not sources[m]:
            log.warning("no shipped device has a %s surrogate at scale %s: fitting %s from scratch on its own archs "
                        "(no transfer; expect wider intervals)", m, space.name, device)
        try:
            res = transfer.fit_transfer(meas.frame, space, m, device, sources[m], settings, meas.identity(device),
                                        meas.sha256)
        except transfer.TooFewArchsError as e:
            raise InvalidInput(str(e)) from e
        res.surrogate.meta["report"]["measurements_file"] = meas.summary()
        fitted.append((m, res))
    root = Path(out_dir).expanduser() if out_dir else userdirs.user_root()
    reports: dict[str, Any] = {}
    for m, res in fitted:
        if (root / space.name / device / f"{m}{userdirs.META_SUFFIX}").is_file():
            log.warning("replacing the %s surrogate of %s at %s in %s (fitted earlier)", m, device, space.name, root)
        path_m = artifacts.save(res.surrogate, root)
        r = res.report
        reports[m] = {"path": str(path_m), "method": r["method"], "sources": r["sources"],
                      "n_archs": r["n_archs_train"], "kendall_tau": r["kendall_tau"],
                      "median_relative_error": r["median_relative_error"], "coverage_0.9": r["coverage"].get("0.9")}
    seconds = time.perf_counter() - t0
    where = root / space.name / device
    log.info("fitted %s for %s at %s from %s in %.1f s into %s; query it with hwgpt.Benchmark(%r, device=%r) or "
             "`python search.py scale=%s device=%s`", list(reports), device, space.name, meas.path.name, seconds,
             where, space.name, device, space.name, device)
    return {"dir": str(where), "seconds": seconds, "file": meas.summary(), "metrics": reports}


def _metrics(meas: Measurements, metrics: list[str] | None) -> list[str]:
    if metrics is None:
        return meas.metrics
    bad = [m for m in metrics if m not in HARDWARE_METRICS]
    if bad:
        raise InvalidInput(f"metrics={metrics}: {bad} are not hardware metrics; allowed: {list(HARDWARE_METRICS)}")
    absent = [m for m in metrics if m not in meas.n_archs]
    if absent:
        raise InvalidInput(f"metrics={metrics}: the file has no rows of {absent}; it holds {meas.metrics}")
    return list(metrics)


# ------------------------------------------------------------------------------ command line
def parse_args(argv: list[str]) -> Options:
    """``[<file>] key=value ...`` into :class:`Options` (values parsed as by Hydra/OmegaConf: ``true``, ``[a,b]``)."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    dotlist, files = [], []
    for a in argv:
        (dotlist if "=" in a else files).append(a.removeprefix("+"))
    if len(files) > 1:
        raise InvalidInput(f"one measurements file, got {files}; other options are key=value")
    base = OmegaConf.structured(Options)
    try:
        given = OmegaConf.from_dotlist(dotlist)
        unknown = sorted(set(given) - set(base))
        if unknown:
            raise InvalidInput(f"unknown options {unknown}; allowed: {list(base)}")
        if isinstance(given.get("metrics"), str):
            given.metrics = given.metrics.split("+") if "+" in given.metrics else [given.metrics]
        cfg = OmegaConf.merge(base, given)
    except OmegaConfBaseException as e:
        raise InvalidInput(f"bad option: {e}".splitlines()[0]) from e
    opts: Options = OmegaConf.to_object(cfg)  # type: ignore[assignment]
    if files:
        if opts.file not in (None, files[0]):
            raise InvalidInput(f"two files: {files[0]!r} and file={opts.file!r}")
        opts.file = files[0]
    if not opts.file:
        raise InvalidInput(f"no measurements file; usage: {COMMAND} <file.csv|file.parquet> device=<name>")
    return opts


def run(options: Options) -> dict[str, Any]:
    """The command: validate (``check=true``) or fit and save; returns what it did (also logged)."""
    if options.check:
        device = check_device_name(options.device or "file_check", options.overwrite)
        meas = read(options.file, options.scale, device)
        _metrics(meas, options.metrics)
        summary = meas.summary()
        log.info("%s is valid: %s", options.file, json.dumps(summary["metrics"]))
        return {"valid": True, "file": summary}
    return fit_from_file(options.file, options.device, options.scale, options.metrics, options.overwrite,
                         _settings(options), options.out_dir)


USAGE = f"""usage: {COMMAND} <file.csv|file.parquet> device=<name> [scale=s] [metrics=latency]
       [overwrite=false] [method=auto] [folds=20] [seed=0] [out_dir=null] [check=false]

Fit a new device's surrogates from measurements made anywhere (docs/guide/your-device.md has the format)."""


def main(argv: list[str] | None = None) -> int:
    """Console entry point; a bad file or option ends with one line and exit status 2."""
    from hwgpt.errors import cli_main

    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        (sys.stdout if argv else sys.stderr).write(USAGE + "\n")  # asked for: stdout; missing arguments: stderr
        return 0 if argv else 2
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="[%(asctime)s][%(name)s][%(levelname)s] - %(message)s")

    def _run(args: list[str]) -> dict[str, Any]:
        return run(parse_args(args))

    called = Path(sys.argv[0]).name  # a console entry point (hwgpt-...) names itself; else the module
    out = cli_main(_run, argv, what=called if called.startswith("hwgpt") else COMMAND.split()[-1])
    sys.stdout.write(json.dumps(out, indent=1, default=str) + "\n")  # the command's result
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
