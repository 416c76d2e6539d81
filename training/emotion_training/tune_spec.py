"""What a hyper-parameter search explores: a ``training/configs/tune_*.yaml`` file.

    base: synthetic_tiny.yaml        # training config every trial starts from (beside this file)
    overrides: [train.epochs=2]      # applied to every trial
    study: {pruner: median, startup_trials: 2, warmup_epochs: 1, sampler_seed: 0}
    space:
      train.lr: {low: 1.0e-4, high: 1.0e-2, log: true}
      model.embed_dim: {choices: [16, 32, 64]}

A search space is data, not code, so that a profile (Jetson-sized MobileNetV3, desktop
EfficientNet) keeps its own ranges beside its training config, and every key is checked against
the training config's schema before the first trial runs instead of failing in trial 17.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import yaml

from .config import Config, ConfigError, load_config

PRUNERS = ("median", "hyperband", "none")


@dataclass(frozen=True)
class ParamSpec:
    """One searched value: a float/int range (``log`` for rates) or a list of ``choices``."""

    key: str
    low: Optional[float] = None
    high: Optional[float] = None
    log: bool = False
    step: Optional[float] = None
    integer: bool = False
    choices: Optional[tuple[Any, ...]] = None

    @classmethod
    def parse(cls, key: str, raw: Mapping[str, Any]) -> "ParamSpec":
        if not isinstance(raw, Mapping):
            raise ConfigError(f"space.{key}: expected a mapping like {{low: .., high: ..}} or {{choices: [..]}}")
        unknown = set(raw) - {"low", "high", "log", "step", "int", "choices"}
        if unknown:
            raise ConfigError(f"space.{key}: unknown field(s) {sorted(unknown)}")
        if "choices" in raw:
            choices = tuple(raw["choices"] or ())
            if not choices:
                raise ConfigError(f"space.{key}: choices is empty")
            return cls(key, choices=choices)
        if "low" not in raw or "high" not in raw:
            raise ConfigError(f"space.{key}: a range needs low and high (or give choices)")
        low, high = float(raw["low"]), float(raw["high"])
        if not low < high:
            raise ConfigError(f"space.{key}: low {low} must be below high {high}")
        if raw.get("log") and low <= 0:
            raise ConfigError(f"space.{key}: a log range needs low > 0")
        integer = bool(raw.get("int", False))
        step = raw.get("step")
        return cls(key, low, high, bool(raw.get("log", False)),
                   float(step) if step is not None else None, integer)

    def suggest(self, trial) -> Any:
        """Ask an Optuna trial for this value."""
        if self.choices is not None:
            return trial.suggest_categorical(self.key, list(self.choices))
        assert self.low is not None and self.high is not None
        if self.integer:
            return trial.suggest_int(self.key, int(self.low), int(self.high), log=self.log,
                                     step=int(self.step or 1))
        return trial.suggest_float(self.key, self.low, self.high, log=self.log, step=self.step)

    def example(self) -> Any:
        """A value inside the space, used to check the key against the config schema."""
        if self.choices is not None:
            return self.choices[0]
        return int(self.low) if self.integer else self.low


@dataclass(frozen=True)
class StudySpec:
    direction: str = "maximize"
    pruner: str = "median"
    #: Trials that always run to the end before the pruner compares against them.
    startup_trials: int = 3
    #: Epochs of each trial that are never pruned (the first epochs are noisy).
    warmup_epochs: int = 1
    sampler_seed: int = 0

    def __post_init__(self) -> None:
        if self.pruner not in PRUNERS:
            raise ConfigError(f"study.pruner {self.pruner!r}: use one of {PRUNERS}")
        if self.direction not in ("maximize", "minimize"):
            raise ConfigError(f"study.direction {self.direction!r}: maximize or minimize")


@dataclass(frozen=True)
class TuneSpec:
    name: str
    base: Path
    overrides: tuple[str, ...] = ()
    space: tuple[ParamSpec, ...] = ()
    study: StudySpec = field(default_factory=StudySpec)

    def base_config(self, extra_overrides: Sequence[str] = (),
                    values: Optional[Mapping[str, Any]] = None) -> Config:
        """The training config every trial starts from (file <- ``values`` <- tune overrides <-
        CLI overrides); ``values`` are dotted keys, e.g. ``{"data.root": "/data/RAVDESS"}``."""
        return load_config(self.base, [*self.overrides, *extra_overrides], nest(values or {}))

    def trial_config(self, params: Mapping[str, Any], extra_overrides: Sequence[str] = (),
                     values: Optional[Mapping[str, Any]] = None) -> Config:
        """The base config with a trial's values set (as ``--set key=value`` would)."""
        fixed = {o.partition("=")[0].strip() for o in [*self.overrides, *extra_overrides]}
        clash = sorted(fixed & set(params))
        if clash:
            raise ConfigError(f"{clash} are both searched and fixed by an override: drop one")
        return self.base_config(extra_overrides, {**dict(values or {}), **params})


def nest(dotted: Mapping[str, Any]) -> dict[str, Any]:
    """``{"train.lr": 1e-3}`` -> ``{"train": {"lr": 1e-3}}``."""
    out: dict[str, Any] = {}
    for key, value in dotted.items():
        node = out
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def load_tune_spec(path: str | Path) -> TuneSpec:
    """Read and check a tune YAML; every searched key must exist in the training config."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"tune file not found: {path}")
    data = yaml.safe_load(path.read_text()) or {}
    unknown = set(data) - {"name", "base", "overrides", "study", "space"}
    if unknown:
        raise ConfigError(f"{path.name}: unknown key(s) {sorted(unknown)}; valid: base, overrides, study, space, name")
    if not data.get("base"):
        raise ConfigError(f"{path.name}: 'base' (the training config to tune) is required")
    base = Path(data["base"])
    if not base.is_absolute() and (path.parent / base).is_file():  # beside the tune file first
        base = path.parent / base
    if not data.get("space"):
        raise ConfigError(f"{path.name}: 'space' is empty: nothing to search")
    try:
        study = StudySpec(**(data.get("study") or {}))
    except TypeError as exc:
        raise ConfigError(f"{path.name}: study: {exc}") from exc
    spec = TuneSpec(name=str(data.get("name") or path.stem), base=base,
                    overrides=tuple(data.get("overrides") or ()),
                    space=tuple(ParamSpec.parse(k, v) for k, v in data["space"].items()),
                    study=study)
    spec.trial_config({p.key: p.example() for p in spec.space})  # schema check of every key
    return spec
