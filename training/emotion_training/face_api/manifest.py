"""Reader of TF.js weights manifests (``*-weights_manifest.json`` + ``.bin`` shards).

face-api ships its weights in this format, most tensors uint8-quantised. Reading them here with
numpy alone lets the default model be built at setup without torch or TensorFlow.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import numpy as np

#: TF.js dtypes of stored (non-quantised) tensors -> numpy.
_DTYPES: Mapping[str, np.dtype] = {
    "float32": np.dtype("<f4"),
    "int32": np.dtype("<i4"),
    "bool": np.dtype("u1"),
}
#: TF.js quantisation dtypes -> numpy storage dtype.
_QUANT_DTYPES: Mapping[str, np.dtype] = {
    "uint8": np.dtype("u1"),
    "uint16": np.dtype("<u2"),
    "float16": np.dtype("<f2"),
}


class ManifestError(ValueError):
    """A weights manifest or its shards are missing, malformed or inconsistent."""


def _entry_bytes(entry: Mapping[str, Any]) -> tuple[int, np.dtype, bool]:
    """(element count, storage dtype, quantised?) of one manifest entry."""
    try:
        shape = [int(d) for d in entry["shape"]]
        dtype = str(entry["dtype"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ManifestError(f"weight entry {entry.get('name', '?')!r} lacks a valid shape/dtype") from exc
    count = int(np.prod(shape)) if shape else 1
    quant = entry.get("quantization")
    if quant:
        qtype = quant.get("dtype")
        if qtype not in _QUANT_DTYPES:
            raise ManifestError(f"weight {entry['name']!r}: unsupported quantization dtype {qtype!r}")
        return count, _QUANT_DTYPES[qtype], True
    if dtype not in _DTYPES:
        raise ManifestError(f"weight {entry['name']!r}: unsupported dtype {dtype!r}")
    return count, _DTYPES[dtype], False


def dequantize(raw: np.ndarray, quant: Mapping[str, Any]) -> np.ndarray:
    """TF.js affine dequantisation: ``value = q * scale + min`` (float16 is just widened)."""
    if quant["dtype"] == "float16":
        return raw.astype(np.float32)
    try:
        scale, minimum = float(quant["scale"]), float(quant["min"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ManifestError(f"quantization {dict(quant)} lacks scale/min") from exc
    # float64 arithmetic then one rounding to float32, as TF.js computes it in JS numbers.
    return (raw.astype(np.float64) * scale + minimum).astype(np.float32)


def load_manifest(manifest_path: str | Path) -> dict[str, np.ndarray]:
    """All tensors of a TF.js weights manifest as float32/int32 numpy arrays, by name.

    Shapes are kept in TF layout (convolution filters ``[kh, kw, in, out]``).
    """
    path = Path(manifest_path)
    if not path.is_file():
        raise ManifestError(f"weights manifest not found: {path} (run scripts/setup.sh to fetch face-api)")
    try:
        groups = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestError(f"weights manifest {path} is not valid JSON: {exc}") from exc
    if not isinstance(groups, list) or not all(isinstance(g, dict) for g in groups):
        raise ManifestError(f"weights manifest {path} must be a JSON list of weight groups")

    tensors: dict[str, np.ndarray] = {}
    for group in groups:
        shards = group.get("paths") or []
        entries = group.get("weights") or []
        buf = b"".join(_read_shard(path.parent / str(p)) for p in shards)
        offset = 0
        for entry in entries:
            count, storage, quantised = _entry_bytes(entry)
            nbytes = count * storage.itemsize
            if offset + nbytes > len(buf):
                raise ManifestError(
                    f"{path.name}: weight {entry['name']!r} needs bytes {offset}..{offset + nbytes} "
                    f"but the shards {shards} hold only {len(buf)} (truncated or wrong .bin?)")
            raw = np.frombuffer(buf, dtype=storage, count=count, offset=offset)
            offset += nbytes
            arr = dequantize(raw, entry["quantization"]) if quantised else raw.copy()
            if entry["dtype"] == "float32":
                arr = arr.astype(np.float32, copy=False)
            tensors[str(entry["name"])] = arr.reshape([int(d) for d in entry["shape"]])
        if offset != len(buf):
            raise ManifestError(
                f"{path.name}: shards {shards} hold {len(buf)} bytes, the manifest describes {offset}")
    if not tensors:
        raise ManifestError(f"weights manifest {path} describes no tensors")
    return tensors


def _read_shard(path: Path) -> bytes:
    if not path.is_file():
        raise ManifestError(f"weights shard not found: {path} (run scripts/setup.sh to fetch face-api)")
    return path.read_bytes()


def require(weights: Mapping[str, np.ndarray], name: str, shape: tuple[int, ...]) -> np.ndarray:
    """The named tensor, checked for the shape the architecture expects."""
    if name not in weights:
        raise ManifestError(f"weights lack tensor {name!r} (is this the right manifest?)")
    arr = weights[name]
    if tuple(arr.shape) != tuple(shape):
        raise ManifestError(f"tensor {name!r} has shape {tuple(arr.shape)}, expected {tuple(shape)}")
    return arr
