"""The default demo clip (data/demo/people.mp4, built by setup from face-api's demo photos) and
what the real recognizer makes of it: the recognizer emotion_node builds (build_from_params with
config/desktop_cpu.yaml and the default face model) runs over the encoded clip and its speech at
the profile's 10 Hz, each frame with the 2 s audio window av_sync_node pairs with it. Scored
against the ground truth written beside the clip: track ids never swap, and the speaking person
is the face marked speaking."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml

from emotion_core.tools.assets import build_assets
from emotion_core.tools.people_clip import read_truth

NS = 1_000_000_000
MATCH_IOU = 0.3  # as the demo-photo fixture scores detections


@pytest.fixture(scope="module")
def clip(repo_root: Path, npm_cache: Path) -> dict:
    paths = build_assets(repo_root / "data", npm_cache=npm_cache)
    truth = read_truth(paths["people_truth"])
    assert not truth.get("fallback"), "the face-api package is there: the people clip must be built"
    return {"paths": paths, "truth": truth}


def iou(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    ix = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = ix * iy
    return inter / float(aw * ah + bw * bh - inter)


def test_the_clip_has_three_people_crossing_and_two_speakers_taking_turns(clip):
    import cv2
    import soundfile as sf

    truth, paths = clip["truth"], clip["paths"]
    cap = cv2.VideoCapture(str(paths["people_video"]))
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    fps = cap.get(cv2.CAP_PROP_FPS)
    cap.release()
    assert (n, size, round(fps)) == (truth["n_frames"], (640, 480), 30) and 10 <= n / fps <= 15
    assert len(truth["frames"]) == n and len(truth["people"]) == 3
    assert {p["expression"] for p in truth["people"]} >= {"neutral", "happy"}
    assert truth["crossings"], "people must cross at least once"
    speakers = [f["speaking"] for f in truth["frames"]]
    turns = [s for i, s in enumerate(speakers) if s is not None and (i == 0 or speakers[i - 1] != s)]
    assert len(set(turns)) == 2 and len(turns) >= 3  # A, B, A: the speaker switches
    for f in truth["frames"]:  # only the speaker's jaw moves
        assert all(v == 0.0 for k, v in f["jaw"].items() if k != f["speaking"]), f
        assert all(0 <= x and 0 <= y and x + w <= 640 and y + h <= 480 for x, y, w, h in f["boxes"].values())
    speech, rate = sf.read(str(paths["people_audio"]), dtype="float32")
    assert rate == truth["sample_rate"] and abs(speech.size / rate - n / fps) < 0.05
    for turn in truth["turns"]:
        inside = speech[int(turn["start_s"] * rate):int(turn["end_s"] * rate)]
        assert np.sqrt(np.mean(inside ** 2)) > 0.01
    talking = np.zeros(speech.size, bool)
    for turn in truth["turns"]:
        talking[int(turn["start_s"] * rate):int(turn["end_s"] * rate)] = True
    assert np.abs(speech[~talking]).max() < 1e-3  # silence between turns


@dataclass
class Seen:
    t_s: float
    speaking: str | None  # truth
    faces: dict[int, tuple[str, float, float]]  # track id -> (truth person, IoU, speaking probability)


@pytest.fixture(scope="module", params=["desktop_cpu.yaml", "desktop_cpu_30hz.yaml"])
def run(clip, repo_root: Path, request) -> list[Seen]:
    """The clip through the recognizer of a profile at its rate: the default's 10 Hz (every
    third frame, detector on each), and the 30 Hz profile's every frame (detector on every
    third, each mouth read at 10 Hz, no landmark pass in the silences)."""
    import cv2
    import soundfile as sf

    from emotion_core.recognizer_settings import build_from_params

    profile = yaml.safe_load((repo_root / "config" / request.param).read_text())
    params = dict(profile["/**/emotion_node"]["ros__parameters"])
    params.update(model_path=str(repo_root / "data" / "models" / "face_expression.onnx"), intra_op_threads=1)
    window_s = float(profile["/**/av_sync_node"]["ros__parameters"]["window_s"])
    step = round(30 / params["frame_rate_hz"])
    rec, _ = build_from_params(params)
    assert rec.landmarker is not None and rec.tracker is not None
    truth = clip["truth"]
    speech, rate = sf.read(str(clip["paths"]["people_audio"]), dtype="float32")
    cap = cv2.VideoCapture(str(clip["paths"]["people_video"]))
    seen, i = [], 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        if i % step == 0:
            t = i / truth["fps"]
            window = speech[max(0, int((t - window_s) * rate)):int(t * rate)]
            result = rec.process_frame(frame, window, rate, 100 * NS + round(t * NS))
            boxes = truth["frames"][i]["boxes"]
            faces = {}
            for f in result.faces:
                b = f.recognition.face_box
                box = (b.x, b.y, b.w, b.h)
                who = max(boxes, key=lambda k: iou(box, boxes[k]))
                faces[f.track_id] = (who, iou(box, boxes[who]), f.speaking_probability)
            seen.append(Seen(t, truth["frames"][i]["speaking"], faces))
        i += 1
    cap.release()
    return seen


def test_track_ids_never_swap_on_the_demo_clip(run: list[Seen]):
    owner: dict[int, str] = {}
    swaps, unmatched, tracked = 0, 0, {"A": 0, "B": 0, "C": 0}
    for s in run:
        for tid, (who, overlap, _) in s.faces.items():
            if overlap < MATCH_IOU:
                unmatched += 1
                continue
            tracked[who] += 1
            if owner.setdefault(tid, who) != who:
                swaps += 1
    print(f"\n[demo clip] tracks -> people {owner}; id swaps {swaps}; boxes matching nobody {unmatched}; "
          f"frames tracked per person {tracked} of {len(run)}")
    assert swaps == 0
    assert len(set(owner.values())) == 3 and len(owner) == 3  # one id per person, no re-numbering
    assert unmatched == 0
    assert min(tracked.values()) >= 0.95 * len(run)


@dataclass
class SpeakerScore:
    hits: int
    total: int
    silent_marked: list  # (t, marked) in frames whose whole window is silent
    tail_marked: int  # silence frames whose window still holds the last turn: last speaker marked
    tail_total: int
    laughing_marked: list  # frames where the laughing (never speaking) face was marked

    @property
    def rate(self) -> float:
        return self.hits / self.total


WINDOW_S = 1.5  # speaker_window_s of the profile


@pytest.fixture(scope="module")
def speaker_score(run: list[Seen], clip) -> SpeakerScore:
    """A hit: the truth speaker's track, and no other, at speaking probability >= 0.5, counted
    in speech frames once the scorer's window (1.5 s) of the turn has passed."""
    turns = clip["truth"]["turns"]
    silent = [p["name"] for p in clip["truth"]["people"] if not p["speaks"]]
    score = SpeakerScore(0, 0, [], 0, 0, [])
    for s in run:
        marked = {who for who, overlap, p in s.faces.values() if overlap >= MATCH_IOU and p >= 0.5}
        turn = next((u for u in turns if u["start_s"] <= s.t_s < u["end_s"]), None)
        if turn is not None and s.t_s - turn["start_s"] >= WINDOW_S:
            score.total += 1
            score.hits += marked == {s.speaking}
        ended = [u["end_s"] for u in turns if u["end_s"] <= s.t_s]
        if turn is None and (not ended or s.t_s - max(ended) >= WINDOW_S):
            if marked:
                score.silent_marked.append((s.t_s, marked))
        elif turn is None:
            score.tail_total += 1
            score.tail_marked += bool(marked)
        if marked & set(silent):
            score.laughing_marked.append((s.t_s, marked))
    print(f"\n[demo clip] speaker identified in {score.hits}/{score.total} speech frames "
          f"({100 * score.rate:.1f} %); in the first {WINDOW_S} s of a silence the last speaker stays "
          f"marked in {score.tail_marked}/{score.tail_total} frames")
    return score


def test_the_speaking_person_is_marked_speaking(speaker_score: SpeakerScore):
    """The issue's target: the speaker is found in at least 90 % of speech frames (59/61 here; the
    two misses are a word pause longer than the 0.7 s speaking-now gate). Nobody is marked once
    the window is silent, and the laughing face (open but still mouth) never is."""
    assert speaker_score.total >= 50
    assert speaker_score.rate >= 0.9, f"{speaker_score.hits}/{speaker_score.total}"
    assert not speaker_score.silent_marked, speaker_score.silent_marked
    assert not speaker_score.laughing_marked, speaker_score.laughing_marked
