"""emotion_recorded.dataset_bags converts a dataset without the training workspace: the parsers
and the container-audio reader it needs are the core's (``emotion_core.datasets``)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from emotion_core.labels_timeline import METADATA_KEY
from emotion_recorded.bag_messages import AUDIO_TOPIC, IMAGE_TOPIC, INFO_TOPIC
from emotion_recorded.bagio import bag_info
from emotion_recorded.dataset_bags import CLIP_KEY, ConvertOptions, convert_records, scan_dataset

# Importing emotion_training in the child fails (a None entry in sys.modules blocks it), so any
# use of the training workspace by the converter, however lazy, turns into an error here.
BLOCKED = """
import json, sys
from pathlib import Path
sys.modules["emotion_training"] = None
from emotion_recorded.dataset_bags import main, scan_dataset
records = scan_dataset(sys.argv[1], Path(sys.argv[2]), None, None)
print(json.dumps([[r.clip_id, r.label_name, r.speaker, bool(r.video), bool(r.audio)] for r in records]))
"""


def _touch(root: Path, names: list[str]) -> Path:
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"")
    return root


def _scan_without_training(dataset: str, root: Path) -> list[list]:
    out = subprocess.run([sys.executable, "-c", BLOCKED, dataset, str(root)], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_ravdess_names_become_labels_and_speakers_without_training(tmp_path):
    root = _touch(tmp_path / "RAVDESS", [
        "Actor_12/01-01-05-02-02-01-12.mp4", "Actor_12/03-01-05-02-02-01-12.wav",  # angry, AV + wav
        "Actor_07/02-01-04-01-01-02-07.mp4",  # sad, video-only file, no wav
        "Actor_07/01-02-03-01-01-01-07.mp4",  # song: not the speech channel
        "Actor_07/notes.mp4",  # not a RAVDESS name
    ])
    rows = _scan_without_training("ravdess", root)
    assert rows == [["ravdess-speech-04-normal-01-02-07", "sad", "07", True, False],
                    ["ravdess-speech-05-strong-02-01-12", "angry", "12", True, True]]


def test_cremad_names_become_labels_and_speakers_without_training(tmp_path):
    root = _touch(tmp_path / "CREMA-D", ["VideoFlash/1001_DFA_ANG_XX.flv", "AudioWAV/1001_DFA_ANG_XX.wav",
                                        "AudioWAV/1091_IEO_SAD_HI.wav"])
    rows = _scan_without_training("cremad", root)
    assert rows == [["cremad-1001_DFA_angry_unspecified", "angry", "1001", True, True],
                    ["cremad-1091_IEO_sad_high", "sad", "1091", False, True]]


def test_video_without_an_audio_track_converts_face_only(tmp_path):
    """The container-audio reader (PyAV, in the core) finds no audio stream in an OpenCV-written
    mp4: the clip still becomes a bag, with frames and AudioInfo and no audio chunks."""
    import cv2

    root = tmp_path / "own"
    root.mkdir()
    video = root / "take.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (64, 48))
    for i in range(6):
        writer.write(np.full((48, 64, 3), 40 * i, np.uint8))
    writer.release()
    (root / "manifest.csv").write_text("label,speaker,video\nhappy,s1,take.mp4\n")
    records = scan_dataset("manifest", root, None, None)
    assert [(r.label_name, r.speaker, r.audio) for r in records] == [("happy", "s1", None)]
    rows = convert_records(records, tmp_path / "bags", ConvertOptions())
    assert [(r["clip_id"], r["frames"], r["audio"]) for r in rows] == [("manifest-take", 6, False)]
    info = bag_info(tmp_path / "bags" / "manifest-take")
    assert info.counts.get(IMAGE_TOPIC) == 6 and info.counts.get(INFO_TOPIC) == 1
    assert AUDIO_TOPIC not in info.counts
    assert json.loads(info.custom[CLIP_KEY])["label"] == "happy"
    assert METADATA_KEY in info.custom
