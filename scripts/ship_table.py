"""Print the README's table of shipped surrogates (one row per scale/device/metric) from their reports.

    python scripts/ship_table.py [--scales s,m,l] [--markdown]
"""

from __future__ import annotations

import argparse
import json

from hwgpt.surrogates import artifacts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scales", default="s,m,l")
    args = ap.parse_args()
    root = artifacts.package_root()
    print("| scale | device | metric | archs train/cal/test | obs | coverage 0.5 / 0.8 / 0.9 / 0.95 | Kendall tau "
          "| R² | KS | KB |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    avail = artifacts.available()
    for scale in args.scales.split(","):
        for device, metrics in sorted(avail.get(scale, {}).items()):
            for metric in metrics:
                d = root.joinpath(scale, device)
                meta = json.loads(d.joinpath(f"{metric}.meta.json").read_text())
                rep = meta["report"]
                size = sum(f.stat().st_size for f in d.iterdir() if f.name.startswith(metric + "."))  # type: ignore[attr-defined]
                cov = " / ".join(f"{rep['coverage'].get(k, float('nan')):.3f}" for k in ("0.5", "0.8", "0.9", "0.95"))
                ks = rep.get("ks")
                print(f"| {scale} | {device} | {metric} | {rep['n_archs_train']}/{rep['n_archs_calibration']}/"
                      f"{rep['n_archs_test']} | {rep['settings']['n_observations']:,} | {cov} | "
                      f"{rep['kendall_tau']:.3f} | {rep['r2']:.4f} | {'-' if ks is None else f'{ks:.3f}'} | "
                      f"{size / 1e3:.0f} |")


if __name__ == "__main__":
    main()
