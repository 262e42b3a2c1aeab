"""Artifacts: round trip, and clear errors for corrupt or incompatible files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from hwgpt import SearchSpace
from hwgpt.surrogates import artifacts
from hwgpt.surrogates.features import build_features
from hwgpt.surrogates.fit import fit_metric
from hwgpt.surrogates.mlp import MLPSettings, NumpyMLP

DEVICE = "synthetic-cpu"  # the device of the conftest frame


def test_round_trip_predicts_identically(fast, frame, space: SearchSpace, tmp_path: Path) -> None:
    res = fit_metric(frame, space, "memory", DEVICE, fast())
    meta_path = artifacts.save(res.surrogate, tmp_path)
    assert meta_path == tmp_path / "tiny" / DEVICE / "memory.meta.json"
    assert artifacts.available(tmp_path) == {"tiny": {DEVICE: ["memory"]}}
    loaded = artifacts.load("tiny", DEVICE, "memory", tmp_path)
    X = build_features(space.sample_unique(50, seed=3), space, loaded.spec)
    np.testing.assert_allclose(loaded.quantiles(X), res.surrogate.quantiles(X), rtol=1e-6)
    assert loaded.meta["report"] == json.loads(meta_path.read_text())["report"]
    assert sum(f.stat().st_size for f in meta_path.parent.iterdir()) < 5_000_000  # small files
    assert not list(meta_path.parent.glob("*.pkl"))


def _copy(artifacts_dir: Path, tmp_path: Path) -> Path:
    root = tmp_path / "copy"
    shutil.copytree(artifacts_dir, root)
    return root


def test_corrupt_model_file(artifacts_dir: Path, tmp_path: Path) -> None:
    root = _copy(artifacts_dir, tmp_path)
    f = root / "tiny" / DEVICE / "latency.median.ubj"
    f.write_bytes(b"garbage" + f.read_bytes()[7:])
    with pytest.raises(artifacts.ArtifactIntegrityError, match=r"latency\.median\.ubj was changed"):
        artifacts.load("tiny", DEVICE, "latency", root)
    f.unlink()
    with pytest.raises(artifacts.ArtifactError, match=r"latency\.median\.ubj.*missing"):
        artifacts.load("tiny", DEVICE, "latency", root)


def test_corrupt_or_incompatible_meta(artifacts_dir: Path, tmp_path: Path) -> None:
    """Incompatible metadata that the manifest vouches for (rewritten after the edit) gets its own error."""
    root = _copy(artifacts_dir, tmp_path)
    meta_path = root / "tiny" / DEVICE / "latency.meta.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({**meta, "schema_version": 99}))
    artifacts.write_manifest(meta_path.parent)
    with pytest.raises(artifacts.ArtifactError, match="latency.meta.json.*schema_version 99"):
        artifacts.load("tiny", DEVICE, "latency", root)
    meta_path.write_text(json.dumps({**meta, "features": {**meta["features"], "names": ["x"]}}))
    artifacts.write_manifest(meta_path.parent)
    with pytest.raises(artifacts.ArtifactError, match="feature names"):
        artifacts.load("tiny", DEVICE, "latency", root)
    meta_path.write_text("{not json")
    artifacts.write_manifest(meta_path.parent)
    with pytest.raises(artifacts.ArtifactError, match="latency.meta.json.*not valid JSON"):
        artifacts.load("tiny", DEVICE, "latency", root)


def _tamper_intercept(meta: dict) -> dict:
    """Change one digit of a number deep in the metadata: still valid JSON, same keys."""
    text = json.dumps(meta, sort_keys=True)
    i = next(i for i, ch in enumerate(text) if ch in "123456789" and text[i - 1] in "0123456789.")
    return json.loads(text[:i] + str((int(text[i]) % 9) + 1) + text[i + 1:])


def test_tampered_meta_is_refused_naming_the_file(artifacts_dir: Path, tmp_path: Path) -> None:
    root = _copy(artifacts_dir, tmp_path)
    meta_path = root / "tiny" / DEVICE / "latency.meta.json"
    meta = json.loads(meta_path.read_text())
    tampered = _tamper_intercept(meta)
    assert tampered != meta
    meta_path.write_text(json.dumps(tampered, indent=1, sort_keys=True))
    for call in (lambda: artifacts.load("tiny", DEVICE, "latency", root),
                 lambda: artifacts.read_meta("tiny", DEVICE, "latency", root)):
        with pytest.raises(artifacts.ArtifactIntegrityError, match=r"latency\.meta\.json was changed"):
            call()
    with pytest.raises(artifacts.ArtifactIntegrityError, match=r"latency\.meta\.json"):
        artifacts.verify_dir(meta_path.parent)
    assert artifacts.load("tiny", DEVICE, "memory", root)  # the other artifacts of the directory still load


def test_manifest_missing_unlisted_or_rewritten(artifacts_dir: Path, tmp_path: Path) -> None:
    root = _copy(artifacts_dir, tmp_path)
    d = root / "tiny" / DEVICE
    assert set(json.loads((d / "manifest.json").read_text())["files"]) == {
        f.name for f in d.iterdir() if f.name != "manifest.json"}
    (d / "extra.txt").write_text("x")
    with pytest.raises(artifacts.ArtifactIntegrityError, match=r"extra\.txt is not listed"):
        artifacts.verify_dir(d)
    (d / "extra.txt").unlink()
    (d / "manifest.json").unlink()
    with pytest.raises(artifacts.ArtifactIntegrityError, match=r"no manifest.json.*artifacts manifest"):
        artifacts.load("tiny", DEVICE, "latency", root)
    assert artifacts.main(["manifest", str(d)]) == 0
    assert artifacts.main(["verify", str(d)]) == 0
    assert artifacts.load("tiny", DEVICE, "latency", root)


def test_refit_rewrites_the_manifest(fast, frame, space: SearchSpace, artifacts_dir: Path, tmp_path: Path) -> None:
    root = _copy(artifacts_dir, tmp_path)
    d = root / "tiny" / DEVICE
    before = json.loads((d / "manifest.json").read_text())["files"]
    res = fit_metric(frame, space, "energy", DEVICE, fast())
    artifacts.save(res.surrogate, root)  # a new surrogate in the directory
    after = json.loads((d / "manifest.json").read_text())["files"]
    assert {"energy.meta.json", "energy.median.ubj", "energy.quantiles.ubj"} <= set(after)
    assert {k: v for k, v in after.items() if not k.startswith("energy.")} == before
    assert artifacts.verify_dir(d) and artifacts.load("tiny", DEVICE, "energy", root)


def test_shipped_artifact_directories_match_their_manifests() -> None:
    root = Path(str(artifacts.package_root()))
    dirs = [d for d in root.glob("*/*") if d.is_dir()]
    assert dirs
    for d in dirs:
        assert artifacts.verify_dir(d)


def test_mlp_json_matches_sklearn_and_rejects_junk() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 5))
    y = X[:, 0] ** 2 + X[:, 1]
    mlp = NumpyMLP.fit(X, y, MLPSettings(hidden=[8, 8], max_iter=200), seed=0)
    again = NumpyMLP.from_bytes(mlp.to_bytes())
    np.testing.assert_allclose(again.predict(X), mlp.predict(X))
    with pytest.raises(ValueError, match="hwgpt-mlp"):
        NumpyMLP.from_bytes(b'{"format": "other"}')


def test_bad_names() -> None:
    with pytest.raises(ValueError, match="invalid device name"):
        artifacts.check_name("device", "a/b")
    with pytest.raises(ValueError, match="invalid device name"):
        artifacts.check_name("device", "latency@cpu")
