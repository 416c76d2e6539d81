"""The per-stage profile of scripts/bench_face_stack.py --people (where a frame's time goes with
N faces in view) runs end to end and its table adds up: the stages are disjoint parts of the
recognizer's total, the crowd clip's faces are all tracked, and a talking face is found. The
figures themselves are the benchmark's to report, not asserted here."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="module")
def bench(repo_root: Path):
    spec = importlib.util.spec_from_file_location("bench_face_stack", repo_root / "scripts" / "bench_face_stack.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_stage_profile_of_two_faces(bench, repo_root: Path, npm_cache: Path):
    from emotion_core.recognizer import STAGES

    runs, face_px = bench.stage_profiles(2, repo_root / "config" / "desktop_cpu_30hz.yaml",
                                         repo_root / "data" / "models", npm_cache, 4.0,
                                         {"this checkout": ("emotion_core", {})})
    run = runs["this checkout"]
    assert run.frames == 120 and face_px > 40
    assert set(run.stages) == set(STAGES) and all(len(v) == run.frames for v in run.stages.values())
    total = np.asarray(run.stages["total"])
    parts = sum(np.asarray(run.stages[k]) for k in STAGES if k != "total")
    assert (parts <= total + 1e-6).all() and (parts >= 0.8 * total).all()  # disjoint, little unaccounted
    assert np.mean(run.faces) == pytest.approx(2.0)
    assert np.mean(np.asarray(run.stages["detect"]) > 0) == pytest.approx(1 / 3, abs=0.02)  # every 3rd frame
    # two faces, each mouth at 10 Hz: about two thirds of a face per frame
    assert run.mouth_reads / run.frames == pytest.approx(2 * 10 / 30, abs=0.1)
    assert run.hits and np.mean(run.hits) >= 0.8
    rows = bench._stage_rows([run], [face_px])
    assert [r[0] for r in rows[:len(STAGES)]] == [bench.STAGE_LABELS[k] for k in STAGES]
