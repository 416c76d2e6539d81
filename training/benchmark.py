"""Thin entry point: ``python training/benchmark.py`` (see ``emotion_training.benchmark``)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from emotion_training.benchmark import main  # noqa: E402

if __name__ == "__main__":
    main()
