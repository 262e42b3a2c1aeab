"""Two DDP processes on CPU (gloo): ranks train the same sub-networks and keep identical weights."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch.distributed as dist

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="needs torch.distributed gloo")
@pytest.mark.timeout(180)
def test_two_cpu_ranks_agree(tmp_path, fast_overrides):
    checks = tmp_path / "checks.jsonl"
    overrides = [o for o in fast_overrides if not o.startswith("trainer.precision")] + [
        "trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2", "trainer.precision=32-true",
        "trainer.max_steps=3", "evaluate=false", "callbacks.checkpoint.every_n_train_steps=3",
        "+callbacks.consistency._target_=hwgpt.training.callbacks.RankConsistency",
        f"+callbacks.consistency.path={checks}",
        f"hydra.run.dir={tmp_path / 'run'}", f"paths.data_dir={tmp_path / 'data'}",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "disabled", "PROJECT_ROOT": str(tmp_path)}
    proc = subprocess.run([sys.executable, str(ROOT / "train.py"), *overrides], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=170)
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = [json.loads(line) for line in checks.read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3]
    assert all(r["world_size"] == 2 and r["same_sub_networks"] and r["same_weights"] for r in records)
    assert all(len(r["checksums"]) == 2 and r["checksums"][0] == r["checksums"][1] for r in records)
    assert any(r["batch_sums"][0] != r["batch_sums"][1] for r in records)  # ranks saw different data
    assert records[0]["checksums"][0] != records[-1]["checksums"][0]  # and the weights moved
    assert (tmp_path / "run" / "checkpoints" / "last.ckpt").is_file()
    assert (tmp_path / "run" / "supernet.safetensors").is_file()
