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
import statistics
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


class ProfileBench:
    """One profile's model, optimizer and random inputs, timed in rounds (see ``run``)."""

    def __init__(self, config: str | Path, device: torch.device, batch: int = 0) -> None:
        cfg = load_config(config, ["model.weights=null", "model.backbone_checkpoint=null"])
        self.cfg, self.device = cfg, device
        self.batch = batch or cfg.train.batch_size
        self.spec = cfg.audio.spec(normalised=False)
        self.model = create_model(cfg.model, self.spec.n_mels, 8).to(device)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=1e-4)
        self.train_inputs = self._inputs(self.batch)
        self.labels = torch.randint(0, 8, (self.batch,), device=device)
        self.one = self._inputs(1)
        self.step_s: list[float] = []
        self.infer_s: list[float] = []

    def _inputs(self, n: int) -> tuple[torch.Tensor, ...]:
        size, spec, dev = self.cfg.face.size, self.spec, self.device
        return (torch.randn(n, 3, size, size, device=dev),
                torch.randn(n, 1, spec.n_mels, spec.frames, device=dev), torch.ones(n, 2, device=dev))

    def _step(self) -> None:
        self.model.train()
        out = self.model(*self.train_inputs)
        loss = fusion_loss(out, self.labels, self.train_inputs[2], 0.5, 0.0)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()

    def warm(self, steps: int) -> None:
        for _ in range(steps):
            self._step()
        self.model.eval()
        with torch.inference_mode():
            for _ in range(steps):
                self.model(*self.one)

    def time_round(self, steps: int, runs: int) -> None:
        """``steps`` training steps (their mean time kept) and ``runs`` single-sample inferences."""
        _sync(self.device)
        tic = time.perf_counter()
        for _ in range(steps):
            self._step()
        _sync(self.device)
        self.step_s.append((time.perf_counter() - tic) / steps)
        self.model.eval()
        with torch.inference_mode():
            for _ in range(runs):
                _sync(self.device)
                tic = time.perf_counter()
                self.model(*self.one)
                _sync(self.device)
                self.infer_s.append(time.perf_counter() - tic)

    def row(self) -> dict[str, Any]:
        """Medians over rounds: on a shared machine the load drifts, and rounds spread it."""
        step = statistics.median(self.step_s)
        infer = sorted(self.infer_s)
        cfg = self.cfg
        return {"profile": cfg.name, "backbone": cfg.model.backbone, "face_px": cfg.face.size,
                "audio": f"{self.spec.n_mels}x{self.spec.frames}",
                "params_m": sum(p.numel() for p in self.model.parameters()) / 1e6,
                "train_samples_per_s": self.batch / step, "train_ms_per_step": 1e3 * step,
                "train_batch": self.batch, "rounds": len(self.step_s),
                "infer_ms_per_sample_p50": 1e3 * infer[len(infer) // 2],
                "infer_ms_per_sample_mean": 1e3 * sum(infer) / len(infer)}


def bench_profile(config: str | Path, device: torch.device, batch: int = 0, steps: int = 5,
                  warmup: int = 2, runs: int = 20) -> dict[str, Any]:
    """One profile's training throughput and inference latency (``batch`` 0: the config's)."""
    bench = ProfileBench(config, device, batch)
    bench.warm(warmup)
    bench.time_round(steps, runs)
    return bench.row()


def run(configs: Sequence[str | Path] = DEFAULT_CONFIGS, device: str = "cpu", threads: int = 0,
        batch: int = 0, steps: int = 6, warmup: int = 2, runs: int = 30,
        rounds: int = 1) -> list[dict[str, Any]]:
    """Every profile, timed in ``rounds`` interleaved rounds (medians reported), so that load
    from other jobs drifting over a minute reaches every profile alike."""
    if threads > 0:
        torch.set_num_threads(threads)
    dev = torch.device(device)
    benches = [ProfileBench(c, dev, batch) for c in configs]
    for bench in benches:
        bench.warm(warmup)
    rounds = max(rounds, 1)
    for _ in range(rounds):
        for bench in benches:
            bench.time_round(max(1, steps // rounds), max(1, runs // rounds))
    return [b.row() for b in benches]


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
    parser.add_argument("--steps", type=int, default=6, help="timed training steps (over all rounds)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds (medians)")
    parser.add_argument("--runs", type=int, default=30, help="timed inference calls (over all rounds)")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON")
    args = parser.parse_args(argv)
    rows = run(args.configs, args.device, args.threads, batch=args.batch, steps=args.steps,
               runs=args.runs, rounds=args.rounds)
    name = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "CPU"
    print(f"device {args.device} ({name}), torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(format_table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return rows


if __name__ == "__main__":
    main()
