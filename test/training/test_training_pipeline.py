"""The chain on a generated RAVDESS: training learns, resume resumes, evaluation reports, and the
exported ONNX is accepted by the robot's loader and agrees with PyTorch."""
from __future__ import annotations

import json

import numpy as np
import torch

from emotion_core.backends import load_model
from emotion_core.contract import read_contract
from emotion_training.checkpoint import load_checkpoint
from emotion_training.train import main as train_main


def test_training_drives_the_loss_down_and_learns_the_signal(chain_run):
    run, summary = chain_run
    history = json.loads((run / "history.json").read_text())
    assert history[-1]["train_loss"] < 0.7 * history[0]["train_loss"]
    assert max(h["val_uar"] for h in history) >= 0.9
    fold = summary["folds"][0]
    assert fold["pytorch"]["accuracy"] >= 0.85, fold
    assert fold["ablation"]["voice_only"] >= 0.85, fold
    # The robot's backend scores the exported model like PyTorch does.
    assert abs(fold["onnxruntime"]["accuracy"] - fold["pytorch"]["accuracy"]) < 1e-6
    assert fold["onnx_max_abs_diff"] < 1e-3
    for name in ("config.yaml", "split.json", "best.pt", "last.pt", "curves.png"):
        assert (run / name).is_file(), name
    split = json.loads((run / "split.json").read_text())
    assert not set(split["train"]) & (set(split["val"]) | set(split["test"]))


def test_evaluation_writes_report_plots_and_ablation(chain_run):
    run, _ = chain_run
    report = json.loads((run / "eval-test" / "report.json").read_text())
    assert set(report["results"]) == {"fused", "face_only", "voice_only"}
    fused = report["results"]["fused"]
    for key in ("accuracy", "uar", "macro_f1", "weighted_f1", "per_class", "confusion_matrix"):
        assert key in fused
    assert set(fused["per_class"]) == set(report["labels"])
    assert report["face_detection_rate"] == 1.0
    assert report["results"]["voice_only"]["mean_fusion_weights"]["face"] < 1e-6
    for ablation in report["results"]:
        png = run / "eval-test" / f"confusion_{ablation}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_export_carries_the_training_contract(chain_run):
    run, _ = chain_run
    ckpt = load_checkpoint(run / "best.pt")
    backend, contract = load_model(run / "model.onnx")
    assert contract.labels == tuple(ckpt["labels"])
    assert contract.audio.norm_mean == ckpt["config"]["audio"]["norm_mean"]
    assert contract.face.size == ckpt["config"]["face"]["size"]
    assert read_contract(run / "model.onnx") == contract
    out = backend.run({"face": np.zeros((3, 3, contract.face.size, contract.face.size), np.float32),
                       "audio": np.zeros((3, 1, contract.audio.n_mels, contract.audio.frames), np.float32),
                       "modality_mask": np.array([[0, 1], [1, 0], [1, 1]], np.float32)})
    assert out["logits"].shape == (3, len(contract.labels))
    np.testing.assert_allclose(out["fusion_weights"][0], [0, 1], atol=1e-6)


def test_resume_continues_from_the_saved_epoch(chain_run):
    run, _ = chain_run
    before = load_checkpoint(run / "last.pt")
    epochs = before["epoch"] + 2
    train_main(["--resume", str(run / "last.pt"), "--epochs", str(epochs), "--no-progress"])
    after = load_checkpoint(run / "last.pt")
    assert after["epoch"] == epochs - 1
    assert [h["epoch"] for h in after["history"]] == list(range(epochs))
    assert after["history"][: before["epoch"] + 1] == before["history"]
    assert after["scheduler"]["last_epoch"] > before["scheduler"]["last_epoch"]
    assert after["config"]["audio"]["norm_mean"] == before["config"]["audio"]["norm_mean"]
    assert any(not torch.equal(after["model"][k], before["model"][k]) for k in before["model"])
