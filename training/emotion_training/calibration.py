"""Calibration samples for int8: windows of the run's *training* speakers, fed exactly as the
robot feeds them (contract preprocessing, absent modality zeroed and masked, no augmentation).

Quantization ranges are fitted on these inputs, so they must be the real input distribution:
random tensors give ranges far from the face crops and log-mels the node computes, and test
windows would leak the test speakers into the model. The same samples serve ONNX Runtime's
static quantization and TensorRT's INT8 calibrator.
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping, Optional

import numpy as np

from emotion_core.contract import ModelContract

from .config import Config, load_config
from .data import PreparedData, WindowDataset
from .prepare import cache_dir
from .utils import progress


def run_dataset(ckpt: Mapping[str, Any], part: str = "train",
                data_root: Optional[str] = None) -> tuple[WindowDataset, Config]:
    """The un-augmented windows of one part (train / val / test speakers) of a run's split."""
    extra = {"data": {"root": data_root}} if data_root else None
    cfg = load_config(None, (), extra, base=ckpt["config"])
    speakers = ckpt["split"][part]
    if not speakers:
        raise ValueError(f"the run's split has no {part} speakers")
    data = PreparedData(cache_dir(cfg))
    dataset = WindowDataset(data, data.subset(speakers), cfg.face.spec(), cfg.audio.spec(),
                            modalities=cfg.model.modalities)
    return dataset, cfg


def calibration_samples(ckpt: Mapping[str, Any], count: int = 256, seed: int = 0,
                        data_root: Optional[str] = None,
                        show_progress: bool = True) -> dict[str, np.ndarray]:
    """``count`` training windows (fewer if the split has fewer), keyed by the contract's input
    names; a seeded draw so that a rebuilt int8 model gets the same ranges."""
    dataset, _ = run_dataset(ckpt, "train", data_root)
    contract = ModelContract.from_dict(ckpt["contract"])
    rng = np.random.default_rng(seed)
    picked = np.sort(rng.choice(len(dataset), size=min(count, len(dataset)), replace=False))
    face, audio, mask = [], [], []
    for i in progress(picked, total=len(picked), desc="calibration windows", enabled=show_progress):
        item = dataset[int(i)]
        face.append(item["face"].numpy())
        audio.append(item["audio"].numpy())
        mask.append(item["mask"].numpy())
    return {contract.inputs["face"]: np.stack(face).astype(np.float32),
            contract.inputs["audio"]: np.stack(audio).astype(np.float32),
            contract.inputs["modality_mask"]: np.stack(mask).astype(np.float32)}


def random_samples(contract: ModelContract, count: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Standard-normal inputs of the contract's shapes, all modalities present: only for models
    whose accuracy means nothing (random-init speed benchmarks)."""
    assert contract.face is not None and contract.audio is not None
    rng = np.random.default_rng(seed)
    size, a = contract.face.size, contract.audio
    return {contract.inputs["face"]: rng.standard_normal((count, 3, size, size), np.float32),
            contract.inputs["audio"]: rng.standard_normal((count, 1, a.n_mels, a.frames), np.float32),
            contract.inputs["modality_mask"]: np.ones((count, 2), np.float32)}


def batches(samples: Mapping[str, np.ndarray], batch: int) -> Iterator[dict[str, np.ndarray]]:
    """Consecutive batches of a sample dict (the last one may be smaller)."""
    n = min(len(v) for v in samples.values())
    for start in range(0, n, batch):
        yield {k: v[start:start + batch] for k, v in samples.items()}
