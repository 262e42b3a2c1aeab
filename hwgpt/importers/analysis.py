"""The paper's cross-device analysis, redone on the imported measurements themselves (not surrogates).

Command line::

    python -m hwgpt.importers.analysis [import_dir=outputs/import/hwgptbench] [out_dir=docs/results/published]

For each scale: the per-architecture median of every (metric, device) series, then Kendall's tau between
every pair of series over the architectures both hold (``correlation_<scale>.json`` and ``.png``), and a
summary per scale (``summary.json``): the mean tau between devices for latency, for energy, between
latency and energy, and between perplexity and each hardware metric. The paper reports that hardware
metrics correlate less across devices as the scale grows.
"""

from __future__ import annotations

import json
import logging
import sys
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import kendalltau

from hwgpt.importers.hwgptbench import SCALES, observations

log = logging.getLogger(__name__)
HW = ("latency", "energy", "memory")


def medians(root: Path, scale: str) -> pd.DataFrame:
    """archs x ``metric@device`` table of per-architecture medians (warm-up energy observations excluded)."""
    cols = {}
    for path in sorted(root.glob(f"{scale}/*/*.parquet")):
        df = pd.read_parquet(path, columns=["arch_id", "value", "flags", "metric", "device"])
        df = df[df["flags"].fillna("") == ""]
        name = f"{df['metric'].iloc[0]}@{df['device'].iloc[0]}"
        cols[name.replace("@any", "")] = df.groupby("arch_id")["value"].median()
    return pd.DataFrame(cols)


def correlations(table: pd.DataFrame) -> pd.DataFrame:
    """Kendall tau of every pair of columns over the rows both hold."""
    names = list(table.columns)
    out = pd.DataFrame(np.eye(len(names)), index=names, columns=names)
    for a, b in combinations(names, 2):
        both = table[[a, b]].dropna()
        tau = kendalltau(both[a], both[b]).statistic if len(both) > 2 else np.nan
        out.loc[a, b] = out.loc[b, a] = tau
    return out


def summarize(tau: pd.DataFrame) -> dict[str, Any]:
    """Mean off-diagonal tau per kind of pair (between devices of one metric, across metrics)."""
    def kind(c: str) -> str:
        return c.split("@")[0]

    groups: dict[str, list[float]] = {}
    for a, b in combinations(tau.columns, 2):
        ka, kb = sorted((kind(a), kind(b)))
        key = f"{ka} vs {kb}" if ka != kb else f"{ka} across devices"
        if (ka in HW or kb in HW) and np.isfinite(tau.loc[a, b]):
            groups.setdefault(key, []).append(float(tau.loc[a, b]))
    return {k: {"mean": round(float(np.mean(v)), 3), "min": round(float(np.min(v)), 3), "pairs": len(v)}
            for k, v in sorted(groups.items())}


def plot(tau: pd.DataFrame, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(tau)
    fig, ax = plt.subplots(figsize=(0.42 * n + 2, 0.42 * n + 1.5))
    im = ax.imshow(tau.to_numpy(), vmin=-1, vmax=1, cmap="RdBu_r")
    ax.set_xticks(range(n), tau.columns, rotation=90, fontsize=7)
    ax.set_yticks(range(n), tau.index, fontsize=7)
    fig.colorbar(im, ax=ax, label="Kendall tau (per-arch medians)")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(import_dir: str | Path, out_dir: str | Path) -> dict[str, Any]:
    root, out = Path(import_dir).expanduser(), Path(out_dir).expanduser()
    observations(root)  # a clear error when nothing is imported
    out.mkdir(parents=True, exist_ok=True)
    summary = {}
    for scale in SCALES:
        table = medians(root, scale)
        if table.empty:
            continue
        tau = correlations(table)
        tau.round(4).to_json(out / f"correlation_{scale}.json", indent=1)
        plot(tau, out / f"correlation_{scale}.png",
             f"GPT-{scale.upper()}: Kendall tau between published series ({table.notna().sum().max()} archs)")
        summary[scale] = {"series": {c: int(table[c].notna().sum()) for c in table.columns}, **summarize(tau)}
        log.info("%s: %s", scale, {k: v for k, v in summary[scale].items() if k != "series"})
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    args = dict(a.split("=", 1) for a in (sys.argv[1:] if argv is None else argv))
    unknown = set(args) - {"import_dir", "out_dir"}
    if unknown:
        raise SystemExit(f"unknown options {sorted(unknown)}; allowed: import_dir=..., out_dir=...")
    run(args.get("import_dir", "outputs/import/hwgptbench"), args.get("out_dir", "docs/results/published"))


if __name__ == "__main__":
    main()
