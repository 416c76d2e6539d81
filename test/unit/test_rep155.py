"""The label -> REP-155 expression/valence/arousal mapping (emotion_core.labels.rep155) against
the constants of the workspace's interface-identical hri_msgs/Expression."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from emotion_core.labels import AFFECT, EKMAN7, LABEL_SETS, expected_affect, rep155

ROOT = Path(__file__).resolve().parents[2]


def expression_constants() -> dict[str, str]:
    text = (ROOT / "src" / "hri_msgs" / "msg" / "Expression.msg").read_text()
    return dict(re.findall(r'^string (\w+)="(\w+)"', text, re.M))


def test_message_has_rep155_fields_and_every_affect_is_a_constant():
    text = (ROOT / "src" / "hri_msgs" / "msg" / "Expression.msg").read_text()
    fields = re.findall(r"^(\S+) (\w+)\s*(?:#.*)?$", text, re.M)
    assert fields == [("std_msgs/Header", "header"), ("string", "expression"), ("float32", "valence"),
                      ("float32", "arousal"), ("float32", "confidence")]
    constants = expression_constants()
    assert {"NEUTRAL", "HAPPY", "SAD", "ANGRY", "SURPRISED", "DISGUSTED", "SCARED"} <= set(constants)
    assert "calm" not in constants.values()
    for label in {n for labels in LABEL_SETS.values() for n in labels}:
        assert AFFECT[label].expression in constants.values(), label


def test_rep155_of_a_probability_vector():
    probs = [0.0] * 7
    probs[EKMAN7.index("surprise")], probs[EKMAN7.index("happy")] = 0.7, 0.3
    e = rep155(EKMAN7, probs)
    assert e.expression == "surprised" and e.confidence == pytest.approx(0.7)
    v, a = expected_affect(EKMAN7, probs)
    assert (e.valence, e.arousal) == pytest.approx((v, a))
    assert -1 <= e.valence <= 1 and -1 <= e.arousal <= 1


def test_custom_labels_are_skipped_or_not_published():
    e = rep155(("contempt", "happy"), (0.4, 0.6))
    assert e.expression == "happy"
    assert (e.valence, e.arousal) == pytest.approx((AFFECT["happy"].valence, AFFECT["happy"].arousal))
    assert rep155(("contempt", "happy"), (0.9, 0.1)) is None  # no REP-155 expression for it
    assert rep155((), ()) is None
    with pytest.raises(KeyError):
        expected_affect(("contempt",), (1.0,))  # strict unless asked to skip
