"""Fetch Debian packages with ``apt-get download`` and read files out of them.

The ``.deb`` archive (an ``ar`` file holding ``data.tar.*``) is read in pure Python,
so a package fetched elsewhere and dropped into the download directory works on any OS.
"""

from __future__ import annotations

import io
import logging
import shutil
import subprocess
import tarfile
import urllib.parse
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

DEBIAN_URL = "https://packages.debian.org/{package}"


def cached_deb(download_dir: Path, package: str) -> Path | None:
    """Return the newest ``<package>_*.deb`` in ``download_dir``, if any."""
    found = sorted(download_dir.glob(f"{package}_*.deb"), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


def deb_version(path: Path) -> str:
    """Version of a package from its file name ``<name>_<version>_<arch>.deb``."""
    parts = path.name.rsplit(".deb", 1)[0].split("_")
    return urllib.parse.unquote(parts[1]) if len(parts) == 3 else "unknown"


def _run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    log.debug("running %s in %s", " ".join(cmd), cwd)
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)


def apt_download(package: str, download_dir: Path) -> Path:
    """Download ``package`` into ``download_dir`` with ``apt-get download``.

    Runs ``apt-get update`` once and retries when the first attempt fails (a fresh
    machine has no package lists).

    Raises:
        RuntimeError: apt-get is missing or the download fails; the message says how
            to place the file by hand.
    """
    download_dir.mkdir(parents=True, exist_ok=True)
    hint = (
        f"Fetch the Debian package '{package}' (e.g. `apt-get download {package}` on a "
        f"Debian/Ubuntu machine, or from {DEBIAN_URL.format(package=package)}) and put the "
        f".deb file into {download_dir}."
    )
    if shutil.which("apt-get") is None:
        raise RuntimeError(f"apt-get is not available to build the default corpus. {hint}")
    log.info("downloading Debian package %s", package)
    proc = _run(["apt-get", "download", package], download_dir)
    if proc.returncode != 0:
        log.info("apt-get download %s failed; running apt-get update and retrying", package)
        update = _run(["apt-get", "update"], download_dir)
        if update.returncode != 0:
            log.warning("apt-get update failed: %s", update.stderr.strip()[-500:])
        proc = _run(["apt-get", "download", package], download_dir)
    deb = cached_deb(download_dir, package)
    if proc.returncode != 0 or deb is None:
        raise RuntimeError(f"apt-get download {package} failed ({proc.stderr.strip()[-500:]}). {hint}")
    return deb


def _ar_members(data: bytes) -> dict[str, bytes]:
    """Split a System V ``ar`` archive into ``{name: content}``."""
    if not data.startswith(b"!<arch>\n"):
        raise ValueError("not a Debian package (bad ar magic)")
    members: dict[str, bytes] = {}
    pos = 8
    while pos + 60 <= len(data):
        header = data[pos : pos + 60]
        name = header[:16].decode("ascii").strip().rstrip("/")
        size = int(header[48:58].decode("ascii").strip())
        start = pos + 60
        if start + size > len(data):
            raise ValueError(f"truncated Debian package (member {name})")
        members[name] = data[start : start + size]
        pos = start + size + (size % 2)
    return members


def read_deb_files(deb: Path, wanted: Callable[[str], bool]) -> dict[str, bytes]:
    """Return ``{path: bytes}`` for the files in a ``.deb`` whose path satisfies ``wanted``.

    Paths are given without the leading ``./`` (e.g. ``usr/share/dictd/foldoc.index``).

    Raises:
        ValueError: the file is not a readable Debian package.
    """
    members = _ar_members(deb.read_bytes())
    name = next((n for n in members if n.startswith("data.tar")), None)
    if name is None:
        raise ValueError(f"{deb} has no data.tar member")
    payload = members[name]
    if name.endswith(".zst"):  # tarfile cannot read zstd before Python 3.14
        proc = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], capture_output=True, check=True)
        payload = proc.stdout
    out: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(payload), mode="r:*") as tar:
        for info in tar:
            path = info.name.removeprefix("./")
            if info.isfile() and wanted(path):
                fobj = tar.extractfile(info)
                if fobj is not None:
                    out[path] = fobj.read()
    return out
