"""Augmentation on the same representations the runtime computes: the raw audio window (before
``log_mel``), the log-mel matrix, the uint8 BGR face crop (before ``normalize_crop``), and the
modality mask (modality dropout, so either branch alone still gives a sound answer)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from emotion_core.audio import load_audio

AUDIO_EXTS = (".wav", ".flac", ".ogg")


def mix_at_snr(signal: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """``signal + k * noise`` with ``k`` chosen so that the power ratio is ``snr_db``."""
    p_signal = float(np.mean(np.square(signal, dtype=np.float64)))
    p_noise = float(np.mean(np.square(noise, dtype=np.float64)))
    if p_signal <= 0 or p_noise <= 0:
        return signal
    k = np.sqrt(p_signal / (p_noise * 10.0 ** (snr_db / 10.0)))
    return (signal + k * noise).astype(np.float32)


def time_shift(wave: np.ndarray, shift: int) -> np.ndarray:
    """Shift right (positive) or left, filling with silence (no wrap-around of speech)."""
    if shift == 0:
        return wave
    out = np.zeros_like(wave)
    if shift > 0:
        out[shift:] = wave[:-shift]
    else:
        out[:shift] = wave[-shift:]
    return out


def spec_augment(mel: np.ndarray, freq_mask: int, time_mask: int, rng: np.random.Generator,
                 fill: float = 0.0) -> np.ndarray:
    """One frequency band and one time span masked (Park et al. 2019, without time warping)."""
    mel = mel.copy()
    n_mels, frames = mel.shape
    if freq_mask > 0:
        width = int(rng.integers(0, min(freq_mask, n_mels) + 1))
        f0 = int(rng.integers(0, n_mels - width + 1))
        mel[f0:f0 + width] = fill
    if time_mask > 0:
        width = int(rng.integers(0, min(time_mask, frames) + 1))
        t0 = int(rng.integers(0, frames - width + 1))
        mel[:, t0:t0 + width] = fill
    return mel


class AudioAugment:
    """Waveform noise at a random SNR (white, or a real recording from ``noise_dir``), gain and
    time shift; SpecAugment on the log-mel."""

    def __init__(self, cfg, sample_rate: int) -> None:
        self.cfg = cfg
        self.sample_rate = sample_rate
        self.noises: list[np.ndarray] = []
        if cfg.noise_dir:
            files = sorted(p for p in Path(cfg.noise_dir).rglob("*") if p.suffix.lower() in AUDIO_EXTS)
            if not files:
                raise FileNotFoundError(f"augment.noise_dir {cfg.noise_dir} has no wav/flac/ogg files")
            self.noises = [load_audio(p, sample_rate) for p in files]

    def _noise(self, n: int, rng: np.random.Generator) -> np.ndarray:
        if not self.noises:
            return rng.standard_normal(n).astype(np.float32)
        src = self.noises[int(rng.integers(len(self.noises)))]
        if src.size < n:
            src = np.tile(src, n // max(src.size, 1) + 1)
        start = int(rng.integers(0, src.size - n + 1))
        return src[start:start + n]

    def wave(self, wave: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        c = self.cfg
        if c.shift_s > 0:
            limit = int(c.shift_s * self.sample_rate)
            wave = time_shift(wave, int(rng.integers(-limit, limit + 1)))
        if c.gain_db:
            wave = wave * np.float32(10.0 ** (rng.uniform(*c.gain_db) / 20.0))
        if rng.random() < c.noise_p:
            wave = mix_at_snr(wave, self._noise(wave.size, rng), float(rng.uniform(*c.snr_db)))
        return np.clip(wave, -1.0, 1.0).astype(np.float32)

    def mel(self, mel: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if rng.random() < self.cfg.specaug_p:
            return spec_augment(mel, self.cfg.freq_mask, self.cfg.time_mask, rng)
        return mel


class FaceAugment:
    """Horizontal flip, brightness/contrast/saturation jitter and a small affine on the crop."""

    def __init__(self, cfg) -> None:
        self.cfg = cfg

    def __call__(self, bgr: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        import cv2

        c = self.cfg
        img = bgr
        if rng.random() < c.flip_p:
            img = img[:, ::-1]
        if c.affine_deg > 0 or c.affine_shift > 0:
            size = img.shape[0]
            angle = rng.uniform(-c.affine_deg, c.affine_deg)
            scale = rng.uniform(*c.affine_scale) if c.affine_scale else 1.0
            m = cv2.getRotationMatrix2D((size / 2.0, size / 2.0), angle, scale)
            m[:, 2] += rng.uniform(-c.affine_shift, c.affine_shift, 2) * size
            img = cv2.warpAffine(np.ascontiguousarray(img), m, (size, size),
                                 borderMode=cv2.BORDER_REFLECT_101)
        if c.jitter > 0:
            x = img.astype(np.float32)
            brightness = rng.uniform(1 - c.jitter, 1 + c.jitter)
            contrast = rng.uniform(1 - c.jitter, 1 + c.jitter)
            saturation = rng.uniform(1 - c.jitter, 1 + c.jitter)
            grey = x.mean(axis=2, keepdims=True)
            x = grey + (x - grey) * saturation
            x = (x - x.mean()) * contrast + x.mean()
            img = np.clip(x * brightness, 0, 255).astype(np.uint8)
        return np.ascontiguousarray(img)


def modality_dropout(present: Sequence[bool], p: float, rng: np.random.Generator) -> list[bool]:
    """With probability ``p`` blank one of two present modalities (never both)."""
    out = list(present)
    if all(out) and len(out) == 2 and rng.random() < p:
        out[int(rng.integers(2))] = False
    return out
