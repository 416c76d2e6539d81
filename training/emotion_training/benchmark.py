"""Training throughput and inference latency of model profiles, side by side (eager PyTorch).

    python training/benchmark.py                      # the RAVDESS profiles, CPU
    python training/benchmark.py --device cuda --configs training/configs/*.yaml

Prints one column per profile: training samples/s and ms per step (forward + backward + AdamW
step at the profile's batch, or ``--batch``), and inference ms per sample at batch 1 (one face
per call, as on the robot). Inputs are random tensors of each profile's contract shapes, so the
numbers measure the model, not the data pipeline (the training progress bar and run summary
give the end-to-end figure). Random init: no weights are read or downloaded.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any, Optional, Sequence

import torch

from .config import load_config
from .engine import fusion_loss
from .models import create_model

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIGS = (ROOT / "configs" / "ravdess_face_expression_net.yaml",
                   ROOT / "configs" / "ravdess_mobilenetv3.yaml",
                   ROOT / "configs" / "ravdess_efficientnet_b0.yaml")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_profile(config: str | Path, device: torch.device, batch: int = 8, steps: int = 5,
                  warmup: int = 2, runs: int = 20) -> dict[str, Any]:
    """One profile's training throughput and inference latency (``batch`` 0: the config's)."""
    cfg = load_config(config, ["model.weights=null", "model.backbone_checkpoint=null"])
    batch = batch or cfg.train.batch_size
    spec = cfg.audio.spec(normalised=False)
    model = create_model(cfg.model, spec.n_mels, 8).to(device)
    params = sum(p.numel() for p in model.parameters())

    def inputs(n: int) -> tuple[torch.Tensor, ...]:
        return (torch.randn(n, 3, cfg.face.size, cfg.face.size, device=device),
                torch.randn(n, 1, spec.n_mels, spec.frames, device=device),
                torch.ones(n, 2, device=device))

    face, audio, mask = inputs(batch)
    labels = torch.randint(0, 8, (batch,), device=device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    model.train()
    for i in range(warmup + steps):
        if i == warmup:
            _sync(device)
            tic = time.perf_counter()
        out = model(face, audio, mask)
        loss = fusion_loss(out, labels, mask, 0.5, 0.0)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    _sync(device)
    train_s = time.perf_counter() - tic
    train_sps = batch * steps / train_s

    model.eval()
    one = inputs(1)
    times = []
    with torch.inference_mode():
        for i in range(warmup + runs):
            _sync(device)
            tic = time.perf_counter()
            model(*one)
            _sync(device)
            if i >= warmup:
                times.append(time.perf_counter() - tic)
    times.sort()
    return {"profile": cfg.name, "backbone": cfg.model.backbone, "face_px": cfg.face.size,
            "audio": f"{spec.n_mels}x{spec.frames}", "params_m": params / 1e6,
            "train_samples_per_s": train_sps, "train_ms_per_step": 1e3 * train_s / steps,
            "train_batch": batch,
            "infer_ms_per_sample_p50": 1e3 * times[len(times) // 2],
            "infer_ms_per_sample_mean": 1e3 * sum(times) / len(times)}


def run(configs: Sequence[str | Path] = DEFAULT_CONFIGS, device: str = "cpu", threads: int = 0,
        **kwargs: Any) -> list[dict[str, Any]]:
    if threads > 0:
        torch.set_num_threads(threads)
    dev = torch.device(device)
    return [bench_profile(c, dev, **kwargs) for c in configs]


#: Rows of the side-by-side table: (label, row key, format).
TABLE_ROWS = (("backbone", "backbone", "{}"), ("face px", "face_px", "{}"),
              ("audio (mels x frames)", "audio", "{}"), ("parameters (M)", "params_m", "{:.2f}"),
              ("train batch", "train_batch", "{}"),
              ("**train samples/s**", "train_samples_per_s", "{:.1f}"),
              ("**train ms per step**", "train_ms_per_step", "{:.0f}"),
              ("infer ms/sample, batch 1 (p50)", "infer_ms_per_sample_p50", "{:.1f}"))


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """Markdown table with one column per profile, so the profiles read side by side."""
    lines = ["| | " + " | ".join(r["profile"] for r in rows) + " |",
             "|---|" + "---|" * len(rows)]
    for label, key, fmt in TABLE_ROWS:
        lines.append(f"| {label} | " + " | ".join(fmt.format(r[key]) for r in rows) + " |")
    return "\n".join(lines)


def main(argv: Optional[list[str]] = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=[str(c) for c in DEFAULT_CONFIGS])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    parser.add_argument("--batch", type=int, default=0, help="training batch (0: each config's)")
    parser.add_argument("--steps", type=int, default=5, help="timed training steps")
    parser.add_argument("--runs", type=int, default=20, help="timed inference calls")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON")
    args = parser.parse_args(argv)
    rows = run(args.configs, args.device, args.threads, batch=args.batch, steps=args.steps, runs=args.runs)
    name = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "CPU"
    print(f"device {args.device} ({name}), torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(format_table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return rows


if __name__ == "__main__":
    main()
