"""CREMA-D file names and scan: defined in ``emotion_core.datasets.cremad`` (shared with the
dataset -> bag converter); re-exported here."""
from emotion_core.datasets.cremad import (AUDIO_EXTS, EMOTIONS, LEVELS, SENTENCES, VIDEO_EXTS,  # noqa: F401
                                          CremaName, parse_name, scan_cremad)
