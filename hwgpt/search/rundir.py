"""The run directory of a search: checked before anything is written, owned by one run at a time.

* :func:`check_overrides` refuses, before Hydra creates any directory, a run directory that would
  be the current directory (``hydra.run.dir=``) or escape ``outputs/`` (``task_name=../../x``).
* :func:`check_run_dir` is the same check on a composed config (``run(cfg)`` called from Python).
* :class:`RunDirLock` is an exclusive ``fcntl.flock`` on ``<run dir>/.search.lock``: a second run
  given the same ``hydra.run.dir`` ends with one clear line instead of racing the first for
  ``results.json`` and the journal. The kernel releases the lock when the process ends, however it
  ends (SIGKILL and OOM kills included), so a stale lock file never blocks a resume.
* :class:`RunDirError` is raised when the run directory cannot be written (read-only, disk full):
  it names the directory and what was kept, and the CLI ends with that one line.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
from pathlib import Path
from typing import Any

from hwgpt.errors import HwgptError, InvalidInput
from hwgpt.names import ALLOWED, check_name

log = logging.getLogger(__name__)

LOCK_NAME = ".search.lock"


class RunDirError(HwgptError, OSError):
    """The run directory cannot be written (read-only, disk full, not a directory); names what was kept."""


def describe_os_error(e: OSError) -> str:
    """``disk full`` / ``read-only`` / ``permission denied`` ... in words."""
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return "the disk is full (no space left on device)"
    if e.errno == errno.EROFS:
        return "the file system is read-only"
    if e.errno in (errno.EACCES, errno.EPERM):
        return "permission denied (the directory is not writable)"
    return e.strerror or str(e)


def check_overrides(argv: list[str]) -> None:
    """Refuse ``hydra.run.dir=``/``hydra.sweep.dir=`` (empty: the current directory) and a ``task_name``
    that is not a name (it becomes a part of the run directory), before Hydra creates anything.

    Raises:
        InvalidInput: naming the override and what is allowed.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser

    args = [a for a in argv if not a.startswith("-")]
    try:
        overrides = OverridesParser.create().parse_overrides(args)
    except Exception:  # noqa: BLE001 - Hydra reports its own syntax errors
        return
    for o in overrides:
        key = o.key_or_group
        if o.is_delete() and key in ("hydra.run.dir", "hydra.sweep.dir", "task_name"):
            raise InvalidInput(f"~{key}: {key} cannot be removed (the run directory is built from it)")
        try:
            value = o.value()
        except Exception:  # noqa: BLE001
            continue
        if key in ("hydra.run.dir", "hydra.sweep.dir") and (value is None or (isinstance(value, str)
                                                                            and not value.strip())):
            raise InvalidInput(f"{key} is empty: that would write the run into the current directory; give a "
                               f"directory, e.g. {key}=outputs/search/my_run (or leave it out for a new one)")
        if key == "task_name" and isinstance(value, str):
            check_name("task_name", value)


def check_run_dir(cfg: Any) -> Path:
    """The run directory of a composed config, after the checks of :func:`check_overrides`.

    Returns:
        ``Path(cfg.paths.output_dir)``, absolute.
    """
    from omegaconf import OmegaConf

    task = OmegaConf.select(cfg, "task_name", default=None)
    if task is not None:
        check_name("task_name", task)
    run_dir = OmegaConf.select(cfg, "hydra.run.dir", default=None, throw_on_resolution_failure=False)
    if isinstance(run_dir, str) and not run_dir.strip():
        raise InvalidInput("hydra.run.dir is empty: that would write the run into the current directory; give a "
                           "directory, e.g. hydra.run.dir=outputs/search/my_run")
    out = OmegaConf.select(cfg, "paths.output_dir", default=None)
    if not isinstance(out, str) or not out.strip():
        raise InvalidInput(f"paths.output_dir (the run directory) must be a directory, got {out!r}; task names are "
                           f"{ALLOWED}")
    return Path(out).absolute()


class RunDirLock:
    """Exclusive lock of a run directory (``with RunDirLock(run_dir): ...``).

    Creates the directory if needed. Held through an open file descriptor: released on exit from
    the ``with`` block, and by the kernel when the process dies.

    Raises:
        InvalidInput: another process (or another run in this process) holds the directory.
        RunDirError: the directory cannot be created or written.
    """

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_NAME
        self._fd: int | None = None

    def __enter__(self) -> RunDirLock:
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as e:
            raise RunDirError(f"cannot write into the run directory {self.run_dir}: {describe_os_error(e)}; "
                              "nothing was written; give a writable hydra.run.dir") from e
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise InvalidInput(f"the run directory {self.run_dir} is in use by another search (it holds "
                                   f"{self.path}); wait for it to end, or give another hydra.run.dir") from e
            raise RunDirError(f"cannot lock the run directory {self.run_dir}: {describe_os_error(e)}") from e
        try:  # informational: who holds it (the lock is the flock, not the file's content)
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        except OSError:
            pass
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            finally:
                os.close(self._fd)
                self._fd = None
