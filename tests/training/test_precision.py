"""precision=auto: bf16 only where measured faster; the choice is recorded; Ctrl-C ends cleanly."""

from __future__ import annotations

import json

import lightning.pytorch as pl
import pytest

from hwgpt.errors import Interrupted, InvalidInput
from hwgpt.training import precision as prec
from hwgpt.training import run as run_mod
from hwgpt.training.run import run


@pytest.mark.parametrize(
    ("timings", "chosen"),
    [((0.010, 0.0896), "32-true"),  # the AVX2 EPYC: bf16 autocast matmul 8x slower
     ((0.010, 0.0050), "bf16-mixed"),  # AVX512-BF16: 2x faster
     ((0.010, 0.0095), "32-true"),  # within noise: keep fp32
     ((0.010, None), "32-true")],  # bf16 unsupported
)
def test_auto_picks_bf16_only_when_faster(timings, chosen: str) -> None:
    choice = prec.choose_precision("auto", "cpu", probe_fn=lambda device: timings)
    assert choice.chosen == chosen and choice.requested == "auto" and choice.device == "cpu"
    assert choice.fp32_s == timings[0] and choice.reason


def test_fixed_precision_is_kept_without_probe_and_bad_values_refused() -> None:
    def boom(device):
        raise AssertionError("no probe for a fixed precision")

    assert prec.choose_precision("bf16-mixed", "cpu", probe_fn=boom).chosen == "bf16-mixed"
    with pytest.raises(InvalidInput, match=r"trainer.precision='bf17'.*allowed 'auto'"):
        prec.choose_precision("bf17", "cpu")


def test_real_probe_is_quick_and_consistent() -> None:
    fp32, bf16 = prec.probe("cpu", tokens=64, width=32, repeats=1)
    assert fp32 > 0 and (bf16 is None or bf16 > 0)


def test_run_records_the_choice(train_cfg, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(run_mod, "choose_precision",
                        lambda p, a: prec.choose_precision(p, a, probe_fn=lambda d: (0.01, 0.09)))
    out = run(train_cfg("trainer.precision=auto", "evaluate=false"))
    assert out["precision"]["chosen"] == "32-true" and out["precision"]["bf16_s"] == 0.09
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["precision"]["requested"] == "auto" and results["precision"]["chosen"] == "32-true"


class _CtrlC(pl.Callback):
    def on_train_batch_end(self, trainer, *args, **kwargs) -> None:
        if trainer.global_step >= 2:
            raise KeyboardInterrupt


def test_ctrl_c_saves_a_checkpoint_and_says_how_to_resume(train_cfg, tmp_path, monkeypatch) -> None:
    real = run_mod.build_callbacks
    monkeypatch.setattr(run_mod, "build_callbacks", lambda cfg: real(cfg) + [_CtrlC()])
    with pytest.raises(Interrupted, match=r"stopped at step 2; saved .*interrupted.ckpt.*ckpt_path=") as e:
        run(train_cfg("evaluate=false"))
    ckpt = str(e.value).rsplit("ckpt_path=", 1)[1]
    monkeypatch.setattr(run_mod, "build_callbacks", real)
    out = run(train_cfg("evaluate=false", f"ckpt_path={ckpt}", out="resumed"))
    assert out["step"] == 4  # resumed from step 2 to max_steps
