"""Run configuration: YAML file -> ``--set section.key=value`` overrides -> typed, validated config.

Typed dataclasses (rather than a free dict) so that a misspelt key in a YAML file or an override
fails at start with the list of valid keys, not silently hours into a run. The resolved config
is saved beside every run and inside every checkpoint, which is what makes a run reproducible.
"""
from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import yaml

from emotion_core.contract import AudioSpec, FaceSpec


_AUDIO = AudioSpec()


class ConfigError(ValueError):
    """A configuration file or override that cannot be honoured."""


@dataclass
class SplitConfig:
    """Speaker-independent split: ``fixed`` speaker lists or ``kfold`` by speaker."""

    protocol: str = "kfold"  # fixed | kfold
    folds: int = 5
    fold: int = 0
    #: kfold: how many of the remaining speaker groups become validation speakers.
    val_folds: int = 1
    shuffle_seed: int = 0
    #: fixed: explicit speaker ids; train = every other speaker.
    test_speakers: list[str] = field(default_factory=list)
    val_speakers: list[str] = field(default_factory=list)


@dataclass
class DataConfig:
    dataset: str = "ravdess"  # ravdess | cremad | manifest
    root: str = "data/ravdess"
    #: CSV manifest path (dataset: manifest); relative media paths resolve against its folder.
    manifest: Optional[str] = None
    label_set: str = "ravdess8"
    #: Where prepared windows live; default ``<root>/.emotion_cache``.
    cache_dir: Optional[str] = None
    #: Aligned (face frame, audio window ending at that frame) pairs cut from each clip.
    windows_per_clip: int = 3
    #: The runtime's detector by name (emotion_core.face.create_detector): crops match the robot's.
    face_detector: str = "auto"
    #: RAVDESS: use speech (``speech``), song (``song``) or both (``all``) recordings.
    ravdess_channel: str = "speech"
    split: SplitConfig = field(default_factory=SplitConfig)
    num_workers: int = 2


@dataclass
class FaceConfig:
    """Mirrors ``emotion_core.contract.FaceSpec``: what the robot will feed the image branch."""

    size: int = 112
    mean: list[float] = field(default_factory=lambda: [123.675, 116.28, 103.53])
    std: list[float] = field(default_factory=lambda: [58.395, 57.12, 57.375])
    channel_order: str = "RGB"
    margin: float = 0.1
    pad_square: bool = True

    def spec(self) -> FaceSpec:
        return FaceSpec(size=self.size, mean=tuple(self.mean), std=tuple(self.std),
                        channel_order=self.channel_order, margin=self.margin,
                        pad_square=self.pad_square)


@dataclass
class AudioConfig:
    """Mirrors ``emotion_core.contract.AudioSpec``; norm statistics are filled from the train set."""

    # Defaults come from the contract's AudioSpec: the numbers live in one place.
    sample_rate: int = _AUDIO.sample_rate
    window_s: float = _AUDIO.window_s
    n_mels: int = _AUDIO.n_mels
    n_fft: int = _AUDIO.n_fft
    hop_length: int = _AUDIO.hop_length
    win_length: int = _AUDIO.win_length
    fmin: float = _AUDIO.fmin
    fmax: float = _AUDIO.fmax
    preemphasis: float = _AUDIO.preemphasis
    log_floor: float = _AUDIO.log_floor
    norm_mean: Optional[float] = None
    norm_std: Optional[float] = None
    #: The runtime's voice-activity threshold: a window below it is fed as "no voice".
    vad_threshold_dbfs: float = -45.0

    def spec(self, normalised: bool = True) -> AudioSpec:
        """The contract's AudioSpec; ``normalised=False`` gives raw log-mel (for the statistics)."""
        keys = {f.name for f in dataclasses.fields(AudioSpec)} - {"norm_mean", "norm_std"}
        values = {k: getattr(self, k) for k in keys}
        if normalised:
            if self.norm_mean is None or self.norm_std is None:
                raise ConfigError("audio.norm_mean/norm_std are unset: compute them on the train split")
            values.update(norm_mean=float(self.norm_mean), norm_std=float(self.norm_std))
        return AudioSpec(**values)


@dataclass
class AudioModelConfig:
    channels: list[int] = field(default_factory=lambda: [32, 64, 128])
    lstm_hidden: int = 128
    lstm_layers: int = 1


@dataclass
class ModelConfig:
    #: Image backbone registry name (``emotion_training.models.list_backbones()``).
    backbone: str = "efficientnet_b0"
    #: torchvision weights enum name (``DEFAULT``, ``IMAGENET1K_V1``) or null for random init.
    weights: Optional[str] = None
    #: Local state-dict checkpoint for the backbone (offline alternative to ``weights``).
    backbone_checkpoint: Optional[str] = None
    se_reduction: int = 8
    #: Override every BatchNorm momentum (timm's --bn-momentum); torchvision's MobileNetV3 uses
    #: 0.01, too slow for running statistics to settle in a very short run.
    bn_momentum: Optional[float] = None
    embed_dim: int = 128
    dropout: float = 0.3
    audio: AudioModelConfig = field(default_factory=AudioModelConfig)
    modalities: list[str] = field(default_factory=lambda: ["face", "audio"])


@dataclass
class AugmentConfig:
    # audio (waveform)
    noise_p: float = 0.5
    snr_db: list[float] = field(default_factory=lambda: [5.0, 30.0])
    #: Folder of real noise recordings (wav/flac) mixed instead of white noise when given.
    noise_dir: Optional[str] = None
    gain_db: list[float] = field(default_factory=lambda: [-6.0, 6.0])
    shift_s: float = 0.2
    # audio (spectrogram)
    specaug_p: float = 0.5
    freq_mask: int = 8
    time_mask: int = 20
    # face
    flip_p: float = 0.5
    jitter: float = 0.2
    affine_deg: float = 10.0
    affine_shift: float = 0.05
    affine_scale: list[float] = field(default_factory=lambda: [0.95, 1.05])
    # both
    modality_dropout: float = 0.3


@dataclass
class TrainConfig:
    output: str = "runs/default"
    epochs: int = 30
    batch_size: int = 32
    lr: float = 3e-4
    backbone_lr_scale: float = 0.1
    weight_decay: float = 0.05
    warmup_epochs: float = 1.0
    clip_grad: float = 5.0
    label_smoothing: float = 0.1
    #: Weight of the per-branch losses that keep face-only and voice-only outputs calibrated.
    aux_weight: float = 0.5
    amp: bool = True
    patience: int = 8
    seed: int = 0
    deterministic: bool = False
    device: str = "auto"
    log_every: int = 20


@dataclass
class Config:
    name: str = "emotion-fusion"
    data: DataConfig = field(default_factory=DataConfig)
    face: FaceConfig = field(default_factory=FaceConfig)
    audio: AudioConfig = field(default_factory=AudioConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))
        return path


def _build(cls: type, data: Mapping[str, Any], where: str) -> Any:
    """Recursively build dataclass ``cls`` from a mapping, refusing unknown keys."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where or 'config'} must be a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"unknown key(s) {unknown} in {where or 'config'}; valid: {sorted(fields)}")
    kwargs = {}
    for name, value in data.items():
        default = getattr(cls(), name)
        if dataclasses.is_dataclass(default):
            kwargs[name] = _build(type(default), value or {}, f"{where}.{name}".lstrip("."))
        else:
            kwargs[name] = value
    return cls(**kwargs)


def _set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    node = data
    parts = dotted.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {dotted!r}: {part!r} is not a section")
    node[parts[-1]] = value


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """``["train.lr=1e-3", "model.audio.channels=[8,16]"]`` -> nested dict (values parsed as YAML)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {item!r} is not KEY=VALUE")
        _set_dotted(out, key.strip(), yaml.safe_load(raw))
    return out


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value
    return base


def load_config(path: str | Path | None = None, overrides: Sequence[str] = (),
                extra: Optional[Mapping[str, Any]] = None,
                base: Optional[Mapping[str, Any]] = None) -> Config:
    """Defaults <- ``base`` (a saved config) or YAML file <- ``extra`` (named flags) <- ``--set``."""
    data: dict[str, Any] = copy.deepcopy(dict(base)) if base is not None else {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        _merge(data, yaml.safe_load(path.read_text()) or {})
    if extra:
        _merge(data, extra)
    _merge(data, parse_overrides(overrides))
    return validate(_build(Config, data, ""))


def config_from_dict(data: Mapping[str, Any]) -> Config:
    """Rebuild a saved (resolved) config, e.g. from a checkpoint."""
    return validate(_build(Config, data, ""))


def validate(cfg: Config) -> Config:
    if cfg.data.dataset not in ("ravdess", "cremad", "manifest"):
        raise ConfigError(f"data.dataset {cfg.data.dataset!r}: use ravdess, cremad or manifest")
    if cfg.data.split.protocol not in ("fixed", "kfold"):
        raise ConfigError(f"data.split.protocol {cfg.data.split.protocol!r}: use fixed or kfold")
    if cfg.data.windows_per_clip < 1:
        raise ConfigError("data.windows_per_clip must be >= 1")
    bad = set(cfg.model.modalities) - {"face", "audio"}
    if bad or not cfg.model.modalities:
        raise ConfigError(f"model.modalities {cfg.model.modalities}: a non-empty subset of face, audio")
    if cfg.train.epochs < 1 or cfg.train.batch_size < 1:
        raise ConfigError("train.epochs and train.batch_size must be >= 1")
    cfg.face.spec().validate()
    cfg.audio.spec(normalised=False).validate()
    return cfg


def add_config_args(parser) -> None:
    """The flags every entry point shares: ``--config`` and ``--set KEY=VALUE``."""
    parser.add_argument("--config", "-c", type=Path, help="YAML config (training/configs/*.yaml)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set train.lr=1e-3 (repeatable)")
    parser.add_argument("--data-root", help="dataset folder (data.root)")
    parser.add_argument("--output", help="run folder (train.output)")


def flag_overrides(args) -> dict[str, Any]:
    """The shared named flags as a nested override dict."""
    extra: dict[str, Any] = {}
    if getattr(args, "data_root", None):
        _set_dotted(extra, "data.root", str(args.data_root))
    if getattr(args, "output", None):
        _set_dotted(extra, "train.output", str(args.output))
    return extra


def config_from_args(args, base: Optional[Mapping[str, Any]] = None,
                     extra: Optional[Mapping[str, Any]] = None) -> Config:
    """Config from ``--config``/``--set``/named flags, on top of ``base`` when resuming."""
    flags = _merge(flag_overrides(args), dict(extra or {}))
    return load_config(None if base is not None else args.config, args.overrides, flags, base)
