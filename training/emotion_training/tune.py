"""Hyper-parameter search with Optuna: learning rate, weight decay, dropout, fusion width,
modality-dropout rate (whatever a ``tune_*.yaml`` lists), pruned on validation UAR per epoch,
stored in a database so that an interrupted or extended search resumes.

    python -m emotion_training.tune -c training/configs/tune_ravdess_mobilenetv3.yaml \\
        --data-root data/RAVDESS --output runs/tune-mnv3 \\
        --storage sqlite:///runs/tune.db --study-name mnv3-fold0 --trials 30

Running the same command again adds ``--trials`` more trials to the same study. Each trial is a
normal training run in ``<output>/trial-NNN``; the objective is the trial's best validation UAR
(never test: the test speakers stay unseen until the final evaluation). The best trial's values
are written as ``<output>/best.yaml``, a full training config for ``train`` or ``chain``:

    python -m emotion_training.chain -c runs/tune-mnv3/best.yaml --output runs/mnv3-tuned
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
import warnings
from pathlib import Path
from typing import Any, Optional, Sequence

import yaml

from .config import Config, ConfigError
from .prepare import prepare
from .train import train
from .tune_spec import TuneSpec, load_tune_spec
from .utils import setup_logging

log = logging.getLogger("emotion_training.tune")


class TuneError(RuntimeError):
    """A search that cannot run as asked."""


def _optuna():
    try:
        import optuna
    except ImportError as exc:
        raise TuneError("tuning needs Optuna: pip install -r requirements/training.txt") from exc
    return optuna


def check_has_validation(cfg: Config) -> None:
    """Trials are compared on validation speakers; refuse a split without them."""
    split = cfg.data.split
    has_val = split.val_folds > 0 if split.protocol == "kfold" else bool(split.val_speakers)
    if not has_val:
        raise TuneError("the config's split has no validation speakers (data.split.val_folds=0 or "
                        "no val_speakers): tuning selects on validation UAR, never on test")


def make_storage(url: str):
    """An RDB storage with a heartbeat: a trial whose process died (killed job, reboot) is marked
    failed when the search resumes, and retried once, instead of staying RUNNING forever."""
    optuna = _optuna()
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).expanduser().parent.mkdir(parents=True, exist_ok=True)
    retry = optuna.storages.RetryHeartbeatStaleTrialCallback  # Optuna >= 4.9
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.storages.RDBStorage(url, heartbeat_interval=60, grace_period=180,
                                          heartbeat_stale_trial_callback=retry(max_retry=1))


def make_pruner(spec: TuneSpec, max_epochs: int):
    optuna = _optuna()
    s = spec.study
    if s.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=s.startup_trials, n_warmup_steps=s.warmup_epochs)
    if s.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=max(1, s.warmup_epochs), max_resource=max_epochs)
    return optuna.pruners.NopPruner()


def open_study(spec: TuneSpec, storage: str, study_name: str, max_epochs: int):
    """Create the study or load it; the sampler's seed moves on with the number of trials already
    stored, so a resumed search does not replay the first search's random start-up points."""
    optuna = _optuna()
    study = optuna.create_study(storage=make_storage(storage), study_name=study_name,
                                direction=spec.study.direction, load_if_exists=True,
                                pruner=make_pruner(spec, max_epochs))
    done = len(study.trials)
    study.sampler = optuna.samplers.TPESampler(seed=spec.study.sampler_seed + done,
                                               n_startup_trials=spec.study.startup_trials)
    if done:
        log.info("resuming study %r: %d trial(s) stored, best so far %s", study_name, done,
                 _best_text(study))
    study.set_user_attr("tune_spec", spec.name)
    return study


def _best_text(study) -> str:
    try:
        return f"{study.best_value:.4f} (trial {study.best_trial.number})"
    except ValueError:  # no completed trial yet
        return "none"


class Objective:
    """One trial = one training run, reporting validation UAR after every epoch."""

    def __init__(self, spec: TuneSpec, output: Path, overrides: Sequence[str],
                 values: dict[str, Any], show_progress: bool) -> None:
        self.spec, self.output, self.overrides, self.values = spec, output, overrides, values
        self.show_progress = show_progress

    def __call__(self, trial) -> float:
        optuna = _optuna()
        params = {p.key: p.suggest(trial) for p in self.spec.space}
        run_dir = self.output / f"trial-{trial.number:03d}"
        cfg = self.spec.trial_config(params, self.overrides,
                                     {**self.values, "train.output": str(run_dir)})
        trial.set_user_attr("run", str(run_dir))
        best, pruned_at = -math.inf, None

        def on_epoch(epoch: int, stats: dict[str, float]) -> bool:
            nonlocal best, pruned_at
            uar = float(stats["val_uar"])
            best = max(best, uar)
            trial.report(uar, epoch)
            if epoch + 1 < cfg.train.epochs and trial.should_prune():
                pruned_at = epoch  # a trial that ran all its epochs completes, whatever it scored
            return pruned_at is not None

        log.info("trial %d: %s", trial.number, ", ".join(f"{k}={v:.4g}" if isinstance(v, float)
                                                          else f"{k}={v}" for k, v in params.items()))
        train(cfg, show_progress=self.show_progress, on_epoch=on_epoch)
        if pruned_at is not None:
            for ckpt in run_dir.glob("*.pt"):  # a pruned run is never deployed: free the disk
                ckpt.unlink()
            raise optuna.TrialPruned(f"epoch {pruned_at}: val UAR below the earlier trials' median")
        return best


def best_config(spec: TuneSpec, study, overrides: Sequence[str], values: dict[str, Any],
                output: Path) -> Config:
    """The base config with the best trial's values: a complete training config."""
    cfg = spec.trial_config(study.best_params, overrides,
                            {**values, "train.output": str(output / "best-run")})
    cfg.audio.norm_mean = cfg.audio.norm_std = None  # recomputed on each run's own training split
    return cfg


def write_results(spec: TuneSpec, study, storage: str, overrides: Sequence[str],
                  values: dict[str, Any], output: Path) -> Path:
    """``best.yaml`` (training config with a provenance header) and ``study.json`` (every trial)."""
    optuna = _optuna()
    output.mkdir(parents=True, exist_ok=True)
    trials = [{"number": t.number, "state": t.state.name, "value": t.value, "params": t.params,
               "val_uar_per_epoch": {str(k): v for k, v in sorted(t.intermediate_values.items())},
               "run": t.user_attrs.get("run")} for t in study.trials]
    (output / "study.json").write_text(json.dumps(
        {"study": study.study_name, "storage": storage, "direction": spec.study.direction,
         "objective": "best validation UAR (clip level) of the trial", "trials": trials}, indent=1))
    states = {s.name: sum(t.state == s for t in study.trials) for s in optuna.trial.TrialState}
    best = study.best_trial
    header = (f"# Best trial of Optuna study {study.study_name!r} ({storage}): trial {best.number}, "
              f"validation UAR {best.value:.4f}.\n"
              f"# Searched ({spec.name}): {', '.join(p.key for p in spec.space)}; trials: "
              + ", ".join(f"{n} {k.lower()}" for k, n in states.items() if n) + ".\n"
              f"# Use it like any config: python -m emotion_training.chain -c {output / 'best.yaml'} --output runs/X\n")
    cfg = best_config(spec, study, overrides, values, output)
    path = output / "best.yaml"
    path.write_text(header + yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    return path


def tune(spec: TuneSpec, output: Path, storage: Optional[str] = None, study_name: Optional[str] = None,
         trials: int = 20, timeout: Optional[float] = None, overrides: Sequence[str] = (),
         values: Optional[dict[str, Any]] = None, show_progress: bool = True) -> dict[str, Any]:
    """Run ``trials`` more trials of the study (created or resumed) and write the best config."""
    optuna = _optuna()
    values = dict(values or {})
    storage = storage or f"sqlite:///{output / 'tune.db'}"
    study_name = study_name or spec.name
    base = spec.base_config(overrides, values)
    check_has_validation(base)
    prepare(base)  # once, shared by every trial (the search never changes the prepared windows)
    study = open_study(spec, storage, study_name, base.train.epochs)
    optuna.logging.set_verbosity(optuna.logging.INFO if show_progress else optuna.logging.WARNING)
    bar = show_progress and os.environ.get("EMOTION_NO_PROGRESS") != "1"
    study.optimize(Objective(spec, output, overrides, values, show_progress=False),
                   n_trials=trials, timeout=timeout, show_progress_bar=bar, gc_after_trial=True)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        raise TuneError(f"study {study_name!r} has no completed trial yet (all pruned or failed)")
    best_yaml = write_results(spec, study, storage, overrides, values, output)
    log.info("study %r: %d trial(s), best %s -> %s", study_name, len(study.trials),
             _best_text(study), best_yaml)
    return {"study": study_name, "storage": storage, "trials": len(study.trials),
            "best_value": study.best_value, "best_params": study.best_params,
            "best_trial": study.best_trial.number, "best_yaml": str(best_yaml)}


def main(argv: Optional[list[str]] = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", "-c", type=Path, required=True, help="tune YAML (training/configs/tune_*.yaml)")
    parser.add_argument("--output", type=Path, required=True, help="folder of the trial runs and best.yaml")
    parser.add_argument("--data-root", help="dataset folder (data.root of the base config)")
    parser.add_argument("--storage", help="Optuna storage URL (default sqlite:///<output>/tune.db)")
    parser.add_argument("--study-name", help="study to create or resume (default: the tune file's name)")
    parser.add_argument("--trials", type=int, default=20, help="trials to add in this invocation")
    parser.add_argument("--timeout", type=float, help="stop starting trials after this many seconds")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a base-config value for every trial (repeatable)")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    setup_logging()
    try:
        spec = load_tune_spec(args.config)
    except ConfigError as exc:
        parser.error(str(exc))
    values = {"data.root": args.data_root} if args.data_root else {}
    return tune(spec, args.output, args.storage, args.study_name, args.trials, args.timeout,
                args.overrides, values, not args.no_progress)


if __name__ == "__main__":
    main()
