"""The importer of the published HW-GPT-Bench pickles, on small repositories the tests write."""

from __future__ import annotations

import json
import os
import pickle

import numpy as np
import pandas as pd
import pytest
from upstream_helpers import arch_dict, energy_record, latency_record

from hwgpt.importers import hwgptbench
from hwgpt.importers.gitsource import SourceError
from hwgpt.importers.safe_pickle import PickleFormatError, UnsafePickleError, loads
from hwgpt.search_space import SearchSpace

S1 = arch_dict(768, 10, 12, 4)
S2 = arch_dict(192, 12, 4, 2, bias=True)
M1 = arch_dict(1024, 22, 16, 3, max_layers=24)
S3 = arch_dict(384, 11, 8, 3)


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /tmp/hwgpt_pwned",))


def test_restricted_unpickler_refuses_code_and_reads_numpy_scalars():
    assert loads(pickle.dumps({"x": np.float64(1.5), "y": [np.int64(2)]})) == {"x": 1.5, "y": [2]}
    with pytest.raises(UnsafePickleError, match="refusing global (posix|os).system"):
        loads(pickle.dumps([Evil()]), "evil.pkl")
    with pytest.raises(PickleFormatError, match="empty file"):
        loads(b"", "empty.pkl")
    with pytest.raises(PickleFormatError, match="not a complete pickle"):
        loads(pickle.dumps(list(range(1000)))[:-50], "cut.pkl")


def _repo(upstream):
    d = "raw_results_hw"
    upstream.write(f"{d}/latency_a100/efficiency_observations_0_2500.pkl",
                   [latency_record(S1, [20.0, 21.0, 22.0]), latency_record(S2, [5.0, 5.5, 6.0]),
                    latency_record(S1, [30.0, 30.0, 30.0]),                       # duplicate in a file
                    latency_record(arch_dict(200, 10, 4, 2), [1.0]),             # outside every space
                    latency_record({"sample_embed_dim": 768}, [1.0])])           # malformed
    upstream.write(f"{d}/latency_a100/efficiency_observations_2500_5000.pkl", [latency_record(S1, [99.0])])
    upstream.write(f"{d}/latency_a100_m/efficiency_observations_0_2500.pkl",     # mixed-scale directory
                   [latency_record(M1, [40.0, 41.0]), latency_record(S3, [7.0])])
    upstream.write(f"{d}/latency_a100/efficiency_energy_observations_tracker_0_2500.pkl",
                   [energy_record(S1, [0.01, 0.0005, 0.0006])])
    upstream.write(f"{d}/latency_v100/efficiency_energy_observations_0_2500.pkl", [energy_record(S1, [1.0])])
    upstream.write(f"{d}/latency_h100/efficiency_observations_0_2500.pkl", raw=b"")           # empty
    upstream.write(f"{d}/latency_h100/efficiency_observations_2500_5000.pkl",
                   raw=pickle.dumps([latency_record(S1, [1.0])] * 50)[:-40])               # truncated
    upstream.write(f"{d}/latency_rtx2080/efficiency_observations_0_2500.pkl", raw=pickle.dumps([Evil()]))
    upstream.write(f"{d}/mem_a100/efficiency_observations_0_10000.pkl", [{"arch": S1, "mean_mem": 100.0}])
    cpu = {**latency_record(S1, []), "times_profiler_cpu": [1.2, 300.0], "unit_cpu": ["s", "ms"]}
    upstream.write(f"{d}/latency_cpu_mlgpu/efficiency_observations_0_2500.pkl", [cpu])
    upstream.write(f"{d}/latency_cpu_p100/efficiency_observations_0_2500.pkl", [cpu])   # the unused host
    upstream.write("arch_ppl_bench_s/ppl_observations_tracker_0_1000.pkl",
                   [{"arch": S1, "perplexity": 30.0, "accuracy": 0.4}])
    upstream.write("README.md", raw=b"upstream")
    return upstream.commit()


def test_import_validates_converts_dedups_and_records_provenance(upstream, tmp_path):
    sha = _repo(upstream)
    out = tmp_path / "out"
    rep = hwgptbench.import_all(upstream.root, out, commit=sha, progress=False)
    files = {f["path"].split("raw_results_hw/")[-1]: f for f in rep["files"]}
    f0 = files["latency_a100/efficiency_observations_0_2500.pkl"]
    assert f0["status"] == "imported" and f0["records"] == 5 and f0["archs"] == 2 and f0["duplicates"] == 1
    assert sum(f0["rejects"].values()) == 2 and "outside every search space" in f0["rejects"]
    assert files["latency_a100/efficiency_observations_2500_5000.pkl"]["duplicates_across_files"] == 1
    assert files["latency_a100_m/efficiency_observations_0_2500.pkl"]["rejects"] == {
        "a scale-s arch in a scale-m directory": 1}
    assert files["latency_h100/efficiency_observations_0_2500.pkl"]["status"].startswith("unreadable: ")
    assert "not a complete pickle" in files["latency_h100/efficiency_observations_2500_5000.pkl"]["status"]
    assert files["latency_rtx2080/efficiency_observations_0_2500.pkl"]["status"].startswith("refused: ")
    assert files["latency_v100/efficiency_energy_observations_0_2500.pkl"]["status"].startswith("skipped: ")
    assert files["latency_cpu_p100/efficiency_observations_0_2500.pkl"]["status"].startswith("skipped: host unused")
    assert not os.path.exists("/tmp/hwgpt_pwned")

    s_lat = hwgptbench.observations(out, "s", "a100", "latency")
    s1 = SearchSpace.from_name("s").validate(hwgptbench.to_arch(S1))
    # the first file's series wins; ms -> s; the duplicate row inside the file and the later file are dropped
    assert sorted(s_lat[s_lat.arch_id == s1.id]["value"]) == pytest.approx([0.020, 0.021, 0.022])
    assert set(s_lat["unit"]) == {"s"} and len(s_lat) == 3 + 3  # S1, S2 (not S3 from the _m dir)
    m_lat = hwgptbench.observations(out, "m", "a100", "latency")
    assert m_lat["arch_id"].nunique() == 1 and len(m_lat) == 2
    en = hwgptbench.observations(out, "s", "a100", "energy")
    assert en.sort_values("repeat")["flags"].tolist() == ["warmup", "", ""]
    assert en.sort_values("repeat")["value"].tolist() == pytest.approx([36.0, 1.8, 2.16])  # Wh -> J per forward
    mem = hwgptbench.observations(out, "s", "a100", "memory")
    assert mem["value"].tolist() == [100e6] and set(mem["dtype"]) == {"bfloat16"}  # MB (10^6 bytes) -> bytes
    cpu = hwgptbench.observations(out, "s", "xeon_silver", "latency").sort_values("repeat")
    assert cpu["value"].tolist() == pytest.approx([1.2, 0.3]) and set(cpu["dtype"]) == {"float32"}  # per-obs unit
    assert set(m_lat["batch"]) == {4} and set(s_lat["batch"]) == {8} and set(s_lat["dtype"]) == {"bfloat16"}
    q = hwgptbench.observations(out, "s", metric="perplexity")
    assert q["value"].tolist() == [30.0]

    runs = pd.read_parquet(out / "runs.parquet")
    row = runs[runs.path == "raw_results_hw/latency_a100/efficiency_observations_0_2500.pkl"].iloc[0]
    assert row.repository == hwgptbench.REPOSITORY and row.commit == sha and row.licence == "Apache-2.0"
    assert len(row.blob) == 40 and "Sukthanker" in row.citation
    assert json.loads(row.settings)["latency"] == {"batch": 8, "seq_len": 1024, "dtype": "bfloat16", "threads": None}
    assert set(s_lat["run_id"]) <= {b[:16] for b in runs["blob"]}

    # idempotent: a rerun reads nothing again and holds the same rows
    again = hwgptbench.import_all(upstream.root, out, commit=sha, progress=False)
    assert again["observations"] == rep["observations"]
    assert len(hwgptbench.observations(out, "s", "a100", "latency")) == len(s_lat)


def test_resume_after_a_lost_part(upstream, tmp_path):
    sha = _repo(upstream)
    out = tmp_path / "out"
    rep = hwgptbench.import_all(upstream.root, out, commit=sha, progress=False)
    victim = next((out / "parts").glob("*.parquet"))
    victim.unlink()  # as if killed before that file's part was written
    assert hwgptbench.import_all(upstream.root, out, commit=sha, progress=False)["observations"] == rep["observations"]


def test_bad_sources_name_what_to_fetch(upstream, tmp_path):
    with pytest.raises(SourceError, match="does not exist.*git clone"):
        hwgptbench.import_all(tmp_path / "nope", tmp_path / "o", progress=False)
    (tmp_path / "plain").mkdir()
    with pytest.raises(SourceError, match="not a git repository"):
        hwgptbench.import_all(tmp_path / "plain", tmp_path / "o", progress=False)
    upstream.write("README.md", raw=b"other project")
    sha = upstream.commit()
    with pytest.raises(SourceError, match="lacks commit '795cba8'"):
        hwgptbench.import_all(upstream.root, tmp_path / "o", progress=False)
    with pytest.raises(SourceError, match="not automl/HW-Aware-LLM-Bench"):
        hwgptbench.import_all(upstream.root, tmp_path / "o", commit=sha, progress=False)


def test_observations_lists_what_exists(tmp_path):
    with pytest.raises(ValueError, match="holds: nothing"):
        hwgptbench.observations(tmp_path, "s", "a100", "latency")
