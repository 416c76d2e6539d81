"""Label sets, dataset mappings and the REP-155 affect table."""
from __future__ import annotations

import pytest

from emotion_core.labels import (AFFECT, CREMAD6, EKMAN7, LABEL_SETS, RAVDESS8, affect_of,
                                 canonical, expected_affect, map_labels)

#: String constants of hri_msgs/Expression (ROS4HRI, REP-155).
REP155_EXPRESSIONS = {
    "neutral", "angry", "sad", "happy", "surprised", "disgusted", "scared", "pleading",
    "vulnerable", "despaired", "guilty", "disappointed", "embarrassed", "horrified", "skeptical",
    "annoyed", "furious", "suspicious", "rejected", "bored", "tired", "asleep", "confused",
    "amazed", "excited",
}


def test_label_sets_as_the_datasets_define_them():
    assert len(EKMAN7) == 7 and len(RAVDESS8) == 8 and len(CREMAD6) == 6
    # RAVDESS filename codes 01..08: neutral, calm, happy, sad, angry, fearful, disgust, surprised.
    assert RAVDESS8[0] == "neutral" and RAVDESS8[1] == "calm" and RAVDESS8[7] == "surprise"
    assert set(CREMAD6) < set(EKMAN7)
    assert set(RAVDESS8) - set(EKMAN7) == {"calm"}
    for name, labels in LABEL_SETS.items():
        assert len(set(labels)) == len(labels), name
        assert all(canonical(n) == n for n in labels), name  # stored in canonical spelling


@pytest.mark.parametrize("raw, expected", [("Anger", "angry"), (" fearful ", "fear"), ("SCARED", "fear"),
                                           ("joy", "happy"), ("Surprised", "surprise"), ("neu", "neutral"),
                                           ("calm", "calm"), ("Contempt", "contempt")])
def test_canonical_folds_case_space_and_synonyms(raw, expected):
    assert canonical(raw) == expected


def test_every_label_of_every_set_has_a_rep155_affect():
    for labels in LABEL_SETS.values():
        for name in labels:
            a = affect_of(name)
            assert a.expression in REP155_EXPRESSIONS, name
            assert -1.0 <= a.valence <= 1.0 and -1.0 <= a.arousal <= 1.0


def test_affect_follows_the_circumplex_quadrants():
    # Russell: happy is pleasant/aroused, sad unpleasant/calm, angry and fear unpleasant/aroused,
    # neutral at the origin, calm pleasant/low arousal.
    assert affect_of("happy").valence > 0 < affect_of("happy").arousal
    assert affect_of("sad").valence < 0 and affect_of("sad").arousal < 0
    for name in ("angry", "fear"):
        assert affect_of(name).valence < 0 < affect_of(name).arousal
    assert (affect_of("neutral").valence, affect_of("neutral").arousal) == (0.0, 0.0)
    assert affect_of("calm").valence > 0 > affect_of("calm").arousal
    assert affect_of("fearful") == AFFECT["fear"]  # synonyms resolve


def test_unknown_label_has_no_affect():
    with pytest.raises(KeyError):
        affect_of("contempt")


def test_expected_affect_is_the_probability_weighted_mean():
    one_hot = [0.0] * 7
    one_hot[EKMAN7.index("happy")] = 1.0
    assert expected_affect(EKMAN7, one_hot) == (AFFECT["happy"].valence, AFFECT["happy"].arousal)
    v, a = expected_affect(("happy", "sad"), (0.25, 0.75))
    assert v == pytest.approx(0.25 * AFFECT["happy"].valence + 0.75 * AFFECT["sad"].valence)
    assert a == pytest.approx(0.25 * AFFECT["happy"].arousal + 0.75 * AFFECT["sad"].arousal)


def test_map_ravdess_to_ekman_by_name():
    mapping = map_labels(RAVDESS8, EKMAN7)
    assert RAVDESS8.index("calm") not in mapping  # no Ekman class for calm
    assert len(mapping) == 7
    for src, dst in mapping.items():
        assert EKMAN7[dst] == RAVDESS8[src]


def test_map_labels_uses_synonyms():
    assert map_labels(["Anger", "Joy", "contempt"], CREMAD6) == {0: CREMAD6.index("angry"),
                                                                 1: CREMAD6.index("happy")}
