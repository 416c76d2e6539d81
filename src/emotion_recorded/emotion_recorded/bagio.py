"""rosbag2 folders through the ``rosbags`` library, in the format ``ros2 bag record`` writes.

Where the ``ros2`` CLI is missing (PyPI wheels) the recorder, player, converter and evaluator
read and write bags here: metadata.yaml (version 9), sqlite3 or MCAP storage, per-topic
offered QoS, and for every type its RIHS01 type hash and full message definition. Types not
in rosbags' ROS 2 store (audio_common_msgs, emotion_msgs, hri_msgs, ...) are registered from
the installed ``.msg`` files, so their hashes equal the ones rosidl generates. No rclpy here:
messages travel as serialized CDR bytes.
"""
from __future__ import annotations

import struct
import sys
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator, Mapping, Optional, Sequence

import yaml
from rosbags.interfaces import (Connection, Qos, QosDurability, QosHistory, QosLiveliness,
                                QosReliability, QosTime)
from rosbags.rosbag2 import Reader, StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore, get_types_from_msg
from rosbags.typesys.store import Typestore

STORAGES = {"sqlite3": StoragePlugin.SQLITE3, "mcap": StoragePlugin.MCAP}
#: Packages of this workspace (or their system twins) whose types rosbags does not ship.
WORKSPACE_MSG_PACKAGES = ("audio_common_msgs", "emotion_msgs", "hri_msgs")
NS = 1_000_000_000
_INFINITE_NS = 2**63 - 1


class BagError(RuntimeError):
    """A bag that cannot be read or written as asked."""


def _msg_dir(package: str) -> Optional[Path]:
    """A package's installed ``msg`` folder: from the ament index, else from this Python's
    prefix (where the PyPI ROS wheels install, outside the ament index)."""
    folder: Optional[Path] = None
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_share_directory

        try:
            folder = Path(get_package_share_directory(package)) / "msg"
        except PackageNotFoundError:
            pass
    except ImportError:
        pass
    if folder is None or not folder.is_dir():
        folder = Path(sys.prefix) / "share" / package / "msg"
    return folder if folder.is_dir() else None


def _register_package(store: Typestore, package: str) -> bool:
    folder = _msg_dir(package)
    if folder is None:
        return False
    types: dict[str, Any] = {}
    for msg in sorted(folder.glob("*.msg")):
        types.update(get_types_from_msg(msg.read_text(), f"{package}/msg/{msg.stem}"))
    store.register(types)
    return True


@lru_cache(maxsize=1)
def typestore() -> Typestore:
    """rosbags' ROS 2 (kilted) types plus the workspace's message packages."""
    store = get_typestore(Stores.ROS2_KILTED)
    for package in WORKSPACE_MSG_PACKAGES:
        _register_package(store, package)
    return store


def ensure_type(store: Typestore, msgtype: str, connection: Optional[Connection] = None) -> None:
    """Make ``msgtype`` known: from the installed package, else from the definition a bag
    carries for it; raise BagError saying which package is missing otherwise."""
    if msgtype in store.fielddefs:
        return
    if connection is not None and connection.msgdef.data:
        try:
            store.register(get_types_from_msg(connection.msgdef.data, msgtype))
            return
        except Exception:  # noqa: BLE001 - fall back to the installed package
            pass
    if not _register_package(store, msgtype.split("/")[0]) or msgtype not in store.fielddefs:
        raise BagError(f"unknown message type {msgtype}: install its package "
                       f"({msgtype.split('/')[0]}) or record bags with message definitions")


# -- QoS ------------------------------------------------------------------------------------
def _qtime(ns: int) -> QosTime:
    ns = min(int(ns), _INFINITE_NS)
    return QosTime(ns // NS, ns % NS)


def make_qos(reliable: bool, transient_local: bool = False, depth: int = 10) -> Qos:
    """An offered QoS profile as rosbag2 stores it (infinite deadline/lifespan/lease)."""
    inf = _qtime(_INFINITE_NS)
    return Qos(QosHistory.KEEP_LAST, depth,
               QosReliability.RELIABLE if reliable else QosReliability.BEST_EFFORT,
               QosDurability.TRANSIENT_LOCAL if transient_local else QosDurability.VOLATILE,
               inf, inf, QosLiveliness.AUTOMATIC, inf, False)


def is_transient_local(profiles: Sequence[Qos]) -> bool:
    return bool(profiles) and all(q.durability == QosDurability.TRANSIENT_LOCAL for q in profiles)


# -- writing --------------------------------------------------------------------------------
class BagWriter:
    """Thread-safe writer of serialized messages; topics are added on first use."""

    def __init__(self, path: str | Path, storage: str = "mcap",
                 custom_data: Optional[Mapping[str, str]] = None) -> None:
        if storage not in STORAGES:
            raise BagError(f"storage {storage!r} is not one of {sorted(STORAGES)}")
        self.path = Path(path)
        if self.path.exists():
            raise BagError(f"{self.path} exists already: choose a new bag folder")
        self.store = typestore()
        self._writer = Writer(self.path, version=9, storage_plugin=STORAGES[storage])
        for key, value in (custom_data or {}).items():
            self._writer.set_custom_data(key, value)
        self._connections: dict[str, Connection] = {}
        self._lock = threading.Lock()
        self._writer.open()
        self.counts: dict[str, int] = {}

    def add_topic(self, topic: str, msgtype: str, qos: Sequence[Qos] = (),
                  type_hash: Optional[str] = None) -> None:
        """``type_hash``: the hash the publishers advertise (a recorder stores that one, as
        ros2 bag record does); default: computed from the type definition."""
        with self._lock:
            if topic in self._connections:
                return
            ensure_type(self.store, msgtype)
            msgdef, _ = self.store.generate_msgdef(msgtype, ros_version=2)
            self._connections[topic] = self._writer.add_connection(
                topic, msgtype, msgdef=msgdef, rihs01=type_hash or self.store.hash_rihs01(msgtype),
                offered_qos_profiles=list(qos))
            self.counts[topic] = 0

    def has_topic(self, topic: str) -> bool:
        return topic in self._connections

    def write(self, topic: str, time_ns: int, data: bytes | memoryview) -> None:
        """``time_ns``: the receive time rosbag2 stores (``ros2 bag play`` schedules by it)."""
        with self._lock:
            if self._writer is None:
                return
            self._writer.write(self._connections[topic], int(time_ns), bytes(data))
            self.counts[topic] += 1

    def close(self) -> None:
        with self._lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None  # type: ignore[assignment]

    def __enter__(self) -> "BagWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# -- reading --------------------------------------------------------------------------------
@dataclass
class BagInfo:
    path: Path
    start_ns: int
    end_ns: int
    topics: dict[str, str]  # topic -> type
    counts: dict[str, int]
    qos: dict[str, list[Qos]]
    custom: dict[str, str] = field(default_factory=dict)
    storage: str = ""
    digests: dict[str, str] = field(default_factory=dict)


def bag_info(path: str | Path) -> BagInfo:
    path = Path(path)
    try:
        with Reader(path) as reader:
            topics, counts, qos, digests = {}, {}, {}, {}
            for c in reader.connections:
                topics[c.topic] = c.msgtype
                counts[c.topic] = counts.get(c.topic, 0) + c.msgcount
                qos[c.topic] = list(getattr(c.ext, "offered_qos_profiles", []) or [])
                digests[c.topic] = c.digest
            start, end = (reader.start_time, reader.end_time) if reader.message_count else (0, 0)
    except Exception as exc:  # rosbags raises several types; say which bag
        raise BagError(f"cannot read bag {path}: {exc}") from exc
    meta = yaml.safe_load((path / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    return BagInfo(path, start, end, topics, counts, qos, dict(meta.get("custom_data") or {}),
                   meta.get("storage_identifier", ""), digests)


def find_bags(path: str | Path) -> list[Path]:
    """A bag folder, or every bag folder below ``path``, in order of their start times."""
    path = Path(path)
    if (path / "metadata.yaml").is_file():
        return [path]
    bags = sorted(p.parent for p in path.rglob("metadata.yaml"))
    if not bags:
        raise BagError(f"no rosbag2 folder (with metadata.yaml) at or below {path}")
    return sorted(bags, key=lambda b: bag_info(b).start_ns)


def messages(path: str | Path, topics: Optional[Sequence[str]] = None
             ) -> Iterator[tuple[Connection, int, bytes]]:
    """(connection, receive time [ns], serialized data) in time order."""
    with Reader(Path(path)) as reader:
        conns = [c for c in reader.connections if topics is None or c.topic in topics]
        yield from reader.messages(connections=conns)


def header_stamp_ns(data: bytes | memoryview) -> Optional[int]:
    """Stamp of a serialized message whose first field is a std_msgs/Header (CDR: a 4-byte
    encapsulation header, then int32 sec and uint32 nanosec), without deserializing it."""
    if len(data) < 12:
        return None
    little = data[1] & 1  # CDR_LE / PL_CDR_LE have the low bit set
    sec, nsec = struct.unpack_from("<iI" if little else ">iI", data, 4)
    return sec * NS + nsec
