"""What a run needs from this machine, checked before any work: the dataset is where the config
says, and the pretrained weights it names are here (never fetched behind the user's back).

``config.validate`` checks values and stays pure, so a checkpoint's config still loads on a
machine without the data or the weights; this module checks the machine, once per run, at the
start of ``prepare``, ``train`` and ``chain``, so a missing file is reported in one line in
the first second rather than as a traceback after the preparation.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

from .config import Config, ConfigError

log = logging.getLogger(__name__)


def check_data(cfg: Config) -> None:
    """The dataset folder (or manifest) and the optional noise folder exist."""
    d = cfg.data
    if d.dataset == "manifest":
        manifest = Path(d.manifest) if d.manifest else Path(d.root) / "manifest.csv"
        if not manifest.is_file():
            raise ConfigError(f"data.manifest {str(manifest)!r} is not a file: give the CSV with "
                              f"--set data.manifest=PATH (or put manifest.csv in --data-root)")
    elif not Path(d.root).is_dir():
        raise ConfigError(f"data.root {d.root!r} is not a folder: give the {d.dataset} dataset folder "
                          f"with --data-root PATH")
    if cfg.augment.noise_dir and not Path(cfg.augment.noise_dir).is_dir():
        raise ConfigError(f"augment.noise_dir {cfg.augment.noise_dir!r} is not a folder "
                          f"(or --set augment.noise_dir=null for white noise)")


def check_weights(cfg: Config) -> Optional[Path]:
    """The pretrained weights of ``model.weights`` and ``model.backbone_checkpoint`` are on this
    machine; returns the weights file or folder that will be read (None: random init, or a
    download the config allows)."""
    from .models.backbones import WeightsUnavailable, check_weights as check_backbone_weights

    m = cfg.model
    if m.backbone_checkpoint and not Path(m.backbone_checkpoint).is_file():
        raise ConfigError(f"model.backbone_checkpoint {m.backbone_checkpoint!r} is not a file "
                          f"(or --set model.backbone_checkpoint=null)")
    try:
        local = check_backbone_weights(m.backbone, m.weights, m.allow_download)
    except WeightsUnavailable as exc:
        raise ConfigError(str(exc)) from None
    except ValueError as exc:  # an unknown weights name: the valid ones are in the message
        raise ConfigError(f"model.weights: {exc}") from None
    if m.backbone == "face_expression_net" and m.weights:
        local = _face_api_weights(m.weights)
    if local is not None:
        log.info("pretrained %s weights: %s", m.backbone, local)
    return local


def _face_api_weights(weights: str) -> Path:
    """face-api's expression weights from the npm cache that scripts/setup.sh fills (or a path)."""
    from .face_api.backbone import CACHE_ENV, default_cache
    from .face_api.manifest import ManifestError
    from .face_api.torch_model import resolve_manifest

    named = weights.lower() in ("default", "face_api")
    source = default_cache() if named else Path(weights).expanduser()
    try:
        return resolve_manifest(source)
    except ManifestError as exc:
        where = f"{source} (the npm cache; {CACHE_ENV} moves it)" if named else str(source)
        raise ConfigError(
            f"model.weights {weights!r} for face_expression_net: face-api weights not found in "
            f"{where}: {exc}; give the folder holding the npm tarball with {CACHE_ENV}=PATH or a "
            f"weights manifest with --set model.weights=/path/to/face_expression_model-weights_manifest.json, "
            f"or train without pretrained weights with --set model.weights=null") from None


def check_run(cfg: Config, data: bool = True, weights: bool = True) -> None:
    """Everything a run needs from this machine; raises ``ConfigError`` with one line."""
    if data:
        check_data(cfg)
    if weights:
        check_weights(cfg)
