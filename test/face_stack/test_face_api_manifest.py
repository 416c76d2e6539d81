"""TF.js weights-manifest reading: dequantisation, shards, and clear errors on bad input."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from emotion_training.face_api.manifest import ManifestError, dequantize, load_manifest, require
from emotion_training.face_api.nets import EXPRESSION_MANIFEST, TINY_MANIFEST, expression_params


def write_manifest(folder: Path, entries: list[dict], shards: dict[str, bytes]) -> Path:
    for name, data in shards.items():
        (folder / name).write_bytes(data)
    path = folder / "m-weights_manifest.json"
    path.write_text(json.dumps([{"paths": list(shards), "weights": entries}]))
    return path


def test_uint8_dequantisation_and_shards(tmp_path: Path) -> None:
    q = np.arange(6, dtype=np.uint8) * 40
    bias = np.array([0.5, -1.25], np.float32)
    blob = q.tobytes() + bias.tobytes()
    entries = [
        {"name": "w", "shape": [2, 3], "dtype": "float32",
         "quantization": {"dtype": "uint8", "scale": 0.01, "min": -0.7}},
        {"name": "b", "shape": [2], "dtype": "float32"},
    ]
    # Split across two shards in the middle of a tensor: TF.js concatenates them.
    path = write_manifest(tmp_path, entries, {"s1.bin": blob[:4], "s2.bin": blob[4:]})
    weights = load_manifest(path)
    expected = (q.astype(np.float64) * 0.01 - 0.7).astype(np.float32).reshape(2, 3)
    np.testing.assert_array_equal(weights["w"], expected)
    np.testing.assert_array_equal(weights["b"], bias)
    assert weights["w"].dtype == np.float32


def test_dequantize_uint16_and_float16() -> None:
    q16 = np.array([0, 1000, 65535], np.uint16)
    out = dequantize(q16, {"dtype": "uint16", "scale": 1e-4, "min": -1.0})
    np.testing.assert_allclose(out, [-1.0, -0.9, 5.5535], rtol=1e-6)
    half = np.array([1.5, -2.0], np.float16)
    np.testing.assert_array_equal(dequantize(half, {"dtype": "float16"}), [1.5, -2.0])


def test_face_api_expression_weights(npm_cache: Path) -> None:
    from emotion_training.face_api.package import model_file

    weights = load_manifest(model_file(npm_cache, EXPRESSION_MANIFEST))
    assert len(weights) == 49
    assert sum(w.size for w in weights.values()) == 323_687
    # A quantised tensor takes at most 256 values on the grid min + k * scale.
    manifest = json.loads(model_file(npm_cache, EXPRESSION_MANIFEST).read_text())
    quant = next(e for e in manifest[0]["weights"] if e["name"] == "fc/weights")["quantization"]
    k = (weights["fc/weights"].astype(np.float64) - quant["min"]) / quant["scale"]
    np.testing.assert_allclose(k, np.round(k), atol=1e-3)
    assert np.unique(weights["fc/weights"]).size <= 256
    params = expression_params(weights)
    assert params["dense0.conv0.weight"].shape == (32, 3, 3, 3)
    assert params["dense3.conv3.depthwise.weight"].shape == (256, 1, 3, 3)
    assert params["fc.weight"].shape == (7, 256)
    tiny = load_manifest(model_file(npm_cache, TINY_MANIFEST))
    assert tiny["conv8/filters"].shape == (1, 1, 512, 25)


def test_missing_manifest_says_how_to_fetch(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="setup.sh"):
        load_manifest(tmp_path / "nothing-weights_manifest.json")


def test_truncated_shard(tmp_path: Path) -> None:
    entries = [{"name": "b", "shape": [4], "dtype": "float32"}]
    path = write_manifest(tmp_path, entries, {"s.bin": b"\0" * 10})
    with pytest.raises(ManifestError, match="truncated"):
        load_manifest(path)


def test_extra_bytes_are_refused(tmp_path: Path) -> None:
    entries = [{"name": "b", "shape": [1], "dtype": "float32"}]
    path = write_manifest(tmp_path, entries, {"s.bin": b"\0" * 8})
    with pytest.raises(ManifestError, match="describes 4"):
        load_manifest(path)


def test_missing_shard(tmp_path: Path) -> None:
    path = tmp_path / "m-weights_manifest.json"
    path.write_text(json.dumps([{"paths": ["gone.bin"], "weights": []}]))
    with pytest.raises(ManifestError, match="shard not found"):
        load_manifest(path)


@pytest.mark.parametrize("text,message", [
    ("{not json", "not valid JSON"),
    ('{"paths": []}', "JSON list"),
    ('[{"paths": [], "weights": []}]', "no tensors"),
])
def test_malformed_manifest(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "m-weights_manifest.json"
    path.write_text(text)
    with pytest.raises(ManifestError, match=message):
        load_manifest(path)


def test_unsupported_dtypes(tmp_path: Path) -> None:
    entries = [{"name": "w", "shape": [1], "dtype": "complex64"}]
    with pytest.raises(ManifestError, match="unsupported dtype"):
        load_manifest(write_manifest(tmp_path, entries, {"s.bin": b"\0" * 8}))
    entries = [{"name": "w", "shape": [1], "dtype": "float32", "quantization": {"dtype": "int4"}}]
    with pytest.raises(ManifestError, match="unsupported quantization"):
        load_manifest(write_manifest(tmp_path, entries, {"s.bin": b"\0"}))


def test_require_checks_name_and_shape() -> None:
    weights = {"a": np.zeros((2, 3), np.float32)}
    assert require(weights, "a", (2, 3)).shape == (2, 3)
    with pytest.raises(ManifestError, match="lack tensor 'b'"):
        require(weights, "b", (1,))
    with pytest.raises(ManifestError, match=r"shape \(2, 3\), expected \(3, 2\)"):
        require(weights, "a", (3, 2))
