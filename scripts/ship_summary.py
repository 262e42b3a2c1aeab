"""Print the README's table of what ships: devices x scales x metrics, with the held-out 90% coverage.

    python scripts/ship_summary.py

One row per device: the metrics with a shipped surrogate at each scale, and the range of the 90% central interval's
coverage on each surrogate's held-out test architectures (``report()["coverage"]["0.9"]``), over that device's
surrogates. The full per-surrogate table: ``python scripts/ship_table.py --scales tiny,s,m,l``.
"""

from __future__ import annotations

import json

from hwgpt.surrogates import artifacts

SCALES = ("tiny", "s", "m", "l")


def rows() -> list[tuple[str, dict[str, list[str]], list[float], int]]:
    """(device, {scale: metrics}, held-out 90% coverages, number of surrogates): ``cpu`` first, ``any`` last."""
    root = artifacts.package_root()
    avail = artifacts.available()
    devices = sorted({d for scale in avail.values() for d in scale}, key=lambda d: (d == "any", d != "cpu", d))
    out = []
    for device in devices:
        per_scale: dict[str, list[str]] = {}
        cov: list[float] = []
        for scale in SCALES:
            metrics = avail.get(scale, {}).get(device, [])
            per_scale[scale] = list(metrics)
            for metric in metrics:
                meta = json.loads(artifacts.device_dir(root, scale, device).joinpath(f"{metric}.meta.json").read_text())
                cov.append(float(meta["report"]["coverage"]["0.9"]))
        out.append((device, per_scale, cov, len(cov)))
    return out


def main() -> None:
    print("| device | tiny | S | M | L | surrogates | 90% coverage, held-out (min-max) |")
    print("|---|---|---|---|---|---:|---|")
    for device, per_scale, cov, n in rows():
        name = "`any` (device-independent)" if device == "any" else f"`{device}`"
        cells = " | ".join(", ".join(per_scale[s]) or "-" for s in SCALES)
        print(f"| {name} | {cells} | {n} | {min(cov):.3f}-{max(cov):.3f} |")


if __name__ == "__main__":
    main()
