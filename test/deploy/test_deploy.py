"""One command from a checkpoint to the models the robot runs: ONNX checked against PyTorch, CPU
int8 that keeps the contract and the accuracy, engines skipped with the reason where no GPU is."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from emotion_core.backends import load_model, tensorrt_available
from emotion_core.contract import ContractError, read_contract
from emotion_training.artifacts import DeployError, require_same_contract
from emotion_training.checkpoint import model_from_checkpoint
from emotion_training.export import compare_with_torch, export_checkpoint
from emotion_training.quantize import QuantSettings, quantize_onnx

#: Largest |ONNX Runtime - PyTorch| allowed on any output (logits, per-branch logits, weights).
PARITY_TOL = 1e-4
#: Largest test accuracy int8 may lose on the generated data: one clip of the 8 test clips.
INT8_MAX_DROP = 0.125


def test_deploy_writes_onnx_int8_and_a_manifest(deployed, trained_run):
    run = trained_run.parent
    manifest = json.loads((run / "deploy.json").read_text())
    assert manifest == json.loads(json.dumps(deployed))
    kinds = {m["kind"].split(" (")[0]: m for m in manifest["models"]}
    assert Path(kinds["onnx fp32"]["file"]) == run / "model.onnx"
    assert Path(kinds["onnx int8"]["file"]) == run / "model.int8.onnx"
    assert kinds["onnx int8"]["node"] == {"model_path": str(run / "model.int8.onnx"), "backend": "onnxruntime"}
    assert manifest["parity_max_abs_diff"] < PARITY_TOL
    for precision in ("fp16", "int8"):
        row = kinds[f"tensorrt {precision}"]
        if tensorrt_available():
            assert Path(row["file"]).is_file() and Path(row["file"] + ".json").is_file()
        else:
            assert "TensorRT" in row["skipped"] and "GPU" in row["skipped"]


def test_onnxruntime_matches_pytorch_at_other_batch_sizes(deployed, trained_run):
    model, _, _ = model_from_checkpoint(torch.load(trained_run, weights_only=False))
    onnx = trained_run.with_name("model.onnx")
    contract = read_contract(onnx)
    for batch in (1, 7):
        diffs = compare_with_torch(model, onnx, contract, batch=batch)
        assert max(diffs.values()) < PARITY_TOL, (batch, diffs)


def test_int8_keeps_the_contract_and_the_accuracy(deployed, trained_run):
    onnx, int8 = trained_run.with_name("model.onnx"), trained_run.with_name("model.int8.onnx")
    fp32_contract = read_contract(onnx)
    contract = require_same_contract(int8, fp32_contract)
    assert "int8" in contract.provenance["quantization"]
    backend, loaded = load_model(int8, backend="onnxruntime")  # what emotion_node calls
    assert loaded.labels == fp32_contract.labels

    report = json.loads(int8.with_suffix(".quant.json").read_text())
    assert report["method"] == "static" and report["calibration_windows"] > 0
    assert report["part"] == "test"
    change = report["accuracy"]["change"]["fused"]["accuracy"]
    assert change >= -INT8_MAX_DROP, report["accuracy"]
    assert report["accuracy"]["int8"]["fused"]["accuracy"] >= 0.75
    assert report["mb"]["int8"] < 0.5 * report["mb"]["fp32"]
    assert set(report["speedup"]) == {"1", "8"} and all(v > 0 for v in report["speedup"].values())


def test_an_int8_model_that_lost_its_contract_is_refused(deployed, trained_run, tmp_path):
    import onnx

    proto = onnx.load(str(trained_run.with_name("model.int8.onnx")))
    del proto.metadata_props[:]
    bare = tmp_path / "bare.int8.onnx"
    onnx.save(proto, str(bare))
    with pytest.raises(DeployError, match="lost its model contract"):
        require_same_contract(bare, read_contract(trained_run.with_name("model.onnx")))
    with pytest.raises(ContractError, match="emotion_contract"):
        load_model(bare, backend="onnxruntime")


def test_dynamic_quantization_is_the_fallback_when_static_fails(deployed, trained_run, tmp_path):
    onnx = trained_run.with_name("model.onnx")
    wrong = {"not_an_input": np.zeros((4, 2), np.float32)}  # static calibration cannot feed this
    out = tmp_path / "fallback.int8.onnx"
    assert quantize_onnx(onnx, out, QuantSettings(mode="auto"), wrong) == "dynamic"
    contract = require_same_contract(out, read_contract(onnx))
    assert "dynamic" in contract.provenance["quantization"]
    fp32, _ = load_model(onnx, backend="onnxruntime")
    dyn, _ = load_model(out, backend="onnxruntime")
    rng = np.random.default_rng(0)
    c = contract
    feeds = {"face": rng.standard_normal((4, 3, c.face.size, c.face.size)).astype(np.float32),
             "audio": rng.standard_normal((4, 1, c.audio.n_mels, c.audio.frames)).astype(np.float32),
             "modality_mask": np.ones((4, 2), np.float32)}
    a, b = fp32.run(feeds)["fusion_weights"], dyn.run(feeds)["fusion_weights"]
    assert np.max(np.abs(a - b)) < 0.2
    with pytest.raises(DeployError, match="static quantization"):
        quantize_onnx(onnx, tmp_path / "s.onnx", QuantSettings(mode="static"), wrong)


def test_auto_mode_compares_static_with_dynamic_on_validation(deployed, trained_run, tmp_path):
    from emotion_training.quantize import quantize_checkpoint

    out = tmp_path / "auto.int8.onnx"
    # max_drop below zero: static "loses too much" whatever it scores, so dynamic is tried and
    # kept only if it loses strictly less validation accuracy.
    report = quantize_checkpoint(trained_run, trained_run.with_name("model.onnx"), out,
                                 QuantSettings(mode="auto", max_drop=-1.0), calib_count=32,
                                 show_progress=False)
    # The choice must follow the rule from the accuracies the evaluator wrote: dynamic only when
    # it loses strictly less validation accuracy than static.
    evals = tmp_path / "auto.int8.eval"
    acc = {tag: json.loads((evals / f"val-{tag}" / "report.json").read_text())["results"]["fused"]["accuracy"]
           for tag in ("fp32", "int8", "dynamic")}
    static_drop, dynamic_drop = acc["fp32"] - acc["int8"], acc["fp32"] - acc["dynamic"]
    expected = "dynamic" if dynamic_drop < static_drop else "static"
    assert report["method"] == expected, (acc, report["why"])
    assert report["why"] == ("static kept: dynamic was no better on validation" if expected == "static"
                             else f"static lost {static_drop:.3f} validation accuracy (> --max-drop)")
    assert not (tmp_path / "auto.int8.static.onnx").exists()
    require_same_contract(out, read_contract(trained_run.with_name("model.onnx")))


def test_a_checkpoint_without_config_is_refused_with_the_reason(trained_run, tmp_path, capsys):
    from emotion_training.deploy import main

    bare = tmp_path / "weights.pt"
    torch.save({"model": torch.load(trained_run, weights_only=False)["model"]}, bare)
    with pytest.raises(DeployError, match="no 'config'"):
        export_checkpoint(bare, tmp_path / "m.onnx")
    with pytest.raises(SystemExit) as exit_:
        main(["--checkpoint", str(bare), "--no-progress"])
    assert exit_.value.code == 2
    assert "bare state_dict cannot be deployed" in capsys.readouterr().err


@pytest.mark.skipif(tensorrt_available(), reason="TensorRT is present: the engine is built instead")
def test_build_engine_without_tensorrt_says_why(deployed, trained_run, capsys):
    from emotion_training.build_engine import main

    with pytest.raises(SystemExit) as exit_:
        main(["--onnx", str(trained_run.with_name("model.onnx")), "--precision", "int8",
              "--checkpoint", str(trained_run)])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "TensorRT" in err and "ONNX Runtime" in err


def test_benchmark_of_the_deployed_run_has_every_runtime_row(deployed, trained_run):
    from emotion_training.deploy_benchmark import RUNTIMES, run

    result = run(checkpoint=trained_run, batches=(1, 8), runs=2, warmup=1, show_progress=False)
    for runtime in RUNTIMES:
        assert f"| {runtime} |" in result["table"]
    (name, row), = result["rows"].items()
    assert all(row["ONNX Runtime int8"][b] > 0 for b in ("1", "8"))
    if not tensorrt_available():
        assert row["TensorRT FP16"]["1"] == "n/a (no GPU)"
    assert row["sizes_mb"]["ONNX int8"] < row["sizes_mb"]["ONNX fp32"]
