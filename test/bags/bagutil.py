"""Helpers shared by the bag tests."""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def eval_config(bags, out: Path, model: Path, **kw):
    """Evaluation through the desktop profile, pinned to the sample model, the Haar detector and
    the energy VAD."""
    from emotion_recorded.evaluate import EvalConfig

    overrides = kw.pop("node_overrides", {})
    kw.setdefault("startup_timeout_s", 120.0)  # two node processes on a busy 2-core machine
    # The generated clips' synthetic voice is a harmonic tone, which Silero rightly does not take
    # for speech: the energy VAD keeps these tests about the replay, not about the VAD.
    emotion = {"detector": "haar", "intra_op_threads": 1, "vad": "energy", **overrides.pop("emotion_node", {})}
    return EvalConfig(bags=list(bags), out_dir=out, model=model, params_file=ROOT / "config" / "desktop_cpu.yaml",
                      node_overrides={"emotion_node": emotion, **overrides}, **kw)
