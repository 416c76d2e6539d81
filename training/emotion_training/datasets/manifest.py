"""CSV manifest of a user's own recordings: defined in ``emotion_core.datasets.manifest``
(shared with the dataset -> bag converter); re-exported here."""
from emotion_core.datasets.manifest import REQUIRED, read_manifest  # noqa: F401
