"""Fixtures of the training-workspace tests: generated RAVDESS / CREMA-D folders and one small
trained run shared by the evaluation, export and resume tests (CPU, tiny models). That run is
the README's documented chain command, run as a user runs it, in a subprocess that may not
open any non-loopback connection (a ``sitecustomize`` refuses and records every attempt)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("torch", reason="training tests need requirements/training.txt")

ROOT = Path(__file__).resolve().parents[2]
for sub in ("training", "src/emotion_core"):  # when the packages are not installed
    if str(ROOT / sub) not in sys.path:
        sys.path.append(str(ROOT / sub))
os.environ.setdefault("EMOTION_NO_PROGRESS", "1")

TINY_CONFIG = ROOT / "training" / "configs" / "synthetic_tiny.yaml"


@pytest.fixture(scope="session")
def ravdess_root(tmp_path_factory) -> Path:
    from emotion_training.synthetic import make_ravdess

    return make_ravdess(tmp_path_factory.mktemp("ravdess"), actors=range(1, 7),
                        emotions=(1, 3, 4, 5), statements=(1, 2))


@pytest.fixture(scope="session")
def cremad_root(tmp_path_factory) -> Path:
    from emotion_training.synthetic import make_cremad

    return make_cremad(tmp_path_factory.mktemp("cremad"), actors=range(1001, 1004),
                       emotions=("ANG", "HAP", "SAD"), sentences=("DFA",))


def tiny_config(root: Path, output: Path, *overrides: str):
    from emotion_training.config import load_config

    return load_config(TINY_CONFIG, overrides, {"data": {"root": str(root)},
                                                "train": {"output": str(output)}})


#: Loaded first by every Python process started with ``offline_env``: refuses (and logs) any
#: socket connection or name lookup that leaves the machine; Unix sockets and loopback pass.
_NET_GUARD = textwrap.dedent("""
    import os, socket

    _LOG = os.environ.get("EMOTION_NET_GUARD_LOG", "")
    _connect, _connect_ex, _getaddrinfo = (socket.socket.connect, socket.socket.connect_ex,
                                           socket.getaddrinfo)

    def _local(host):
        host = host.decode() if isinstance(host, bytes) else str(host)
        return host in ("", "localhost", "::1") or host.startswith("127.")

    def _refuse(what, target):
        with open(_LOG, "a") as f:
            f.write(f"{os.getpid()} {what} {target!r}\\n")
        raise OSError(f"network access refused by the offline test: {what} {target!r}")

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _local(address[0]):
            _refuse("connect", address)
        return _connect(self, address)

    def connect_ex(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _local(address[0]):
            _refuse("connect_ex", address)
        return _connect_ex(self, address)

    def getaddrinfo(host, *args, **kwargs):
        if host is not None and not _local(host):
            _refuse("getaddrinfo", host)
        return _getaddrinfo(host, *args, **kwargs)

    if _LOG:
        socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo = connect, connect_ex, getaddrinfo
""")


def offline_env(folder: Path) -> tuple[dict[str, str], Path]:
    """Environment for a subprocess that must not reach the network, and the file in which it
    records each attempt. Also an empty torch hub cache: no weights from an earlier download."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(_NET_GUARD)
    log = folder / "network-attempts.log"
    env = dict(os.environ)
    paths = [str(folder), str(ROOT / "training"), str(ROOT / "src" / "emotion_core")]
    env["PYTHONPATH"] = os.pathsep.join(paths + [p for p in [env.get("PYTHONPATH", "")] if p])
    env.update(EMOTION_NET_GUARD_LOG=str(log), TORCH_HOME=str(folder / "torch-home"),
               EMOTION_NO_PROGRESS="1")
    return env, log


def run_offline(args: list[str], folder: Path, timeout: float = 900) -> tuple[subprocess.CompletedProcess, str]:
    """``python -m <args>`` under ``offline_env``; returns the process and the attempts logged."""
    env, log = offline_env(folder)
    proc = subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)
    return proc, log.read_text() if log.exists() else ""


@pytest.fixture(scope="session")
def chain_run(ravdess_root, tmp_path_factory) -> tuple[Path, dict]:
    """prepare -> train -> evaluate -> export -> ONNX evaluation, once for the session: the
    README's generated-data command, offline. Returns the run folder, the summary and the log."""
    out = tmp_path_factory.mktemp("run")
    proc, attempts = run_offline(
        ["emotion_training.chain", "-c", str(TINY_CONFIG), "--data-root", str(ravdess_root),
         "--output", str(out)], tmp_path_factory.mktemp("offline"))
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert not attempts, f"the chain tried to reach the network:\n{attempts}"
    summary = json.loads((out / "summary.json").read_text())
    summary["_log"] = proc.stdout + proc.stderr
    return out, summary
