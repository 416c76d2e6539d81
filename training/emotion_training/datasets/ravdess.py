"""RAVDESS file names and scan: defined in ``emotion_core.datasets.ravdess`` (shared with the
dataset -> bag converter); re-exported here."""
from emotion_core.datasets.ravdess import (AUDIO_EXTS, CHANNELS, INTENSITIES, MODALITIES,  # noqa: F401
                                           VIDEO_EXTS, RavdessName, parse_name, scan_ravdess)
