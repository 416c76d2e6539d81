"""A first documented run, offline, whose reports cannot mislead (issue 14): the chain runs
with no network, says what data it uses, refuses bad configs and absent weights before any
preparation with one actionable line, counts clips without a prediction in their own column,
reports throughput, and says where no face was found."""
from __future__ import annotations

import json
import logging
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from emotion_training.chain import main as chain_main
from emotion_training.config import ConfigError, load_config
from emotion_training.datasets import ScanReport, scan_ravdess
from emotion_training.evaluate import evaluate
from emotion_training.metrics import score_with_missing
from emotion_training.models import create_backbone
from emotion_training.preflight import check_run
from emotion_training.prepare import prepare
from emotion_training.synthetic import make_ravdess, write_video

from .conftest import ROOT, TINY_CONFIG, offline_env

CONFIGS = ROOT / "training" / "configs"
FACE_CONFIG = CONFIGS / "synthetic_face_expression_net.yaml"
LABELS = ("neutral", "calm", "happy")


# -- offline first ---------------------------------------------------------------------------

def test_the_network_guard_refuses_and_records(tmp_path):
    """The guard the offline chain runs under really stops a download (else the test proves nothing)."""
    env, log = offline_env(tmp_path)
    code = "import urllib.request; urllib.request.urlopen('https://download.pytorch.org/models/x.pth', timeout=5)"
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "refused by the offline test" in proc.stderr
    assert "download.pytorch.org" in log.read_text()


def test_documented_chain_runs_offline_and_says_what_it_uses(chain_run):
    run, summary = chain_run  # the fixture already failed if any connection was attempted
    log = summary["_log"]
    assert "48 takes found, 48 used, 0 skipped" in log
    assert "split by speaker, fold 0: train 32 clips from 4 speakers" in log
    for branch in ("fused", "face_only", "voice_only"):
        line = next(x for x in log.splitlines() if f"test {branch}: accuracy" in x)
        assert "coverage 1.000 (8 of 8 clips predicted, 0 in the 'no prediction' column)" in line
    assert "samples/s" in log and summary["train_samples_per_s"] > 0
    assert summary["wall_s"] > 0
    assert set(summary["branches_mean"]) == {"fused", "face_only", "voice_only"}
    history = json.loads((run / "history.json").read_text())
    assert all(h["samples_per_s"] > 0 and h["step_ms"] > 0 for h in history)


def _face_api_cache() -> Path:
    from emotion_training.face_api.backbone import default_cache
    from emotion_training.face_api.package import TARBALL

    cache = default_cache()
    if not (cache / TARBALL).is_file():
        pytest.fail(f"{cache / TARBALL} is missing: run scripts/setup.sh (it fetches face-api with npm)",
                    pytrace=False)
    return cache


def _no_network(monkeypatch) -> list:
    """Refuse (and record) every outward connection and lookup within this process."""
    attempts: list = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network access refused by the test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    return attempts


def test_face_pretrained_default_builds_offline(tmp_path, monkeypatch):
    _face_api_cache()
    attempts = _no_network(monkeypatch)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-torch-home"))
    cfg = load_config(FACE_CONFIG, [], {"data": {"root": str(tmp_path)}})
    check_run(cfg)
    from emotion_training.face_api.torch_model import load_face_api_weights
    from emotion_training.models import create_model

    model = create_model(cfg.model, cfg.audio.n_mels, 8)
    reference = load_face_api_weights(_face_api_cache()).backbone.state_dict()
    ours = model.image.backbone.state_dict()
    assert all(torch.equal(ours[k], reference[k]) for k in reference)
    assert not attempts


@pytest.mark.parametrize("path", sorted(p for p in CONFIGS.glob("*.yaml") if not p.name.startswith("tune_")),
                         ids=lambda p: p.stem)
def test_every_shipped_config_runs_offline_or_says_how(path, tmp_path, monkeypatch):
    """Offline with an empty torch hub cache: a config either passes every check or stops with
    the one line that names the file, where it looked, how to provide it, and how to go on."""
    _face_api_cache()
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    cfg = load_config(path, [], {"data": {"root": str(tmp_path), "manifest": None}})
    if cfg.data.dataset == "manifest":
        (tmp_path / "manifest.csv").write_text("video,audio,label,speaker\n")
    try:
        check_run(cfg)
    except ConfigError as exc:
        message = str(exc)
        assert cfg.model.weights and cfg.model.backbone != "face_expression_net", message
        assert "\n" not in message
        assert str(tmp_path / "torch-home" / "hub" / "checkpoints") in message
        assert ".pth" in message and "--set model.weights=/path/to/" in message
        assert "--set model.weights=null" in message
    else:  # offline-capable: random init, or the face-pretrained backbone from the npm cache
        assert not cfg.model.weights or cfg.model.backbone == "face_expression_net"
    # What the README recommends for each goal must be among the offline ones.
    if path.stem in ("ravdess_face_expression_net", "cremad_face_expression_net",
                     "manifest_ekman7", "synthetic_tiny", "synthetic_face_expression_net"):
        check_run(cfg)


def _chain_error(capsys, args: list[str]) -> str:
    with pytest.raises(SystemExit) as info:
        chain_main(args)
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    return err


@pytest.fixture()
def small_tree(tmp_path_factory) -> Path:
    return make_ravdess(tmp_path_factory.mktemp("small"), actors=(1, 2), emotions=(1, 3),
                        statements=(1,), seconds=1.0, sample_rate=16000)


def _nothing_prepared(tree: Path, out: Path) -> None:
    assert not (tree / ".emotion_cache").exists() and not out.exists()


def test_missing_imagenet_weights_stop_before_preparation(small_tree, tmp_path, capsys, monkeypatch):
    attempts = _no_network(monkeypatch)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    out = tmp_path / "run"
    err = _chain_error(capsys, ["-c", str(CONFIGS / "ravdess_mobilenetv3.yaml"), "--data-root",
                                str(small_tree), "--output", str(out)])
    assert "mobilenet_v3_large-" in err and ".pth" in err
    assert str(tmp_path / "torch-home" / "hub" / "checkpoints") in err
    assert "--set model.weights=null" in err and "--set model.weights=/path/to/" in err
    assert "model.allow_download=true" in err
    _nothing_prepared(small_tree, out)
    assert not attempts


def test_weights_from_a_local_file_or_the_hub_cache_never_touch_the_network(tmp_path, monkeypatch):
    from torchvision.models import mobilenet_v3_small

    from emotion_training.models.backbones import torchvision_weights_file

    attempts = _no_network(monkeypatch)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    source = mobilenet_v3_small()  # a stand-in for the ImageNet file: a full classifier state dict
    local = tmp_path / "my-weights.pth"
    torch.save(source.state_dict(), local)
    expected = source.features.state_dict()
    by_path = create_backbone("mobilenet_v3_small", weights=str(local))
    assert all(torch.equal(by_path.features.state_dict()[k], v) for k, v in expected.items())
    cached, url = torchvision_weights_file("mobilenet_v3_small", "IMAGENET1K_V1")
    cached.parent.mkdir(parents=True)
    shutil.copy(local, cached)
    by_name = create_backbone("mobilenet_v3_small", weights="IMAGENET1K_V1")
    assert all(torch.equal(by_name.features.state_dict()[k], v) for k, v in expected.items())
    assert url.endswith(cached.name) and not attempts


def test_misspelt_backbone_stops_before_preparation(small_tree, tmp_path, capsys):
    out = tmp_path / "run"
    err = _chain_error(capsys, ["-c", str(TINY_CONFIG), "--data-root", str(small_tree), "--output", str(out),
                                "--set", "model.backbone=mobilenet_v3_smal"])
    assert "model.backbone 'mobilenet_v3_smal'" in err and "did you mean 'mobilenet_v3_small'" in err
    for name in ("efficientnet_b0", "face_expression_net", "mobilenet_v3_large", "mobilenet_v3_small"):
        assert name in err
    _nothing_prepared(small_tree, out)


def test_typo_keys_stop_before_preparation(small_tree, tmp_path, capsys):
    out = tmp_path / "run"
    err = _chain_error(capsys, ["-c", str(TINY_CONFIG), "--data-root", str(small_tree), "--output", str(out),
                                "--set", "train.epoch=3"])
    assert "unknown key(s) 'epoch' (did you mean 'epochs'?) in train" in err and "'batch_size'" in err
    typo = tmp_path / "typo.yaml"
    typo.write_text(TINY_CONFIG.read_text().replace("model:", "modle:"))
    err = _chain_error(capsys, ["-c", str(typo), "--data-root", str(small_tree), "--output", str(out)])
    assert "'modle' (did you mean 'model'?)" in err
    _nothing_prepared(small_tree, out)


@pytest.mark.parametrize("override, expected", [
    ("data.label_set=ekman", "data.label_set 'ekman' is not a valid choice (did you mean 'ekman7'?); "
                             "valid: ['cremad6', 'ekman7', 'ravdess8']"),
    ("data.ravdess_channel=songs", "valid: ['speech', 'song', 'all']"),
    ("data.split.fold=6", "data.split.fold 6 is out of range: must be >= 0 and <= 5"),
    ("train.lr=-1", "train.lr -1.0 is out of range: must be > 0"),
    ("train.lr=fast", "train.lr: expected float, got 'fast'"),
    ("augment.snr_db=[30, 5]", "augment.snr_db [30.0, 5.0] must be [low, high]"),
    ("data.face_fallback=middle", "valid: ['none', 'centre']"),
    ("model.backbone=face_expression_net", None),  # random init: any normalisation is allowed
])
def test_values_are_checked_with_the_valid_choices(override, expected):
    if expected is None:
        assert load_config(TINY_CONFIG, [override]).model.backbone == "face_expression_net"
        return
    with pytest.raises(ConfigError) as info:
        load_config(TINY_CONFIG, [override])
    assert expected in str(info.value)


def test_face_pretrained_weights_need_their_normalisation():
    with pytest.raises(ConfigError, match=r"face.std=\[255.0, 255.0, 255.0\]"):
        load_config(TINY_CONFIG, ["model.backbone=face_expression_net", "model.weights=DEFAULT"])


def test_missing_data_folder_is_one_line(tmp_path, capsys):
    err = _chain_error(capsys, ["-c", str(TINY_CONFIG), "--data-root", str(tmp_path / "nowhere"),
                                "--output", str(tmp_path / "run")])
    assert "is not a folder" in err and "--data-root" in err


# -- what is used -----------------------------------------------------------------------------

def test_song_takes_are_counted_and_can_be_included(tmp_path):
    root = make_ravdess(tmp_path / "rav", actors=(1, 2), emotions=(1, 3), statements=(1,),
                        seconds=0.5, sample_rate=16000, channels=(1, 2))
    (root / "Actor_01" / "README.mp4").write_bytes(b"")  # a name that does not parse
    report = ScanReport("RAVDESS")
    speech = scan_ravdess(root, report=report)
    assert len(speech) == 4 and report.takes == 8 and report.used == 4 and report.files == 17
    lines = "\n".join(report.lines())
    assert "skipped     4: song takes (data.ravdess_channel=speech; 'all' uses speech and song)" in lines
    assert "skipped     1: unparsable file names" in lines
    both = ScanReport("RAVDESS")
    assert len(scan_ravdess(root, channel="all", report=both)) == 8 and not both.skipped.get("song")
    assert {r.meta["channel"] for r in scan_ravdess(root, channel="song")} == {"song"}


def test_prepare_reports_takes_without_a_face_per_actor_and_the_centre_fallback(tmp_path, caplog):
    root = make_ravdess(tmp_path / "rav", actors=(1, 2), emotions=(1, 3), statements=(1,),
                        seconds=1.0, sample_rate=16000)
    # Actor 02's neutral take: a grey field with no face in it.
    write_video(root / "Actor_02" / "01-01-01-01-01-01-02.mp4", [np.full((120, 160, 3), 90, np.uint8)] * 15,
                "mp4v")
    overrides = [f"data.cache_dir={tmp_path / 'cache'}", "data.split.folds=2", "data.split.val_folds=0"]
    cfg = load_config(TINY_CONFIG, overrides, {"data": {"root": str(root)}})
    with caplog.at_level(logging.INFO, logger="emotion_training.prepare"):
        index = json.loads((prepare(cfg) / "index.json").read_text())
    assert index["no_face"]["takes_without_face"] == 1 and index["no_face"]["by_speaker"] == {"02": 1}
    assert index["scan"]["used"] == 4
    text = caplog.text
    assert "no face detected in 1 of 4 takes (per speaker: 02: 1)" in text
    assert "--set data.face_fallback=centre" in text
    assert "4 takes found, 4 used, 0 skipped" in text

    centre = load_config(TINY_CONFIG, overrides + ["data.face_fallback=centre"], {"data": {"root": str(root)}})
    cache = prepare(centre)
    index = json.loads((cache / "index.json").read_text())
    assert index["no_face"]["windows_centre_crop"] == index["no_face"]["windows_without_face"] == 1
    faceless = next(r for r in scan_ravdess(root) if r.speaker == "02" and r.label == 0)
    with np.load(cache / "clips" / f"{faceless.clip_id}.npz") as clip:
        assert clip["face_found"].all() and clip["face_fallback"].all()
        assert abs(float(clip["faces"].mean()) - 90) < 3  # the grey centre, not zeros


# -- reports that cannot mislead --------------------------------------------------------------

def test_no_prediction_is_its_own_column():
    m = score_with_missing([0, 0, 1, 2], [0, -1, -1, 1], LABELS)
    assert m["confusion_columns"] == [*LABELS, "no prediction"]
    assert m["confusion_matrix"] == [[1, 0, 0, 1], [0, 0, 0, 1], [0, 1, 0, 0]]
    assert m["coverage"] == pytest.approx(0.5) and m["without_prediction"] == 2
    assert m["per_class"]["calm"] == pytest.approx(
        {"recall": 0.0, "precision": 0.0, "f1": 0.0, "support": 1, "no_prediction": 1})
    assert m["per_class"]["neutral"]["precision"] == 1.0  # a missing answer is nobody's prediction
    assert m["accuracy"] == pytest.approx(0.25)


def test_a_branch_without_any_face_shows_a_full_no_prediction_column(chain_run, tmp_path):
    """The misleading plot of the issue: a face branch that saw no face in any test clip used to
    draw a shifted diagonal. Here the same checkpoint is evaluated on the same clips with every
    face flag cleared: face only answers nothing and says so."""
    run, _ = chain_run
    ckpt = torch.load(run / "best.pt", weights_only=False)
    prepared = Path(ckpt["config"]["data"]["root"]) / ".emotion_cache"
    data_root = tmp_path / "faceless"
    shutil.copytree(prepared, data_root / ".emotion_cache")
    for npz in (data_root / ".emotion_cache").glob("*/clips/*.npz"):
        with np.load(npz) as clip:
            arrays = {k: clip[k] for k in clip.files}
        arrays["face_found"][:] = False
        np.savez(npz, **arrays)
    report = evaluate(run / "best.pt", data_root=str(data_root), out_dir=tmp_path / "eval",
                      show_progress=False)
    face = report["results"]["face_only"]
    n = len(report["labels"])
    cm = np.array(face["confusion_matrix"])
    assert cm.shape == (n, n + 1) and face["confusion_columns"][-1] == "no prediction"
    assert cm[:, :n].sum() == 0 and cm[:, n].sum() == report["clips"] == face["without_prediction"]
    assert face["coverage"] == 0.0 and face["accuracy"] == 0.0
    assert report["results"]["voice_only"]["coverage"] == 1.0
    assert (tmp_path / "eval" / "confusion_face_only.png").read_bytes()[:4] == b"\x89PNG"


# -- throughput -------------------------------------------------------------------------------

def test_progress_bar_shows_samples_per_second(monkeypatch, capsys):
    pytest.importorskip("tqdm")
    from emotion_training.engine import train_one_epoch, warmup_cosine
    from emotion_training.models import create_model

    monkeypatch.delenv("EMOTION_NO_PROGRESS", raising=False)
    cfg = load_config(TINY_CONFIG)
    spec = cfg.audio.spec(normalised=False)
    model = create_model(cfg.model, spec.n_mels, 3)
    batches = [{"face": torch.randn(4, 3, 48, 48), "audio": torch.randn(4, 1, spec.n_mels, spec.frames),
                "mask": torch.ones(4, 2), "label": torch.randint(0, 3, (4,))} for _ in range(3)]
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    stats = train_one_epoch(model, batches, optimizer, warmup_cosine(optimizer, 1, 3),
                            torch.device("cpu"), cfg.train, show_progress=True)
    assert stats["train_samples"] == 12 and stats["samples_per_s"] > 0 and stats["step_ms"] > 0
    assert "samples/s=" in capsys.readouterr().err


def test_benchmark_prints_profiles_side_by_side():
    from emotion_training.benchmark import format_table, run

    rows = run([TINY_CONFIG, FACE_CONFIG], "cpu", batch=2, steps=1, warmup=1, runs=2)
    table = format_table(rows)
    head, rule, *body = table.splitlines()
    assert head == "| | synthetic-tiny | synthetic-face-expression-net |"
    samples = next(line for line in body if "train samples/s" in line)
    step = next(line for line in body if "train ms per step" in line)
    assert all(float(x) > 0 for x in samples.strip("|").split("|")[1:])
    assert all(float(x) > 0 for x in step.strip("|").split("|")[1:])
    assert rows[1]["backbone"] == "face_expression_net"


def test_benchmark_script_runs_without_weights(tmp_path):
    env, log = offline_env(tmp_path)
    proc = subprocess.run([sys.executable, str(ROOT / "training" / "benchmark.py"), "--configs",
                           str(TINY_CONFIG), "--batch", "2", "--steps", "1", "--runs", "2"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "train samples/s" in proc.stdout and not log.exists()
