"""The package works without the repository: a built wheel carries its configs and command-line entry points.

Builds the sdist and, from it, the wheel (``python -m build --no-isolation``: offline, with the setuptools
of this environment), installs the wheel into a fresh virtual environment whose dependencies come from this
one (a ``.pth`` line; this environment's editable hwgpt is *not* visible there), and runs ``hwgpt-search``
from an empty temporary directory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = ("hwgpt-search", "hwgpt-profile", "hwgpt-train", "hwgpt-fit", "hwgpt-import", "hwgpt-report",
            "hwgpt-device-from-file")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("build", reason="the wheel test needs the 'build' package (pip install -e '.[dev]')")
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)],
                   check=True, capture_output=True, text=True, timeout=600)
    (whl,) = out.glob("hwgpt-*.whl")
    return whl


@pytest.mark.timeout(900)  # builds the wheel (fixture): ~30 s on a quiet machine
def test_wheel_holds_configs_and_surrogates(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    conf = {n.removeprefix("hwgpt/conf/") for n in names if n.startswith("hwgpt/conf/")}
    repo_conf = {p.relative_to(ROOT / "conf").as_posix() for p in (ROOT / "conf").rglob("*.yaml")}
    assert repo_conf - {c for c in repo_conf if c.startswith("local/")} <= conf  # every shipped config
    assert any(n.startswith("hwgpt/artifacts/") and n.endswith("manifest.json") for n in names)
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert all(f"{c} = hwgpt.cli:" in text for c in COMMANDS)


@pytest.mark.timeout(900)
def test_installed_wheel_runs_hwgpt_search_from_any_directory(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    site = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    # Dependencies from this environment, appended after the venv's own site-packages (its .pth files,
    # among them the editable install of hwgpt, are not processed from there).
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "zz_deps_from_test_env.pth").write_text("\n".join(sorted(deps)) + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "--no-index", "-q",
                    str(wheel)], check=True, capture_output=True, text=True, timeout=300)
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PROJECT_ROOT", "PYTHONPATH")}
    env.update(WANDB_MODE="disabled", HWGPT_HOME=str(tmp_path / "home"))
    where = subprocess.run([str(py), "-c", "import hwgpt; print(hwgpt.__file__)"], cwd=work, env=env,
                           check=True, capture_output=True, text=True).stdout.strip()
    assert Path(where).is_relative_to(site) and not Path(where).is_relative_to(ROOT)
    done = subprocess.run([str(venv / "bin" / "hwgpt-search"), "n_evals=4", "logger=none", "progress=false"],
                          cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    (results,) = work.glob("outputs/search/*/results.json")
    res = json.loads(results.read_text())
    assert res["scale"] == "tiny" and len(res["history"]) == 4
    bad = subprocess.run([str(venv / "bin" / "hwgpt-search"), "optimizer=nope"], cwd=work, env=env,
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    assert "nope" in bad.stderr and "rs" in bad.stderr  # names the bad value and what exists
