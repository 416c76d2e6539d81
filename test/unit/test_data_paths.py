"""The data path rule: a relative model or media path is found from any folder, in a documented
order, and a missing one is reported with every place searched."""
from __future__ import annotations

from pathlib import Path

import pytest

from emotion_core import data_paths
from emotion_core.contract import ContractError, read_contract
from emotion_core.sources import SourceError, open_audio, open_frames

REL = Path("data") / "models" / "thing.onnx"


def _share(prefix: Path, content: bytes = b"share") -> Path:
    """An ament prefix holding an ``emotion_ros`` share folder with ``REL`` in it."""
    (prefix / "share" / "ament_index" / "resource_index" / "packages").mkdir(parents=True)
    (prefix / "share" / "ament_index" / "resource_index" / "packages" / "emotion_ros").touch()
    target = prefix / "share" / "emotion_ros" / REL
    target.parent.mkdir(parents=True)
    target.write_bytes(content)
    return target


@pytest.fixture
def places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Empty cwd, data dir, ROS home and an installed share folder on AMENT_PREFIX_PATH."""
    out = {k: tmp_path / k for k in ("cwd", "data", "ros_home", "prefix")}
    for p in out.values():
        p.mkdir()
    out["share_file"] = _share(out["prefix"])
    monkeypatch.chdir(out["cwd"])
    monkeypatch.delenv(data_paths.DATA_DIR_ENV, raising=False)
    monkeypatch.setenv("ROS_HOME", str(out["ros_home"]))
    monkeypatch.setenv("AMENT_PREFIX_PATH", str(out["prefix"]))
    return out


def _put(root: Path, content: bytes) -> Path:
    target = root / REL
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content)
    return target


def test_installed_share_folder_is_found_from_any_folder(places):
    assert data_paths.share_dir() == places["prefix"] / "share" / "emotion_ros"
    assert data_paths.resolve(REL) == places["share_file"]


def test_order_data_dir_then_cwd_then_share_then_ros_home(places, monkeypatch):
    home = _put(places["ros_home"] / "emotion_ros", b"home")
    places["share_file"].unlink()
    assert data_paths.resolve(REL) == home  # only the user cache has it
    places["share_file"].write_bytes(b"share")
    assert data_paths.resolve(REL) == places["share_file"]  # the install before the user cache
    here = _put(places["cwd"], b"cwd")
    assert data_paths.resolve(REL) == here  # a path relative to where you are comes first
    monkeypatch.setenv(data_paths.DATA_DIR_ENV, str(places["data"]))
    chosen = _put(places["data"], b"data")
    assert data_paths.resolve(REL) == chosen
    assert data_paths.search_roots()[:2] == [places["data"], places["cwd"]]


def test_missing_file_names_every_place_searched(places, monkeypatch):
    monkeypatch.setenv(data_paths.DATA_DIR_ENV, str(places["data"]))
    with pytest.raises(FileNotFoundError) as err:
        data_paths.resolve("data/models/absent.onnx", "model file", "run scripts/setup.sh")
    message = str(err.value)
    for root in ("data", "cwd", "ros_home"):
        assert str(places[root]) in message, message
    assert str(places["prefix"] / "share" / "emotion_ros") in message
    assert "run scripts/setup.sh" in message and data_paths.DATA_DIR_ENV in message


def test_absolute_paths_are_taken_as_they_are(places):
    assert data_paths.find(places["share_file"]) == places["share_file"]
    with pytest.raises(FileNotFoundError, match="looked in: /nowhere/x.onnx$"):
        data_paths.resolve("/nowhere/x.onnx")


def test_without_an_ament_index_the_other_roots_still_work(places, monkeypatch):
    monkeypatch.setenv("AMENT_PREFIX_PATH", str(places["cwd"] / "no_prefix"))
    assert data_paths.share_dir() is None
    assert data_paths.find(REL) is None
    home = _put(places["ros_home"] / "emotion_ros", b"home")
    assert data_paths.resolve(REL) == home


def test_an_unsourced_shell_still_finds_files(places, monkeypatch):
    """No ROS environment sourced (AMENT_PREFIX_PATH unset: ament_index raises OSError), as in a
    plain python session of the training workspace or a benchmark."""
    monkeypatch.delenv("AMENT_PREFIX_PATH", raising=False)
    assert data_paths.share_dir() is None
    here = _put(places["cwd"], b"cwd")
    assert data_paths.resolve(REL) == here


def test_models_and_sources_use_the_rule(places, repo_root):
    """The installed default model, video and audio are found from an empty folder; a missing
    one says where it looked (the node reports that message)."""
    real = repo_root / "data"
    if not (real / "models" / "face_expression.onnx").is_file():
        pytest.skip("data/ is built by scripts/setup.sh")
    share = places["prefix"] / "share" / "emotion_ros"
    (share / "data" / "demo").mkdir(parents=True)
    (share / "data" / "models" / "face_expression.onnx").symlink_to(real / "models" / "face_expression.onnx")
    (share / "data" / "demo" / "astronaut.mp4").symlink_to(real / "demo" / "astronaut.mp4")
    (share / "data" / "demo" / "speech.wav").symlink_to(real / "demo" / "speech.wav")
    assert read_contract("data/models/face_expression.onnx").labels
    frames = open_frames("data/demo/astronaut.mp4")
    assert frames.read() is not None
    frames.close()
    audio = open_audio("data/demo/speech.wav", 16000)
    assert audio.read(1600) is not None
    with pytest.raises(ContractError, match="looked in"):
        read_contract("data/models/missing.onnx")
    with pytest.raises(SourceError, match="video file not found: data/demo/none.mp4; looked in"):
        open_frames("data/demo/none.mp4")
    with pytest.raises(SourceError, match="audio file not found"):
        open_audio("data/demo/none.wav", 16000)
