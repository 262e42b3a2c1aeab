"""Stopping after step N and resuming from the checkpoint continues the same run as an uninterrupted one."""

from __future__ import annotations

import json

import torch

from hwgpt.training.run import run


def _ckpt(path):
    return torch.load(path, map_location="cpu", weights_only=True)


def test_resume_matches_uninterrupted_run(train_cfg, tmp_path):
    common = ["evaluate=false", "trainer.max_steps=6", "callbacks.checkpoint.every_n_train_steps=3",
              "+callbacks.consistency._target_=hwgpt.training.callbacks.RankConsistency"]
    full = train_cfg(*common, f"+callbacks.consistency.path={tmp_path / 'full.jsonl'}", out="full")
    assert run(full)["step"] == 6
    # "killed" after step 3: resume from the step-3 checkpoint, in a fresh run dir.
    step3 = tmp_path / "full" / "checkpoints" / "step000003.ckpt"
    resumed = train_cfg(*common, f"+callbacks.consistency.path={tmp_path / 'resumed.jsonl'}",
                        f"ckpt_path={step3}", out="resumed")
    out = run(resumed)
    assert out["step"] == 6 and out["tokens_seen"] == 6 * 2 * 16

    a, b = _ckpt(tmp_path / "full/checkpoints/last.ckpt"), _ckpt(tmp_path / "resumed/checkpoints/last.ckpt")
    assert a["global_step"] == b["global_step"] == 6
    assert a.keys() == b.keys()
    for k, v in a["state_dict"].items():
        torch.testing.assert_close(b["state_dict"][k], v, msg=k)
    opt_a, opt_b = a["optimizer_states"][0]["state"], b["optimizer_states"][0]["state"]
    for sa, sb in zip(opt_a.values(), opt_b.values(), strict=True):
        for k in sa:
            torch.testing.assert_close(sb[k], sa[k])
    assert a["lr_schedulers"] == b["lr_schedulers"]
    assert a["hwgpt"] == b["hwgpt"]
    assert a["loops"]["fit_loop"]["epoch_loop.batch_progress"] == b["loops"]["fit_loop"]["epoch_loop.batch_progress"]

    def archs(name):
        return {r["step"]: r["archs"] for r in map(json.loads, (tmp_path / name).read_text().splitlines())}

    full_archs, resumed_archs = archs("full.jsonl"), archs("resumed.jsonl")
    assert sorted(resumed_archs) == [4, 5, 6]
    assert all(resumed_archs[s] == full_archs[s] for s in (4, 5, 6))
