"""The search journal: the history of a run, appended as it goes (``<run dir>/history.jsonl``).

``results.json`` is written when a run ends (or is interrupted by Ctrl-C/SIGTERM); a SIGKILL, an
OOM kill or a full disk would lose everything before it. The journal keeps every counted
evaluation the moment it is made: one JSON object per line (JSON Lines), append-only, written to
the file with each evaluation and ``fsync``-ed at least every :data:`SYNC_SECONDS` seconds and when
the run ends. A process killed at any point loses at most the evaluation being written (a torn
last line); a machine that loses power, at most the last seconds.

Format (version :data:`FORMAT_VERSION`): the first line is the header, identifying the run::

    {"kind": "hwgpt.search.journal", "format_version": 1, "optimizer": "rs", "scale": "tiny",
     "objectives": ["perplexity", "latency"], "devices": {"latency": "cpu"}, "seed": 0,
     "noise": true, "protocol": {...}, "duplicates": "reuse"[, "constraints": {...}]}

then one line per counted evaluation, in order::

    {"index": 0, "arch": {...}, "objectives": {"perplexity": 131.2, "latency": 0.0123},
     "simulated_seconds": 4.1, "rounds": 10}

(plus any keys other parts of the runner add to the record, e.g. ``feasible``). Floats are written
with Python's shortest round-trip repr, so a replayed history is bit-identical.

Reading (:func:`read_journal`): a torn last line (no newline at its end) is dropped with a warning
(that evaluation is made again, identically); a malformed line before it, a header of another kind
or format version, indices out of order, unknown or missing objectives, non-finite values and
(when duplicates are reused) an architecture twice are refused with :class:`~hwgpt.errors.InvalidInput`
and the file is left as it is.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hwgpt.errors import InvalidInput
from hwgpt.search.rundir import RunDirError, describe_os_error
from hwgpt.search_space import Arch

log = logging.getLogger(__name__)

JOURNAL_NAME = "history.jsonl"
KIND = "hwgpt.search.journal"
FORMAT_VERSION = 1
SYNC_SECONDS = 2.0
"""Longest time between two ``fsync`` calls while evaluations come in."""

ENTRY_KEYS = ("index", "arch", "objectives", "simulated_seconds", "rounds")
TRANSIENT_KEYS = ("replayed",)  # keys of a callback record that are not part of the history


@dataclass
class History:
    """A checked history (from a journal or a results.json).

    Attributes:
        header: The journal's header (for a results.json: its top-level keys).
        entries: One dict per counted evaluation (``ENTRY_KEYS`` and any extra keys).
        archs: The entries' architectures.
        size: Bytes of the journal up to the last complete line (0 for a results.json).
        torn: A torn last line was dropped.
    """

    header: dict[str, Any]
    entries: list[dict[str, Any]]
    archs: list[Arch]
    size: int = 0
    torn: bool = False


def check_entries(entries: Any, names: Sequence[str], source: str, *, unique: bool) -> list[Arch]:
    """Check history entries: index order, valid archs, exactly the objectives, finite values.

    Args:
        entries: The entries.
        names: The objective names every entry must have.
        source: Where they come from, for messages (``"<path> line 7"`` is built from it).
        unique: Refuse an architecture evaluated twice (runs with ``duplicates=reuse``).

    Returns:
        The architectures.
    """
    if not isinstance(entries, list):
        raise InvalidInput(f"{source}: the history must be a list of entries, got {type(entries).__name__}")
    archs: list[Arch] = []
    first: dict[Arch, int] = {}
    for i, e in enumerate(entries):
        where = f"{source}: evaluation {i}"
        if not isinstance(e, dict) or any(k not in e for k in ENTRY_KEYS[1:]):
            raise InvalidInput(f"{where} is not a history entry (needs {list(ENTRY_KEYS[1:])})")
        if "index" in e and e["index"] != i:
            raise InvalidInput(f"{where} has index {e['index']!r}: entries must be in order 0, 1, 2, ...")
        try:
            arch = Arch.from_dict(e["arch"])
        except Exception as err:  # noqa: BLE001 - any malformed arch is a corrupt history
            raise InvalidInput(f"{where} has an invalid arch ({err})") from err
        obj = e["objectives"]
        if not isinstance(obj, dict) or sorted(obj) != sorted(names):
            got = sorted(obj) if isinstance(obj, dict) else obj
            raise InvalidInput(f"{where} has objectives {got!r}, the run has {list(names)}")
        for k, v in obj.items():
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise InvalidInput(f"{where}: objective {k} is {v!r}; a history holds finite numbers only")
        secs = e["simulated_seconds"]
        if isinstance(secs, bool) or not isinstance(secs, (int, float)) or not math.isfinite(secs) or secs < 0:
            raise InvalidInput(f"{where}: simulated_seconds is {secs!r}, must be a finite number >= 0")
        r = e["rounds"]
        if r is not None and (isinstance(r, bool) or not isinstance(r, int) or r < 1):
            raise InvalidInput(f"{where}: rounds is {r!r}, must be a positive int (or null)")
        if unique and arch in first:
            raise InvalidInput(f"{where} repeats the architecture of evaluation {first[arch]} (a run with "
                               "duplicates=reuse evaluates each architecture once): the history is corrupt")
        first.setdefault(arch, i)
        archs.append(arch)
    return archs


def read_journal(path: Path, *, unique: bool = True) -> History | None:
    """Read and check a journal; None if it holds no complete header line (nothing to resume).

    Raises:
        InvalidInput: corrupt, foreign or of another format version (the file is left as it is).
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise RunDirError(f"cannot read the journal {path}: {describe_os_error(e)}") from e
    end = data.rfind(b"\n") + 1  # bytes up to the last complete line
    torn = end < len(data)
    if torn:
        log.warning("journal %s: dropped a torn last line of %d bytes (the process was killed while writing it; "
                    "that evaluation is made again)", path, len(data) - end)
    lines = data[:end].split(b"\n")[:-1]
    if not lines:
        return None
    parsed = []
    for n, line in enumerate(lines, start=1):
        try:
            parsed.append(json.loads(line.decode("utf-8")))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise InvalidInput(f"journal {path} line {n} is corrupt ({e}); it is not the torn last line of a killed "
                               "run, so the journal was altered: move it away to start afresh") from e
    header, entries = parsed[0], parsed[1:]
    if not isinstance(header, dict) or header.get("kind") != KIND:
        raise InvalidInput(f"{path} is not a search journal (its first line is not a {KIND!r} header)")
    if header.get("format_version") != FORMAT_VERSION:
        raise InvalidInput(f"journal {path} has format version {header.get('format_version')!r}; this hwgpt reads "
                           f"version {FORMAT_VERSION} only")
    names = header.get("objectives")
    if not isinstance(names, list) or not names or not all(isinstance(k, str) for k in names):
        raise InvalidInput(f"journal {path}: the header's objectives must be a list of names, got {names!r}")
    archs = check_entries(entries, names, f"journal {path}", unique=unique)
    return History(header=header, entries=entries, archs=archs, size=end, torn=torn)


class Journal:
    """Appends the records of :func:`hwgpt.search.runner.optimize`'s callback hook to the journal.

    Use as the callback: ``journal(record)``. Records with an index already in the journal (a
    resumed run replaying its history) are skipped; the next index is appended.

    Args:
        path: The journal file.
        header: Written as the first line when the journal is new.
        history: The journal read back (resume): it is cut after its last complete line and appended to.
        sync_seconds: Longest time between two fsyncs while records come in.
    """

    def __init__(self, path: Path, header: Mapping[str, Any], history: History | None = None,
                 sync_seconds: float = SYNC_SECONDS) -> None:
        self.path = Path(path)
        self.sync_seconds = sync_seconds
        self.n = len(history.entries) if history is not None else 0
        try:
            if history is not None:
                self._f = open(self.path, "r+b")  # noqa: SIM115 - closed in close()
                self._f.truncate(history.size)  # drop a torn last line before appending
                self._f.seek(history.size)
            else:
                self._f = open(self.path, "wb")  # noqa: SIM115
                self._f.write(_line(dict(header)))
            self._f.flush()
            os.fsync(self._f.fileno())
            _sync_dir(self.path.parent)
        except OSError as e:
            raise RunDirError(f"cannot write the search journal {self.path}: {describe_os_error(e)}; give a "
                              "writable hydra.run.dir with free space") from e
        self._last_sync = time.monotonic()

    def __call__(self, record: Mapping[str, Any]) -> None:
        i = record["index"]
        if i < self.n:
            return
        if i != self.n:
            raise RuntimeError(f"journal: record {i} after {self.n} records (a bug in the search loop)")
        entry = {k: v for k, v in record.items() if k not in TRANSIENT_KEYS}
        try:
            line = _line(entry)
        except ValueError as e:
            raise InvalidInput(f"evaluation {i} has a non-finite value ({e}): {entry['objectives']}") from e
        try:
            self._append(line)
        except OSError as e:
            raise RunDirError(f"cannot append to the search journal {self.path}: {describe_os_error(e)}; the "
                              f"first {self.n} evaluations are kept in it; free space and continue with "
                              f"resume=true hydra.run.dir={self.path.parent}") from e
        self.n += 1

    def _append(self, line: bytes) -> None:
        self._f.write(line)
        self._f.flush()  # in the kernel: survives a kill of this process
        now = time.monotonic()
        if now - self._last_sync >= self.sync_seconds:
            os.fsync(self._f.fileno())  # on the disk: survives a power loss
            self._last_sync = now

    def close(self) -> None:
        """Flush, fsync and close (also after an error: what was written is kept)."""
        f, self._f = getattr(self, "_f", None), None
        if f is None:
            return
        try:
            f.flush()
            os.fsync(f.fileno())
        except OSError as e:
            log.error("journal %s: final flush failed (%s); the evaluations written before are kept",
                      self.path, describe_os_error(e))
        finally:
            try:
                f.close()
            except OSError:
                pass

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _line(obj: Mapping[str, Any]) -> bytes:
    return (json.dumps(obj, allow_nan=False, separators=(",", ":")) + "\n").encode("utf-8")


def _sync_dir(path: Path) -> None:
    """fsync a directory (a new file's name survives a power loss); best effort."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
