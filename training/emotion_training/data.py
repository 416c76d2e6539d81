"""PyTorch view of the prepared cache: one item per (clip, window), features computed the way
the robot computes them.

The log-mel comes from ``emotion_core.audio.log_mel`` with the contract's ``AudioSpec`` (norm
statistics included), the face tensor from ``emotion_core.face.normalize_crop`` with its
``FaceSpec``, the voice flag from the cache (``prepare`` ran the runtime's VAD over each take
with ``emotion_core.vad.voiced_windows``, the recognizer's rule), and an absent branch is zeros
with a 0 in the modality mask: exactly the feeds of ``EmotionRecognizer``.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from emotion_core.audio import log_mel
from emotion_core.contract import AudioSpec, FaceSpec
from emotion_core.face import normalize_crop

from .augment import AudioAugment, FaceAugment, modality_dropout
from .datasets import ClipRecord, DatasetError
from .utils import progress

log = logging.getLogger(__name__)


class PreparedData:
    """The clips of a prepared cache folder (``prepare.prepare``'s output)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        index_path = self.root / "index.json"
        if not index_path.is_file():
            raise DatasetError(f"{self.root} is not a prepared cache (no index.json): run prepare")
        index = json.loads(index_path.read_text())
        self.settings: dict[str, Any] = index["settings"]
        if "vad" not in self.settings:
            raise DatasetError(f"{self.root} was prepared before windows carried the robot's voice "
                               "flag: run prepare again")
        self.records = [ClipRecord.from_dict(r) for r in index["records"]]
        self.windows = {s["clip_id"]: int(s["windows"]) for s in index["status"]}
        self.failed = index.get("failed", [])

    def path(self, record: ClipRecord) -> Path:
        return self.root / "clips" / f"{record.clip_id}.npz"

    def subset(self, speakers: Sequence[str]) -> list[ClipRecord]:
        wanted = set(speakers)
        return [r for r in self.records if r.speaker in wanted]

    def load(self, record: ClipRecord) -> dict[str, np.ndarray]:
        with np.load(self.path(record)) as npz:
            return {k: npz[k] for k in npz.files}


def as_float(pcm: np.ndarray) -> np.ndarray:
    return pcm.astype(np.float32) / 32768.0


def compute_norm_stats(data: PreparedData, records: Sequence[ClipRecord], spec: AudioSpec,
                       show_progress: bool = True) -> tuple[float, float]:
    """Global mean / std of raw log-mel values over the voiced training windows (the contract's
    ``norm_mean`` / ``norm_std``: the robot normalises only windows its VAD calls voiced);
    ``spec`` must have norm 0 / 1."""
    total, total_sq, count = 0.0, 0.0, 0
    for record in progress(records, desc="norm stats", enabled=show_progress):
        clip = data.load(record)
        if not bool(clip["has_audio"]):
            continue
        for pcm in clip["audio"][clip["voiced"]]:
            mel = log_mel(as_float(pcm), spec).astype(np.float64)
            total += mel.sum()
            total_sq += np.square(mel).sum()
            count += mel.size
    if count == 0:
        raise DatasetError(f"no voiced audio window in the training split (by the "
                           f"{data.settings['vad']} VAD, audio.vad): cannot normalise")
    mean = total / count
    std = max(float(np.sqrt(max(total_sq / count - mean ** 2, 0.0))), 1e-6)
    return float(mean), std


class WindowDataset(Dataset):
    """Items ``{"face", "audio", "mask", "label", "clip"}``; ``clip`` indexes ``self.records``
    so that evaluation can average a clip's windows."""

    def __init__(self, data: PreparedData, records: Sequence[ClipRecord], face: FaceSpec,
                 audio: AudioSpec, augment: Optional[Any] = None,
                 seed: int = 0, modalities: Sequence[str] = ("face", "audio")) -> None:
        self.data = data
        self.records = list(records)
        self.face = face
        self.audio = audio
        self.modalities = tuple(modalities)
        self.seed = seed
        self.epoch = 0
        self.train = augment is not None
        self.aug = augment
        self.audio_aug = AudioAugment(augment, audio.sample_rate) if augment is not None else None
        self.face_aug = FaceAugment(augment) if augment is not None else None
        self.items = [(i, k) for i, r in enumerate(self.records)
                      for k in range(data.windows[r.clip_id])]
        if not self.items:
            raise DatasetError("empty dataset: no prepared window for these speakers")
        self._cached: tuple[int, dict[str, np.ndarray]] | None = None

    def set_epoch(self, epoch: int) -> None:
        """Different augmentation every epoch, the same for a given (seed, epoch, item)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.items)

    def _clip(self, index: int) -> dict[str, np.ndarray]:
        if self._cached is None or self._cached[0] != index:  # consecutive windows of one clip
            self._cached = (index, self.data.load(self.records[index]))
        return self._cached[1]

    def __getitem__(self, item: int) -> dict[str, torch.Tensor]:
        clip_index, k = self.items[item]
        clip = self._clip(clip_index)
        rng = np.random.default_rng((self.seed, self.epoch, item))
        face_present = bool(clip["face_found"][k]) and "face" in self.modalities
        voice_present = bool(clip["has_audio"]) and "audio" in self.modalities \
            and bool(clip["voiced"][k])
        if self.train:
            face_present, voice_present = modality_dropout(
                [face_present, voice_present], self.aug.modality_dropout, rng)

        size = self.face.size
        face = np.zeros((3, size, size), np.float32)
        if face_present:
            crop = clip["faces"][k]
            if self.face_aug is not None:
                crop = self.face_aug(crop, rng)
            face = normalize_crop(crop, self.face)
        mel = np.zeros((self.audio.n_mels, self.audio.frames), np.float32)
        if voice_present:
            wave = as_float(clip["audio"][k])
            if self.audio_aug is not None:
                wave = self.audio_aug.wave(wave, rng)
            mel = log_mel(wave, self.audio)
            if self.audio_aug is not None:
                mel = self.audio_aug.mel(mel, rng)
        return {
            "face": torch.from_numpy(face),
            "audio": torch.from_numpy(np.ascontiguousarray(mel)[None]),
            "mask": torch.tensor([float(face_present), float(voice_present)]),
            "label": torch.tensor(self.records[clip_index].label, dtype=torch.long),
            "clip": torch.tensor(clip_index, dtype=torch.long),
        }
