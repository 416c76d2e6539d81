"""Optuna search on the generated data: trials report validation UAR per epoch, the SQLite study
resumes and grows, and the best trial comes out as a training config that loads."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from emotion_training.config import ConfigError, load_config
from emotion_training.tune import TuneError, check_has_validation, tune
from emotion_training.tune_spec import load_tune_spec

optuna = pytest.importorskip("optuna")
TUNE_CONFIG = Path(__file__).resolve().parents[2] / "training" / "configs" / "tune_synthetic_tiny.yaml"


def test_search_resumes_in_the_same_study_and_writes_a_loadable_best_config(ravdess_root, tmp_path):
    spec = load_tune_spec(TUNE_CONFIG)
    storage = f"sqlite:///{tmp_path / 'db' / 'tune.db'}"
    common = dict(storage=storage, study_name="tiny", values={"data.root": str(ravdess_root)},
                  show_progress=False)
    first = tune(spec, tmp_path / "out", trials=1, **common)
    assert first["trials"] == 1
    again = tune(spec, tmp_path / "out", trials=1, **common)  # a second invocation: resume
    assert again["trials"] == 2

    study = optuna.load_study(study_name="tiny", storage=storage)
    assert len(study.trials) == 2
    for t in study.trials:  # validation UAR reported after every epoch (2 per trial)
        assert t.state == optuna.trial.TrialState.COMPLETE  # no pruning before startup_trials=2
        assert sorted(t.intermediate_values) == [0, 1]
        assert all(0 <= v <= 1 for v in t.intermediate_values.values())
        assert set(t.params) == {p.key for p in spec.space}
    assert study.trials[1].params != study.trials[0].params  # the resumed sampler moved on

    best_yaml = tmp_path / "out" / "best.yaml"
    assert "Best trial of Optuna study 'tiny'" in best_yaml.read_text()
    cfg = load_config(best_yaml)
    assert cfg.data.root == str(ravdess_root) and cfg.train.epochs == 2
    assert cfg.train.lr == pytest.approx(study.best_params["train.lr"])
    assert cfg.model.embed_dim == study.best_params["model.embed_dim"]
    assert cfg.augment.modality_dropout == pytest.approx(study.best_params["augment.modality_dropout"])
    assert cfg.audio.norm_mean is None  # recomputed from each run's own training split
    summary = json.loads((tmp_path / "out" / "study.json").read_text())
    assert [t["number"] for t in summary["trials"]] == [0, 1]


def test_a_split_without_validation_speakers_is_refused():
    cfg = load_tune_spec(TUNE_CONFIG).base_config(["data.split.val_folds=0"])
    with pytest.raises(TuneError, match="validation"):
        check_has_validation(cfg)


def test_a_search_space_key_that_is_not_a_config_key_is_refused(tmp_path):
    bad = tmp_path / "tune_bad.yaml"
    bad.write_text(f"base: {TUNE_CONFIG.parent / 'synthetic_tiny.yaml'}\n"
                   "space:\n  train.learning_rate: {low: 0.001, high: 0.01}\n")
    with pytest.raises(ConfigError, match="learning_rate"):
        load_tune_spec(bad)
    bad.write_text("base: synthetic_tiny.yaml\nspace:\n  train.lr: {low: 0.1, high: 0.01}\n")
    with pytest.raises(ConfigError, match="low"):
        load_tune_spec(bad)


def test_a_hopeless_trial_is_pruned_after_its_first_epoch_and_its_checkpoints_freed(monkeypatch, tmp_path):
    """The pruning wiring, with training replaced by a stub that reports a chosen UAR."""
    import emotion_training.tune as tune_module

    epochs_run: list[int] = []
    uar = {"value": 0.9}

    def fake_train(cfg, show_progress, on_epoch):
        run = Path(cfg.train.output)
        run.mkdir(parents=True)
        (run / "best.pt").write_bytes(b"weights")
        for epoch in range(cfg.train.epochs):
            epochs_run.append(epoch)
            if on_epoch(epoch, {"val_uar": uar["value"]}):
                break
        return run

    monkeypatch.setattr(tune_module, "train", fake_train)
    spec = load_tune_spec(TUNE_CONFIG)
    study = optuna.create_study(direction="maximize",
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=0))
    objective = tune_module.Objective(spec, tmp_path, ["train.epochs=4"], {}, show_progress=False)
    study.optimize(objective, n_trials=1)  # a good trial runs all 4 epochs
    uar["value"] = 0.1
    study.optimize(objective, n_trials=1)  # a bad one stops after epoch 0
    good, bad = study.trials
    assert good.state == optuna.trial.TrialState.COMPLETE and good.value == pytest.approx(0.9)
    assert bad.state == optuna.trial.TrialState.PRUNED
    assert epochs_run == [0, 1, 2, 3, 0]
    assert (tmp_path / "trial-000" / "best.pt").is_file()
    assert not (tmp_path / "trial-001" / "best.pt").exists()
