"""The documentation cannot drift from the code: every ```python block in README.md and docs/ runs, and the site builds.

Convention (also in docs/contributing-docs.md):

- Every fenced block opened with ```python (or ```py) is executed. The blocks of one page run in order in one shared
  namespace, in a fresh temporary directory as the current directory, with ``HWGPT_HOME`` pointing into it and W&B
  offline, so a page can build on its earlier blocks and nothing is written into the repository.
- A block that cannot run in a CPU test (it needs a GPU, the network, a long time, or quotes someone else's code) is
  marked by an HTML comment on the line right before its fence, naming why::

      <!-- no-run: needs a CUDA GPU -->
      ```python
      ...
      ```

  The comment is invisible on the rendered site. A no-run marker without a reason fails the test.
- ``mkdocs build --strict`` (broken links, missing anchors, unresolvable API references, a page missing from the nav)
  runs as a test too; it is skipped, saying so, when mkdocs is not installed (``pip install -e ".[docs]"``), and
  fails instead when ``HWGPT_DOCS_REQUIRED`` is set (CI).
- The README stays at most 150 lines, its relative links resolve, and its table of what ships is the output of
  ``python scripts/ship_summary.py`` on the artifacts as they are.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<ticks>`{3,}|~{3,})(?P<info>[^\n`]*)$")
NO_RUN = re.compile(r"^\s*<!--\s*no-run\b:?(?P<reason>.*?)-->\s*$")
PYTHON_INFOS = {"python", "py"}


@dataclass(frozen=True)
class Block:
    """One fenced code block of a Markdown page."""

    page: Path
    line: int  # 1-based line of the opening fence
    lang: str
    code: str
    no_run: str | None  # the reason given in a no-run marker, or None when the block runs


def _lang(info: str) -> str:
    info = info.strip()
    if info.startswith("{"):  # ```{.python .no-run} style attribute lists
        m = re.search(r"\.(\w+)", info)
        return m.group(1).lower() if m else ""
    return info.split()[0].lower() if info else ""


def blocks(page: Path) -> list[Block]:
    """The fenced code blocks of ``page`` in order (nested fences inside a longer fence are content)."""
    lines = page.read_text(encoding="utf-8").split("\n")
    out: list[Block] = []
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        ticks, indent, start = m.group("ticks"), m.group("indent"), i
        lang = _lang(m.group("info"))
        body: list[str] = []
        i += 1
        while i < len(lines):
            close = FENCE.match(lines[i])
            if close and close.group("ticks")[0] == ticks[0] and len(close.group("ticks")) >= len(ticks) \
                    and not close.group("info").strip():
                break
            line = lines[i]
            body.append(line[len(indent):] if line.startswith(indent) else line.lstrip())
            i += 1
        if i >= len(lines):
            raise AssertionError(f"{page}:{start + 1}: code fence {ticks} is never closed")
        prev = next((lines[j] for j in range(start - 1, -1, -1) if lines[j].strip()), "")
        marker = NO_RUN.match(prev)
        reason = marker.group("reason").strip() if marker else None
        if reason is None and "no-run" in m.group("info"):  # ```{.python .no-run}: not run, but it names no reason
            reason = ""
        out.append(Block(page, start + 1, lang, "\n".join(body) + "\n", reason))
        i += 1
    return out


def pages() -> list[Path]:
    """README.md and every Markdown page under docs/."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def python_blocks(page: Path) -> list[Block]:
    return [b for b in blocks(page) if b.lang in PYTHON_INFOS]


PAGES_WITH_PYTHON = [p for p in pages() if python_blocks(p)]


def _id(p: Path) -> str:
    return str(p.relative_to(ROOT))


def test_the_runner_finds_the_examples() -> None:
    """Guards the runner itself: the README and the getting-started page have examples that run."""
    runnable = {_id(p) for p in PAGES_WITH_PYTHON if any(b.no_run is None for b in python_blocks(p))}
    assert {"README.md", "docs/getting-started.md", "docs/guide/benchmark-api.md"} <= runnable


def test_parser_handles_markers_and_nesting(tmp_path: Path) -> None:
    page = tmp_path / "p.md"
    page.write_text(
        "text\n<!-- no-run: needs a GPU -->\n\n```python\nraise SystemExit\n```\n"
        "````markdown\n```python\nnot a block\n```\n````\n"
        "- item\n\n  ```py\n  x = 1\n  ```\n"
        "```{.python .no-run}\ny = 2\n```\n"
    )
    got = blocks(page)
    assert [(b.lang, b.no_run) for b in got] == [
        ("python", "needs a GPU"), ("markdown", None), ("py", None), ("python", "")]
    assert got[2].code == "x = 1\n"
    assert got[2].line == 14


@pytest.mark.parametrize("page", PAGES_WITH_PYTHON, ids=_id)
def test_no_run_markers_give_a_reason(page: Path) -> None:
    bare = [b.line for b in python_blocks(page) if b.no_run is not None and not b.no_run]
    assert not bare, (f"{_id(page)}: the blocks at lines {bare} are marked not to run without a reason; "
                      "put `<!-- no-run: <why> -->` on the line before the fence")


@pytest.mark.parametrize("page", PAGES_WITH_PYTHON, ids=_id)
def test_python_examples_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HWGPT_HOME", str(tmp_path / "hwgpt_home"))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace: dict[str, object] = {"__name__": "__docs_example__"}
    ran = 0
    for block in python_blocks(page):
        if block.no_run is not None:
            continue
        where = f"{_id(page)}:{block.line}"
        try:
            exec(compile(block.code, where, "exec"), namespace)  # noqa: S102 - running the docs is the point
        except Exception:  # noqa: BLE001 - report the failing block with its page and line
            pytest.fail(f"the example at {where} failed:\n{block.code}\n{traceback.format_exc()}", pytrace=False)
        ran += 1
    if ran == 0:
        pytest.skip(f"{_id(page)}: every python block is marked no-run")


README_MAX_LINES = 150


def test_readme_is_short_and_its_links_resolve() -> None:
    """The README fits on a few screens, and every relative link or figure in it exists (mkdocs checks docs/ only)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= README_MAX_LINES, f"README.md has {len(text.splitlines())} lines (max 150)"
    targets = re.findall(r"\]\(([^)\s]+)\)", text)
    assert targets, "README.md links into the docs"
    missing = [t for t in targets
               if not re.match(r"[a-z]+://|#|mailto:", t) and not (ROOT / t.split("#")[0]).exists()]
    assert not missing, f"README.md links to files that do not exist: {missing}"


def test_readme_table_of_what_ships_is_the_scripts_output(capsys: pytest.CaptureFixture[str]) -> None:
    """The README's table of shipped surrogates is exactly what `python scripts/ship_summary.py` prints today."""
    import runpy

    runpy.run_path(str(ROOT / "scripts" / "ship_summary.py"), run_name="__main__")
    table = capsys.readouterr().out.strip()
    header = table.splitlines()[0]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert header in readme, "README.md has no table of what ships (the output of scripts/ship_summary.py)"
    start = readme.index(header)
    end = readme.find("\n\n", start)
    shown = readme[start:end if end >= 0 else None].strip()
    assert shown == table, (
        "README.md's table of what ships differs from the shipped artifacts: replace it with the output of "
        f"`python scripts/ship_summary.py`:\n{table}"
    )


def test_docs_build_strict(tmp_path: Path) -> None:
    """`mkdocs build --strict`: a broken link, a missing anchor or an unresolvable API reference fails."""
    for module in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python"):
        if not _has_module(module):
            why = f'{module} is not installed: pip install -e ".[docs]" to build the documentation site'
            if os.environ.get("HWGPT_DOCS_REQUIRED"):  # CI sets it: a missing docs toolchain must not pass silently
                pytest.fail(f"HWGPT_DOCS_REQUIRED is set and {why}", pytrace=False)
            pytest.skip(why)
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(ROOT / "mkdocs.yml"),
         "--site-dir", str(tmp_path / "site")],
        cwd=ROOT, capture_output=True, text=True, timeout=110, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout}\n{proc.stderr}"
    assert (tmp_path / "site" / "index.html").is_file()


def _has_module(name: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False
