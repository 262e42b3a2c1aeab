"""The library's exception classes and the checks that raise them.

Every error hwgpt raises on purpose derives from :class:`HwgptError`, so a caller (or a CLI) can
tell "you gave me something wrong" from a bug. The classes also derive from the built-in class a
Python user would expect (``ValueError``, ``TypeError``, ``RuntimeError``), so ``except
ValueError`` keeps working. Messages name the parameter, the value given and what is allowed.

The ``check_*`` helpers are for public boundaries (API functions, configs, CLIs)::

    batch = check_int("batch", batch, min=1)
    coverage = check_float("coverage", coverage, min=0.0, max=1.0, inclusive=False)
    seed = check_seed("seed", seed)

:func:`cli_main` wraps a CLI's ``run(cfg)``: a library error or Ctrl-C/SIGTERM ends with one
clear line (also written to the run directory's log) and exit status 2 or 130, not a traceback.
"""

from __future__ import annotations

import errno
import logging
import math
import numbers
import re
import signal
import sys
from collections.abc import Callable, Iterable
from typing import Any, NoReturn, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class HwgptError(Exception):
    """Base class of every error hwgpt raises on purpose."""


class InvalidInput(HwgptError, ValueError):
    """A parameter has a value outside what is allowed (the message names both)."""


class InvalidType(InvalidInput, TypeError):
    """A parameter has the wrong type; also a ``ValueError`` (it is a bad input like any other)."""


class StoreError(HwgptError, RuntimeError):
    """The measurement store cannot be opened, read or written; the file is left as it was."""


class ArtifactError(HwgptError, ValueError):
    """A surrogate artifact is missing, corrupt or incompatible with this version of hwgpt."""


class ArtifactIntegrityError(ArtifactError):
    """An artifact file is missing from, unlisted in, or differs from its directory's manifest."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM ended a run; the message says what was kept and how to resume.

    A ``KeyboardInterrupt`` (so ``except Exception`` does not swallow it), not an :class:`HwgptError`.
    """


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _type_name(value: Any) -> str:
    return type(value).__name__


def check_int(name: str, value: Any, *, min: int | None = None, max: int | None = None) -> int:  # noqa: A002
    """``value`` as an int in ``[min, max]``; bools, floats and strings are refused.

    Raises:
        InvalidType: not an integer (``1.0``, ``"8"``, ``True``).
        InvalidInput: outside the range.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidType(f"{name} must be an integer, got {_show(value)} ({_type_name(value)})")
    v = int(value)
    if (min is not None and v < min) or (max is not None and v > max):
        lo = "" if min is None else f">= {min}"
        hi = "" if max is None else f"<= {max}"
        raise InvalidInput(f"{name} must be {' and '.join(x for x in (lo, hi) if x)}, got {v}")
    return v


def check_float(
    name: str, value: Any, *, min: float | None = None, max: float | None = None,  # noqa: A002
    inclusive: bool = True,
) -> float:
    """``value`` as a finite float in ``[min, max]`` (open interval if not ``inclusive``).

    Raises:
        InvalidType: not a real number (strings, bools, None).
        InvalidInput: NaN, infinite, or outside the range.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidType(f"{name} must be a number, got {_show(value)} ({_type_name(value)})")
    v = float(value)
    if not math.isfinite(v):
        raise InvalidInput(f"{name} must be a finite number, got {v}")
    lo_bad = min is not None and (v < min if inclusive else v <= min)
    hi_bad = max is not None and (v > max if inclusive else v >= max)
    if lo_bad or hi_bad:
        op_lo, op_hi = (">=", "<=") if inclusive else (">", "<")
        parts = ([f"{op_lo} {min}"] if min is not None else []) + ([f"{op_hi} {max}"] if max is not None else [])
        raise InvalidInput(f"{name} must be {' and '.join(parts)}, got {v}")
    return v


def check_seed(name: str, value: Any) -> int:
    """A seed for numpy/torch generators: an integer in ``[0, 2**63 - 1]``."""
    return check_int(name, value, min=0, max=2**63 - 1)


def check_choice(name: str, value: Any, allowed: Iterable[T]) -> T:
    """``value`` if it is one of ``allowed`` (compared with ``==``, type-strict for bools)."""
    options = list(allowed)
    for option in options:
        if type(value) is type(option) and value == option:
            return option
    raise InvalidInput(f"{name} must be one of {options}, got {_show(value)}")


def check_str(name: str, value: Any) -> str:
    """A non-empty string."""
    if not isinstance(value, str):
        raise InvalidType(f"{name} must be a string, got {_show(value)} ({_type_name(value)})")
    if not value:
        raise InvalidInput(f"{name} must be a non-empty string")
    return value


def _raise_interrupt(signum: int, _frame: Any) -> NoReturn:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def cli_main(run: Callable[[Any], T], cfg: Any, *, what: str) -> T:
    """Run a CLI's ``run(cfg)``: library errors and interruptions end in one line, no traceback.

    SIGTERM is handled like Ctrl-C. The line goes through ``logging`` (so Hydra writes it into the
    run directory's log) and to stderr; the process exits with status 2 (a bad input or a store /
    artifact problem) or 130 (interrupted). A full disk, a read-only or unwritable directory
    (``ENOSPC``, ``EDQUOT``, ``EROFS``, ``EACCES``, ``EPERM``), a config that does not resolve (an
    OmegaConf error such as ``${oc.env:UNSET}`` or a deleted key) and one of our errors raised inside
    a Hydra ``_target_`` also end in one line with status 2. Other exceptions (bugs) propagate with
    their traceback and are logged first, so the run directory's log records every error.

    Args:
        run: The entry point, ``run(cfg)``.
        cfg: Its config.
        what: The command, for messages (``"profile.py"``).
    """
    previous = signal.getsignal(signal.SIGTERM)
    try:
        signal.signal(signal.SIGTERM, _raise_interrupt)
    except ValueError:  # not the main thread: leave SIGTERM alone
        previous = None
    try:
        return run(cfg)
    except Interrupted as e:
        _exit_line(f"{what}: interrupted: {e}", 130)
    except KeyboardInterrupt:
        _exit_line(f"{what}: interrupted; what was written is kept, rerun the same command to resume", 130)
    except HwgptError as e:
        _exit_line(f"{what}: error: {e}", 2)
    except OSError as e:
        if e.errno not in _DISK_ERRNOS:
            log.exception("%s failed with an unexpected error (a bug: please report it with this log)", what)
            raise
        _exit_line(f"{what}: error: cannot write {e.filename or 'a file'}: {e.strerror}; what was written before "
                   "is kept (free space or choose a writable directory, then rerun the same command)", 2)
    except Exception as e:
        if isinstance(e.__cause__, HwgptError) and type(e).__name__ == "InstantiationException":
            _exit_line(f"{what}: error: {e.__cause__}", 2)  # our check inside a Hydra _target_
        if _is_config_error(e):
            _exit_line(f"{what}: error: bad config: {_config_message(e)}", 2)
        log.exception("%s failed with an unexpected error (a bug: please report it with this log)", what)
        raise
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def cli_argv(rewrite: Callable[[list[str]], list[str]], argv: list[str], *, what: str) -> list[str]:
    """``rewrite(argv)`` before Hydra composes; one of our errors ends with one line (exit status 2).

    For command-line checks that must run before any file is touched (device names in profile.py).
    """
    try:
        return rewrite(list(argv))
    except HwgptError as e:
        _exit_line(f"{what}: error: {e}", 2)


_DISK_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM)
"""``OSError`` numbers :func:`cli_main` reports as one line (disk full, quota, read-only, permission)."""


def _is_config_error(e: BaseException) -> bool:
    """An OmegaConf error: an unresolved interpolation (``${oc.env:UNSET}``), a deleted or mistyped key."""
    try:
        from omegaconf.errors import OmegaConfBaseException
    except ImportError:  # pragma: no cover - omegaconf comes with hydra
        return False
    return isinstance(e, OmegaConfBaseException)


def _config_message(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def _exit_line(line: str, status: int) -> NoReturn:
    """End the command with ``line`` on stderr, once, and in the run's log file where there is one."""
    line = re.sub(r"\s*\n\s*", " ", line.strip())  # one line, even for a multi-line message (Hydra's)
    record = log.makeRecord(log.name, logging.ERROR, __file__, 0, line, None, None)
    for h in logging.getLogger().handlers:  # the log file (Hydra's job log); the terminal gets it below
        if isinstance(h, logging.FileHandler) and record.levelno >= h.level:
            h.handle(record)
    sys.stderr.write(line + "\n")
    sys.stderr.flush()
    raise SystemExit(status)
