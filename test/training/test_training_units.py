"""Config, augmentation, metrics and model building blocks."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from emotion_training.augment import mix_at_snr, modality_dropout, spec_augment, time_shift
from emotion_training.config import ConfigError, load_config, parse_overrides
from emotion_training.metrics import classification_metrics
from emotion_training.models import (AudioBranch, create_backbone, create_model, list_backbones,
                                     register_backbone)

from .conftest import TINY_CONFIG


def test_config_layers_and_typos(tmp_path):
    cfg = load_config(TINY_CONFIG, ["train.lr=0.5", "model.audio.channels=[4, 8]"],
                      {"train": {"epochs": 9}})
    assert (cfg.train.lr, cfg.train.epochs, cfg.model.audio.channels) == (0.5, 9, [4, 8])
    assert cfg.model.backbone == "mobilenet_v3_small"  # from the YAML
    with pytest.raises(ConfigError, match="valid"):
        load_config(TINY_CONFIG, ["train.learning_rate=1"])
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_overrides(["train.lr"])
    saved = cfg.save(tmp_path / "config.yaml")
    assert load_config(saved) == cfg


def test_audio_norm_stats_are_required_for_the_contract():
    cfg = load_config(TINY_CONFIG)
    with pytest.raises(ConfigError, match="norm"):
        cfg.audio.spec()
    assert cfg.audio.spec(normalised=False).norm_std == 1.0


def test_noise_is_mixed_at_the_requested_snr():
    rng = np.random.default_rng(0)
    signal = np.sin(np.linspace(0, 400, 16000)).astype(np.float32)
    noise = rng.standard_normal(16000).astype(np.float32)
    mixed = mix_at_snr(signal, noise, 10.0)
    residual = mixed - signal
    snr = 10 * np.log10(np.mean(signal ** 2) / np.mean(residual ** 2))
    assert abs(snr - 10.0) < 1e-3


def test_shift_specaugment_and_modality_dropout():
    wave = np.arange(1, 11, dtype=np.float32)
    assert time_shift(wave, 3)[:3].tolist() == [0, 0, 0] and time_shift(wave, 3)[3] == 1
    assert time_shift(wave, -2)[-2:].tolist() == [0, 0]
    mel = spec_augment(np.ones((16, 50), np.float32), 4, 10, np.random.default_rng(1))
    assert mel.min() == 0.0 and mel.max() == 1.0
    rng = np.random.default_rng(0)
    draws = [modality_dropout([True, True], 1.0, rng) for _ in range(50)]
    assert all(sum(d) == 1 for d in draws) and {tuple(d) for d in draws} == {(True, False), (False, True)}
    assert modality_dropout([True, False], 1.0, rng) == [True, False]  # never blanks the last one


def test_metrics_on_a_known_confusion():
    labels = ["a", "b", "c"]
    m = classification_metrics([0, 0, 0, 0, 1, 1, 2, 2], [0, 0, 0, 1, 1, 0, 2, 2], labels)
    assert m["accuracy"] == pytest.approx(6 / 8)
    assert m["uar"] == pytest.approx((3 / 4 + 1 / 2 + 1) / 3)
    assert m["per_class"]["a"]["recall"] == pytest.approx(0.75)
    assert m["confusion_matrix"] == [[3, 1, 0], [1, 1, 0], [0, 0, 2]]
    assert 0 < m["macro_f1"] < m["weighted_f1"] + 0.2


def test_fusion_model_io_and_masked_weights():
    cfg = load_config(TINY_CONFIG)
    spec = cfg.audio.spec(normalised=False)
    model = create_model(cfg.model, spec.n_mels, 5).eval()
    face = torch.randn(3, 3, cfg.face.size, cfg.face.size)
    audio = torch.randn(3, 1, spec.n_mels, spec.frames)
    mask = torch.tensor([[1.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    out = model(face, audio, mask)
    assert out.logits.shape == out.face_logits.shape == out.audio_logits.shape == (3, 5)
    w = out.fusion_weights
    assert torch.allclose(w.sum(1), torch.ones(3))
    assert w[1, 1] < 1e-6 and w[2, 0] < 1e-6
    # An absent face cannot move the fused answer.
    out2 = model(torch.randn_like(face), audio, mask)
    assert torch.allclose(out.logits[2], out2.logits[2], atol=1e-5)


def test_audio_branch_runs_its_lstm_over_time():
    branch = AudioBranch(n_mels=32, channels=(4, 8), lstm_hidden=6)
    seen = {}
    branch.lstm.register_forward_hook(lambda m, i, o: seen.update(shape=i[0].shape))
    assert branch(torch.randn(2, 1, 32, 101)).shape == (2, 12)
    assert seen["shape"] == (2, 25, 8 * 8)  # 101 frames / 4 time steps, 8 channels x 8 bands


def test_backbone_registry_and_local_checkpoint(tmp_path):
    assert {"efficientnet_b0", "mobilenet_v3_small", "mobilenet_v3_large"} <= set(list_backbones())
    with pytest.raises(ValueError, match="available"):
        create_backbone("resnet9000")
    with pytest.raises(ValueError, match="available"):
        create_backbone("mobilenet_v3_small", weights="NOPE")

    @register_backbone("tiny_test_cnn")
    def tiny(weights=None):
        net = nn.Sequential(nn.Conv2d(3, 7, 3, stride=2))
        net.out_channels = 7
        return net

    assert create_backbone("tiny_test_cnn").out_channels == 7
    src = create_backbone("mobilenet_v3_small")
    torch.save({"state_dict": src.state_dict()}, tmp_path / "mnv3.pth")
    loaded = create_backbone("mobilenet_v3_small", checkpoint=tmp_path / "mnv3.pth")
    for a, b in zip(src.state_dict().values(), loaded.state_dict().values()):
        assert torch.equal(a, b)


def test_benchmark_reports_both_figures():
    from emotion_training.benchmark import format_table, run

    rows = run([TINY_CONFIG], "cpu", batch=2, steps=1, warmup=1, runs=2)
    assert rows[0]["train_samples_per_s"] > 0 and rows[0]["infer_ms_per_sample_p50"] > 0
    assert "mobilenet_v3_small" in format_table(rows)
