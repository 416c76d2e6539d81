"""Audio: PCM byte formats <-> float samples, file loading, voice activity, log-mel features.

The log-mel function here is the only one: training computes its inputs with it and the robot
computes the node's inputs with it, parameterised by the model contract's ``AudioSpec``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from .contract import AudioSpec

#: audio_common sample_format strings this stack reads and writes -> numpy dtype.
SAMPLE_FORMATS: dict[str, np.dtype] = {
    "S16LE": np.dtype("<i2"),
    "S32LE": np.dtype("<i4"),
    "F32LE": np.dtype("<f4"),
    "U8": np.dtype("u1"),
}


class AudioFormatError(ValueError):
    """Audio bytes or files that cannot be decoded as declared."""


def decode_pcm(data: bytes | bytearray | memoryview | np.ndarray, sample_format: str,
               channels: int = 1) -> np.ndarray:
    """Interleaved PCM bytes -> float32 mono in [-1, 1] (channels averaged).

    Raises AudioFormatError for unknown formats, truncated buffers and non-finite samples, so a
    caller can count and log the bad chunk instead of feeding garbage to a model.
    """
    fmt = sample_format.upper()
    if fmt not in SAMPLE_FORMATS:
        raise AudioFormatError(
            f"unsupported sample_format {sample_format!r}; expected one of {sorted(SAMPLE_FORMATS)}")
    if channels < 1:
        raise AudioFormatError(f"channels must be >= 1, got {channels}")
    dtype = SAMPLE_FORMATS[fmt]
    # An ndarray is taken as raw bytes whatever its dtype (astype would convert the values).
    raw = (np.ascontiguousarray(data).reshape(-1).view(np.uint8) if isinstance(data, np.ndarray)
           else np.frombuffer(memoryview(data).cast("B"), dtype=np.uint8))
    frame_bytes = dtype.itemsize * channels
    if raw.size % frame_bytes:
        raise AudioFormatError(
            f"{raw.size} bytes is not a whole number of {fmt} x{channels} frames ({frame_bytes} B each)")
    samples = raw.view(dtype)
    if dtype.kind == "f":
        out = samples.astype(np.float32)
        if not np.all(np.isfinite(out)):
            raise AudioFormatError("audio chunk contains NaN or infinite samples")
    elif dtype.kind == "u":
        out = (samples.astype(np.float32) - 128.0) / 128.0
    else:
        out = samples.astype(np.float32) / float(np.iinfo(dtype).max + 1)
    if channels > 1:
        out = out.reshape(-1, channels).mean(axis=1)
    return out


def encode_pcm(samples: np.ndarray, sample_format: str) -> bytes:
    """float mono in [-1, 1] -> PCM bytes (clipped for integer formats)."""
    fmt = sample_format.upper()
    if fmt not in SAMPLE_FORMATS:
        raise AudioFormatError(f"unsupported sample_format {sample_format!r}")
    dtype = SAMPLE_FORMATS[fmt]
    x = np.asarray(samples, dtype=np.float32)
    if dtype.kind == "f":
        return x.astype(dtype).tobytes()
    if dtype.kind == "u":
        return np.clip(np.round(x * 128.0 + 128.0), 0, 255).astype(dtype).tobytes()
    scale = float(np.iinfo(dtype).max + 1)
    # float64: in float32, 2**31 - 1 rounds up to 2**31 and the clipped value wraps to -2**31.
    return np.clip(np.round(x.astype(np.float64) * scale), -scale, scale - 1).astype(dtype).tobytes()


def resample(samples: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """High-quality resampling (soxr, as librosa uses)."""
    if rate_in == rate_out:
        return samples.astype(np.float32, copy=False)
    import soxr

    return soxr.resample(samples.astype(np.float32, copy=False), rate_in, rate_out).astype(np.float32)


def load_audio(path: str | Path, sample_rate: int, start_s: float = 0.0,
               duration_s: Optional[float] = None) -> np.ndarray:
    """Any file libsndfile reads (WAV, FLAC, OGG, ...) -> float32 mono at ``sample_rate``."""
    import soundfile as sf

    path = Path(path)
    if not path.is_file():
        raise AudioFormatError(f"audio file not found: {path}")
    try:
        with sf.SoundFile(str(path)) as f:
            start = int(start_s * f.samplerate)
            frames = -1 if duration_s is None else int(duration_s * f.samplerate)
            f.seek(start)
            data = f.read(frames, dtype="float32", always_2d=True)
            rate = f.samplerate
    except (RuntimeError, sf.LibsndfileError) as exc:  # type: ignore[attr-defined]
        raise AudioFormatError(f"cannot read audio file {path}: {exc}") from exc
    mono = data.mean(axis=1)
    return resample(mono, rate, sample_rate)


def rms_dbfs(samples: np.ndarray) -> float:
    """Root-mean-square level in dB relative to full scale (-inf for digital silence)."""
    if samples.size == 0:
        return float("-inf")
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    return 20.0 * np.log10(rms) if rms > 0 else float("-inf")


_MEL_CACHE: dict[tuple, np.ndarray] = {}


def _mel_basis(spec: AudioSpec) -> np.ndarray:
    key = (spec.sample_rate, spec.n_fft, spec.n_mels, spec.fmin, spec.fmax)
    if key not in _MEL_CACHE:
        import librosa

        _MEL_CACHE[key] = librosa.filters.mel(
            sr=spec.sample_rate, n_fft=spec.n_fft, n_mels=spec.n_mels,
            fmin=spec.fmin, fmax=spec.fmax).astype(np.float32)
    return _MEL_CACHE[key]


def fit_window(samples: np.ndarray, spec: AudioSpec) -> np.ndarray:
    """Left-pad with zeros or keep the last ``window_samples``: the window ends at the frame."""
    n = spec.window_samples
    if samples.size >= n:
        return samples[-n:]
    return np.concatenate([np.zeros(n - samples.size, np.float32), samples.astype(np.float32)])


def log_mel(samples: np.ndarray, spec: AudioSpec) -> np.ndarray:
    """Normalised log-mel spectrogram ``(n_mels, frames)`` of one window, float32.

    Pre-emphasis, Hann-window STFT (centred, reflect-padded), power mel filterbank (librosa's
    Slaney mel basis), ``log(mel + floor)``, then ``(x - norm_mean) / norm_std``.
    """
    import librosa

    x = fit_window(np.asarray(samples, dtype=np.float32), spec)
    if spec.preemphasis:
        x = np.append(x[:1], x[1:] - spec.preemphasis * x[:-1]).astype(np.float32)
    stft = librosa.stft(x, n_fft=spec.n_fft, hop_length=spec.hop_length,
                        win_length=spec.win_length, window="hann", center=True, pad_mode="reflect")
    power = (np.abs(stft) ** 2).astype(np.float32)
    mel = _mel_basis(spec) @ power
    feats = np.log(mel + spec.log_floor)
    return ((feats - spec.norm_mean) / spec.norm_std).astype(np.float32)
