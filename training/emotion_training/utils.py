"""Small shared helpers: logging, progress bars, seeds, devices, DDP process groups."""
from __future__ import annotations

import functools
import logging
import os
import random
import sys
from typing import Any, Callable, Iterable, Iterator, Optional, TypeVar

import numpy as np

T = TypeVar("T")


def setup_logging(level: int = logging.INFO) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    for noisy in ("onnx_ir", "onnxscript", "torch.onnx"):  # per-pass chatter of the exporter
        logging.getLogger(noisy).setLevel(logging.WARNING)


def user_errors() -> tuple[type[BaseException], ...]:
    """Errors that are the user's to fix (config, dataset, weights): one line, no traceback."""
    from .config import ConfigError
    from .datasets.records import DatasetError
    from .face_api.manifest import ManifestError

    return ConfigError, DatasetError, ManifestError


def cli_entry(func: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a command's ``main``: a config, dataset or weights problem ends the command with
    ``error: <one line>`` on stderr and exit status 2 instead of a traceback."""
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except user_errors() as exc:
            print(f"error: {exc}", file=sys.stderr, flush=True)
            raise SystemExit(2) from None
    return wrapper


def progress_bar(iterable: Iterable[T], total: Optional[int] = None, desc: str = "",
                 enabled: bool = True) -> Optional[Any]:
    """A tqdm bar over ``iterable`` when tqdm is installed and bars are wanted, else None (the
    caller iterates the bare iterable); the bar lets a loop show live figures in its postfix."""
    if enabled and os.environ.get("EMOTION_NO_PROGRESS") != "1":
        try:
            from tqdm.auto import tqdm

            return tqdm(iterable, total=total, desc=desc, leave=False, dynamic_ncols=True)
        except ImportError:
            pass
    return None


def progress(iterable: Iterable[T], total: Optional[int] = None, desc: str = "",
             enabled: bool = True) -> Iterator[T]:
    """tqdm when installed and wanted, the bare iterable otherwise."""
    bar = progress_bar(iterable, total, desc, enabled)
    return iter(bar if bar is not None else iterable)


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed Python, NumPy and torch; ``deterministic`` also forces deterministic kernels."""
    import torch

    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True


def resolve_device(name: str):
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


class Distributed:
    """The DDP process group when launched by ``torchrun`` (WORLD_SIZE > 1), a no-op otherwise,
    so one script runs on one CPU, one GPU or many."""

    def __init__(self) -> None:
        self.world_size = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.enabled = self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def setup(self, device_name: str):
        import torch
        import torch.distributed as dist

        if not self.enabled:
            return resolve_device(device_name)
        use_cuda = torch.cuda.is_available() and device_name in ("auto", "cuda")
        if use_cuda:
            torch.cuda.set_device(self.local_rank)
        dist.init_process_group("nccl" if use_cuda else "gloo")
        return torch.device(f"cuda:{self.local_rank}") if use_cuda else torch.device("cpu")

    def barrier(self) -> None:
        if self.enabled:
            import torch.distributed as dist

            dist.barrier()

    def cleanup(self) -> None:
        if self.enabled:
            import torch.distributed as dist

            dist.destroy_process_group()
