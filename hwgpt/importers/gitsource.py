"""Read files of one commit straight from a git repository's object store (no checkout).

Works on a bare git directory or on a clone's work tree; uses the ``git`` command line
(``git ls-tree``, ``git cat-file --batch``), so a later commit that deleted the files does not matter.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Blob", "GitSource", "SourceError"]


class SourceError(ValueError):
    """The source is missing, not a git repository, not the expected repository, or lacks the commit."""


@dataclass(frozen=True)
class Blob:
    """One file of the commit: its path, git blob id (SHA-1) and size in bytes."""

    path: str
    sha: str
    size: int | None  # None: the object is absent from this copy (git prints "BAD")


class GitSource:
    """A commit of a git repository, read from its objects.

    Args:
        path: A bare git directory, a ``.git`` directory, or a clone's work tree.
        commit: Commit-ish to read (abbreviated SHA allowed).
        hint: What to tell the user to fetch when the path or commit is wrong.

    Raises:
        SourceError: missing path, not a git repository, or the commit is absent.
    """

    def __init__(self, path: str | Path, commit: str, hint: str = "") -> None:
        if shutil.which("git") is None:
            raise SourceError("the `git` command is needed to read the source repository; install git")
        self.path = Path(path).expanduser()
        self.hint = hint
        if not self.path.exists():
            raise SourceError(f"source {str(self.path)!r} does not exist. {hint}")
        out = self._git("rev-parse", "--git-dir", check=False)
        if out.returncode != 0:
            raise SourceError(f"source {str(self.path)!r} is not a git repository. {hint}")
        full = self._git("rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}", check=False)
        if full.returncode != 0:
            raise SourceError(f"source {str(self.path)!r} lacks commit {commit!r} (a shallow clone, or another "
                              f"repository). {hint}")
        self.commit = full.stdout.decode().strip()
        date = self._git("show", "-s", "--format=%cI", self.commit)
        self.commit_date = date.stdout.decode().strip()

    def _git(self, *args: str, check: bool = True, input: bytes | None = None) -> subprocess.CompletedProcess:
        res = subprocess.run(["git", "-C", str(self.path), *args], capture_output=True, input=input)
        if check and res.returncode != 0:
            raise SourceError(f"git {' '.join(args)} failed in {self.path}: {res.stderr.decode().strip()}")
        return res

    def ls(self, *prefixes: str) -> list[Blob]:
        """Every blob of the commit under ``prefixes`` (all when none), sorted by path."""
        res = self._git("ls-tree", "-r", "-l", "-z", self.commit, "--", *prefixes)
        blobs = []
        for entry in res.stdout.decode().split("\0"):
            if not entry:
                continue
            meta, path = entry.split("\t", 1)
            _mode, kind, sha, size = meta.split()
            if kind == "blob":
                blobs.append(Blob(path, sha, int(size) if size.isdigit() else None))
        return sorted(blobs, key=lambda b: b.path)

    def has(self, path: str) -> bool:
        """Whether the commit holds ``path`` (a file or a directory)."""
        return self._git("cat-file", "-e", f"{self.commit}:{path}", check=False).returncode == 0

    def read(self, blob: Blob) -> bytes:
        """The blob's bytes, checked against its recorded size."""
        if blob.size is None:
            raise SourceError(f"{blob.path}: git object {blob.sha} is absent from {self.path}")
        data = self._git("cat-file", "blob", blob.sha).stdout
        if len(data) != blob.size:
            raise SourceError(f"{blob.path}: read {len(data)} bytes, the tree records {blob.size}")
        return data

    def iter_read(self, blobs: list[Blob]) -> Iterator[tuple[Blob, bytes | None]]:
        """Read many blobs through one ``git cat-file --batch`` process; None for an absent object."""
        proc = subprocess.Popen(["git", "-C", str(self.path), "cat-file", "--batch"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert proc.stdin is not None and proc.stdout is not None
        try:
            for blob in blobs:
                proc.stdin.write(f"{blob.sha}\n".encode())
                proc.stdin.flush()
                header = proc.stdout.readline().decode().split()
                if len(header) != 3 or header[1] != "blob":
                    yield blob, None  # absent object ("<sha> missing")
                    continue
                data = proc.stdout.read(int(header[2]))
                proc.stdout.read(1)  # the newline after the object
                yield blob, data
        finally:
            proc.stdin.close()
            proc.wait()
