"""One labelled clip, whatever dataset it comes from: defined in ``emotion_core.datasets.records``
(shared with the dataset -> bag converter); re-exported here."""
from emotion_core.datasets.records import (ClipRecord, DatasetError, ScanReport, safe_id,  # noqa: F401
                                           scan_named)
