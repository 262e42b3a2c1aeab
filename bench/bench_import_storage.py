"""Storage for the imported published data: SQLite (the measurement store's table) vs Parquet, side by side.

    python bench/bench_import_storage.py [--rows 1000000]

Writes the same observation rows (the store's columns, 10 observations per arch, realistic strings)
into an SQLite table shaped like the measurement store's ``observations`` (one transaction,
``executemany``) and into a zstd Parquet file, then reads each back into pandas; prints seconds,
bytes and the ratios. The importer writes ~16M rows, so the ratio decides the storage.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from hwgpt.importers.hwgptbench import OBS_COLUMNS
from hwgpt.search_space import SearchSpace


def frame(rows: int, seed: int = 0) -> pd.DataFrame:
    space = SearchSpace.from_name("s")
    n_archs = max(1, rows // 10)
    archs = [space.sample(seed=i) for i in range(min(n_archs, 2000))]
    rng = np.random.default_rng(seed)
    idx = np.repeat(np.arange(n_archs) % len(archs), 10)[:rows]
    return pd.DataFrame({
        "arch_id": [archs[i].id for i in idx], "arch": [archs[i].to_json() for i in idx], "scale": "s",
        "device": "a100", "metric": "latency", "value": rng.lognormal(-4, 0.5, rows), "unit": "s", "batch": 8,
        "seq_len": 1024, "dtype": "bfloat16", "threads": None, "repeat": np.tile(np.arange(10), n_archs)[:rows],
        "flags": "", "extra": "", "run_id": "85ede6bbeaa7a3cf", "device_key": "a100",
        "created_at": "2024-05-23T15:17:45+02:00", "device_identity": json.dumps({"id": "a100"}),
    })[list(OBS_COLUMNS)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    args = ap.parse_args()
    df = frame(args.rows)
    with tempfile.TemporaryDirectory() as tmp:
        db, pq = Path(tmp) / "obs.sqlite", Path(tmp) / "obs.parquet"
        t = time.perf_counter()
        con = sqlite3.connect(db)
        cols = ", ".join(OBS_COLUMNS)
        con.execute(f"CREATE TABLE observations (id INTEGER PRIMARY KEY, {cols}, "
                    "UNIQUE(arch_id, scale, device, metric, batch, seq_len, dtype, threads, repeat, run_id))")
        with con:
            con.executemany(f"INSERT INTO observations ({cols}) VALUES ({', '.join('?' * len(OBS_COLUMNS))})",
                            df.astype(object).where(df.notna(), None).itertuples(index=False, name=None))
        con.close()
        w_sql = time.perf_counter() - t
        t = time.perf_counter()
        df.to_parquet(pq, index=False, compression="zstd")
        w_pq = time.perf_counter() - t
        t = time.perf_counter()
        con = sqlite3.connect(db)
        back = pd.read_sql_query(f"SELECT {cols} FROM observations", con)
        con.close()
        r_sql = time.perf_counter() - t
        t = time.perf_counter()
        back2 = pd.read_parquet(pq)
        r_pq = time.perf_counter() - t
        assert len(back) == len(back2) == len(df)
        print(f"{args.rows:,} rows      write s   read s   MB")
        print(f"sqlite        {w_sql:8.2f} {r_sql:8.2f} {db.stat().st_size / 1e6:7.1f}")
        print(f"parquet       {w_pq:8.2f} {r_pq:8.2f} {pq.stat().st_size / 1e6:7.1f}")
        print(f"ratio sqlite/parquet: write {w_sql / w_pq:.1f}x, read {r_sql / r_pq:.1f}x, "
              f"size {db.stat().st_size / pq.stat().st_size:.0f}x")


if __name__ == "__main__":
    main()
