"""Label sets, dataset mappings and the label -> REP-155 expression/valence/arousal mapping.

Defined once here: training maps its datasets through these tables, the exported model carries
its class names in its contract, and the robot maps predictions to ROS4HRI expressions with the
same table.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

#: The original design's seven classes.
EKMAN7: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
#: RAVDESS emotion codes 01..08 in order.
RAVDESS8: tuple[str, ...] = (
    "neutral", "calm", "happy", "sad", "angry", "fear", "disgust", "surprise",
)
#: CREMA-D's six classes.
CREMAD6: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "neutral", "sad")

LABEL_SETS: Mapping[str, tuple[str, ...]] = {
    "ekman7": EKMAN7,
    "ravdess8": RAVDESS8,
    "cremad6": CREMAD6,
}

#: Synonyms used by datasets and pretrained models -> canonical label names.
SYNONYMS: Mapping[str, str] = {
    "anger": "angry",
    "disgusted": "disgust",
    "fearful": "fear",
    "scared": "fear",
    "afraid": "fear",
    "happiness": "happy",
    "joy": "happy",
    "sadness": "sad",
    "surprised": "surprise",
    "neu": "neutral",
}


def canonical(name: str) -> str:
    """Canonical spelling of a label (lower case, synonyms folded)."""
    key = name.strip().lower()
    return SYNONYMS.get(key, key)


@dataclass(frozen=True)
class Affect:
    """REP-155 view of a label: expression constant, valence and arousal in [-1, 1]."""

    expression: str
    valence: float
    arousal: float


#: hri_msgs/Expression constants have no "calm"; it maps to a low-arousal neutral-positive state.
#: Valence/arousal follow Russell's circumplex placement of the basic emotions.
AFFECT: Mapping[str, Affect] = {
    "neutral": Affect("neutral", 0.0, 0.0),
    "calm": Affect("neutral", 0.3, -0.5),
    "happy": Affect("happy", 0.8, 0.5),
    "sad": Affect("sad", -0.7, -0.4),
    "angry": Affect("angry", -0.6, 0.8),
    "fear": Affect("scared", -0.6, 0.7),
    "disgust": Affect("disgusted", -0.7, 0.3),
    "surprise": Affect("surprised", 0.2, 0.8),
}


def affect_of(label: str) -> Affect:
    """REP-155 expression, valence and arousal for a label; unknown labels raise KeyError."""
    return AFFECT[canonical(label)]


def expected_affect(labels: Sequence[str], probabilities: Sequence[float],
                    skip_unknown: bool = False) -> tuple[float, float]:
    """Probability-weighted valence and arousal over a label set.

    Labels without an affect raise KeyError, unless ``skip_unknown``: then they are left out and
    the rest renormalised (a custom label set still gets a valence/arousal estimate).
    """
    pairs = [(AFFECT.get(canonical(n)), float(p)) for n, p in zip(labels, probabilities)]
    if not skip_unknown:
        missing = [n for n, (a, _) in zip(labels, pairs) if a is None]
        if missing:
            raise KeyError(f"no affect for labels {missing}")
    known = [(a, p) for a, p in pairs if a is not None]
    total = sum(p for _, p in known) if skip_unknown else 1.0
    if total <= 0:
        return 0.0, 0.0
    valence = sum(p * a.valence for a, p in known) / total
    arousal = sum(p * a.arousal for a, p in known) / total
    return float(valence), float(arousal)


@dataclass(frozen=True)
class ExpressionEstimate:
    """The fields of a REP-155 ``hri_msgs/Expression`` (without the header)."""

    expression: str
    valence: float
    arousal: float
    confidence: float


def rep155(labels: Sequence[str], probabilities: Sequence[float]) -> Optional[ExpressionEstimate]:
    """REP-155 view of a probability vector: the expression of the most probable label, with
    its probability as confidence, and valence/arousal weighted over every label that has an
    affect. None when the most probable label has no REP-155 expression."""
    if not len(probabilities):
        return None
    best = max(range(len(probabilities)), key=lambda i: probabilities[i])
    affect = AFFECT.get(canonical(labels[best]))
    if affect is None:
        return None
    valence, arousal = expected_affect(labels, probabilities, skip_unknown=True)
    clip = lambda x: max(-1.0, min(1.0, x))  # noqa: E731
    return ExpressionEstimate(affect.expression, clip(valence), clip(arousal),
                              max(0.0, min(1.0, float(probabilities[best]))))


def map_labels(source: Sequence[str], target: Sequence[str]) -> dict[int, int]:
    """Index mapping source -> target by canonical name; labels absent from target are left out."""
    index = {canonical(n): i for i, n in enumerate(target)}
    return {i: index[canonical(n)] for i, n in enumerate(source) if canonical(n) in index}
