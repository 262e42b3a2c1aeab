"""The paper's surrogate analyses: metric correlations and ECDFs per architectural choice.

Command line (Hydra, config ``conf/analysis.yaml``)::

    python -m hwgpt.surrogates.analysis scale=tiny device=cpu [stratify=energy] [n_archs=10000] [artifacts_dir=...]

On ``n_archs`` uniformly sampled architectures, predicted by the surrogates (medians):

* ``correlation.png``: Spearman rank correlation between every metric on every device that has a
  surrogate at this scale (plus exact FLOPs and parameters);
* ``ecdf_<metric>.png``: the ECDF of ``metric`` stratified by each architectural dimension
  (embedding dim, depth, mean heads, mean MLP ratio, bias; the means binned into terciles);
* ``analysis.json``: both, plus the dimensions ranked by how much they matter: the share of the
  variance of ``log(metric)`` explained by the strata (eta squared) and the largest KS distance
  between two strata's ECDFs. The paper finds, for energy: embedding dim, then depth and MLP
  ratio; heads and bias matter little.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp

from hwgpt.benchmark import Benchmark
from hwgpt.surrogates.features import arch_arrays
from hwgpt.surrogates.surrogate import POINT_METRICS

log = logging.getLogger(__name__)

def _order(values: pd.Series) -> list:
    """Distinct strata in natural order (numbers numerically, tercile labels by lower edge)."""
    def key(v: Any) -> tuple:
        try:
            return (0, float(str(v).split("-")[0]))
        except ValueError:
            return (1, str(v))
    return sorted(values.unique(), key=key)


PAPER_RANKING = ["embed_dim", "n_layer", "mlp_ratio", "n_head", "bias"]
"""The paper's order of importance for energy (Figure 3 / Appendix D)."""


def predict_all(bench: Benchmark, archs: list) -> pd.DataFrame:
    """Medians of every surrogate of the benchmark's scale (``metric@device`` for hardware metrics,
    plain ``perplexity``/``accuracy``), plus exact ``flops`` and ``params``, one column each."""
    keys = []
    for dev, metrics in bench.available.items():
        for m in metrics:
            key = m if m in POINT_METRICS else f"{m}@{dev}"
            if key not in keys:
                keys.append(key)
    preds = bench.query(archs, metrics=keys + ["flops", "params"])
    return pd.DataFrame({k: np.asarray(v, dtype=np.float64) for k, v in preds.items()})


def strata(archs: list, space: Any) -> pd.DataFrame:
    """Architectural dimension of each arch: embed_dim, n_layer, bias, and tercile bins of mean heads / MLP ratio."""
    aa = arch_arrays(archs, space)
    n = aa.n_layer.astype(np.float64)
    out = pd.DataFrame({"embed_dim": aa.embed, "n_layer": aa.n_layer, "bias": aa.bias.astype(bool)})
    for name, arr in (("n_head", aa.heads), ("mlp_ratio", aa.ratios)):
        mean = arr.sum(axis=1) / n
        edges = np.unique(np.quantile(mean, [0, 1 / 3, 2 / 3, 1]))
        labels = [f"{lo:.2f}-{hi:.2f}" for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
        out[name] = pd.cut(mean, edges, labels=labels, include_lowest=True).astype(str)
    return out[PAPER_RANKING]


def importance(values: np.ndarray, groups: pd.DataFrame, log_scale: bool = True) -> dict[str, dict[str, float]]:
    """Per dimension: eta squared of ``log(values)`` across its strata, and the largest pairwise KS distance."""
    y = np.log(values) if log_scale else np.asarray(values, dtype=np.float64)
    total = ((y - y.mean()) ** 2).sum()
    out = {}
    for dim in groups:
        parts = [y[(groups[dim] == g).to_numpy()] for g in _order(groups[dim])]
        between = sum(len(p) * (p.mean() - y.mean()) ** 2 for p in parts)
        ks = max((ks_2samp(a, b).statistic for i, a in enumerate(parts) for b in parts[i + 1:]), default=0.0)
        out[dim] = {"eta2": float(between / total) if total > 0 else 0.0, "ks_max": float(ks)}
    return out


def plot_correlation(corr: pd.DataFrame, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(corr)
    fig, ax = plt.subplots(figsize=(1.0 + 0.7 * n, 0.8 + 0.6 * n))
    im = ax.imshow(corr.to_numpy(), vmin=-1, vmax=1, cmap="RdBu_r")
    ax.set_xticks(range(n), corr.columns, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(n), corr.index, fontsize=8)
    for i in range(n):
        for j in range(n):
            ax.text(j, i, f"{corr.iat[i, j]:.2f}", ha="center", va="center", fontsize=7)
    fig.colorbar(im, ax=ax, label="Spearman rank correlation")
    fig.tight_layout(), fig.savefig(path, dpi=120), plt.close(fig)
    return path


def plot_ecdf(values: np.ndarray, groups: pd.DataFrame, metric: str, imp: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    dims = list(groups)
    fig, axes = plt.subplots(1, len(dims), figsize=(3.2 * len(dims), 3.0), sharey=True)
    for ax, dim in zip(axes, dims, strict=True):
        for g in _order(groups[dim]):
            v = np.sort(values[(groups[dim] == g).to_numpy()])
            ax.step(v, np.arange(1, len(v) + 1) / len(v), where="post", label=str(g))
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set(title=f"{dim} (eta2={imp[dim]['eta2']:.2f})", xlabel=metric)
        ax.legend(fontsize=7)
    axes[0].set_ylabel("ECDF")
    fig.tight_layout(), fig.savefig(path, dpi=120), plt.close(fig)
    return path


def analyse(bench: Benchmark, metric: str, n_archs: int, seed: int, out_dir: Path) -> dict[str, Any]:
    """Run both analyses into ``out_dir``; returns the summary written to ``analysis.json``."""
    from tqdm.auto import tqdm

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    space = bench.space
    rng = np.random.default_rng(seed)
    archs = [space.sample(rng) for _ in tqdm(range(n_archs), desc="sample archs", unit="arch", mininterval=1.0)]
    preds = predict_all(bench, archs)
    corr = preds.corr(method="spearman")
    name, device = bench.resolve(metric)
    values = bench.query(archs, metrics=[metric])[metric].astype(np.float64)
    groups = strata(archs, space)
    imp = importance(values, groups, log_scale=bool(np.all(values > 0)))
    ranking = sorted(imp, key=lambda d: -imp[d]["eta2"])
    summary = {
        "scale": bench.scale, "metric": name, "device": device, "n_archs": n_archs, "seed": seed,
        "correlation": {"method": "spearman", "columns": list(corr.columns),
                        "matrix": corr.round(4).to_numpy().tolist()},
        "importance": imp, "ranking": ranking, "paper_ranking_energy": PAPER_RANKING,
        "most_important_agrees_with_paper": ranking[0] == PAPER_RANKING[0],
        "figures": [str(plot_correlation(corr, out_dir / "correlation.png")),
                    str(plot_ecdf(values, groups, name, imp, out_dir / f"ecdf_{name}.png"))],
    }
    (out_dir / "analysis.json").write_text(json.dumps(summary, indent=1))
    log.info("%s on %s: dimensions by importance (eta2 of log %s): %s; paper (energy): %s", name, device, name,
             ", ".join(f"{d} {imp[d]['eta2']:.3f}" for d in ranking), PAPER_RANKING)
    return summary


def run(cfg: Any) -> tuple[dict[str, Any], Benchmark]:
    """Entry point behind ``python -m hwgpt.surrogates.analysis`` (config ``conf/analysis.yaml``)."""
    bench = Benchmark(scale=cfg.scale.name, device=cfg.device.name if cfg.get("device") else None,
                      artifacts_dir=cfg.get("artifacts_dir"))
    metric = cfg.get("stratify")
    if metric is None:  # energy as in the paper, else the first hardware metric there is
        metric = next((m for m in ("energy", "latency", "memory") if m in bench.metrics), bench.metrics[0])
    from hwgpt.errors import check_int, check_seed

    n_archs = check_int("n_archs", cfg.n_archs, min=10, max=1_000_000)
    summary = analyse(bench, metric, n_archs, check_seed("seed", cfg.seed), Path(str(cfg.paths.output_dir)))
    return summary, bench


def main() -> None:
    import hydra

    from hwgpt.configs import CONF_DIR

    @hydra.main(version_base="1.3", config_path=str(CONF_DIR),
                config_name="analysis")
    def _main(cfg):
        from hwgpt.errors import cli_main

        cli_main(run, cfg, what="python -m hwgpt.surrogates.analysis")

    _main()


if __name__ == "__main__":
    main()
