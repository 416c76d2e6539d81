"""Described, range-checked parameters.

Every parameter is declared with a description and a range or a set of choices. A value given
at start that breaks its range is logged and replaced by the default (the node keeps running);
a value set at run time that breaks it is rejected with the reason.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

from rcl_interfaces.msg import (FloatingPointRange, IntegerRange, ParameterDescriptor,
                                SetParametersResult)
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
from rclpy.node import Node
from rclpy.parameter import Parameter

from emotion_core.settings import Spec, specs


@dataclass(frozen=True)
class Param:
    name: str
    default: Any
    description: str
    range: Optional[tuple[float, float]] = None
    choices: Optional[Sequence[str]] = None
    read_only: bool = False

    def descriptor(self) -> ParameterDescriptor:
        d = ParameterDescriptor(description=self.description, read_only=self.read_only)
        if self.choices:
            d.additional_constraints = "one of: " + ", ".join(self.choices)
        if self.range is not None:
            lo, hi = self.range
            if isinstance(self.default, bool):
                pass
            elif isinstance(self.default, int):
                d.integer_range = [IntegerRange(from_value=int(lo), to_value=int(hi), step=0)]
            else:
                d.floating_point_range = [FloatingPointRange(from_value=float(lo), to_value=float(hi), step=0.0)]
        return d

    def problem(self, value: Any) -> Optional[str]:
        """Why ``value`` is invalid, or None (the core's rule for settings fields)."""
        return Spec(self.description, self.range, self.choices, self.read_only).problem(self.name, value)


def params_from(settings_cls: type, **overrides: Any) -> list[Param]:
    """Parameter table of a core settings dataclass: names, defaults, ranges and descriptions
    come from its fields, so a default exists once. ``overrides``: name -> dict of Param fields
    that differ for this node (e.g. read_only)."""
    out = []
    for name, (default, spec) in specs(settings_cls).items():
        fields_ = dict(name=name, default=default, description=spec.description, range=spec.range,
                       choices=spec.choices, read_only=spec.read_only)
        fields_.update(overrides.get(name, {}))
        out.append(Param(**fields_))
    return out


def settings_from(settings_cls: type, values: dict[str, Any]) -> Any:
    """The settings object for a node's current parameter values."""
    names = specs(settings_cls)
    return settings_cls(**{k: v for k, v in values.items() if k in names})


def declare(node: Node, params: Sequence[Param],
            on_change: Optional[Callable[[str, Any], None]] = None,
            check: Optional[Callable[[str, Any], Optional[str]]] = None) -> dict[str, Any]:
    """Declare ``params`` on ``node``; returns the effective values (kept current).

    A run-time change is validated first (range, choices, then ``check(name, value)`` which
    returns why a value cannot be used, or None) and refused with that reason; only accepted
    changes reach ``on_change(name, value)``, from the post-set callback, so side effects never
    run for a value that is refused.
    """
    by_name = {p.name: p for p in params}
    values: dict[str, Any] = {}
    for p in params:
        try:
            value = node.declare_parameter(p.name, p.default, p.descriptor()).value
        except (InvalidParameterValueException, InvalidParameterTypeException, TypeError, ValueError) as exc:
            node.get_logger().error(f"parameter {p.name} rejected ({exc}); using default {p.default!r}")
            value = node.declare_parameter(p.name, p.default, p.descriptor(), ignore_override=True).value
        reason = p.problem(value)
        if reason:
            node.get_logger().error(f"{reason}; using default {p.default!r}")
            node.set_parameters([Parameter(p.name, value=p.default)])
            value = p.default
        values[p.name] = value

    def validate(changes: list[Parameter]) -> SetParametersResult:
        for change in changes:
            spec = by_name.get(change.name)
            if spec is None:
                continue
            reason = spec.problem(change.value) or (check(change.name, change.value) if check else None)
            if reason:
                return SetParametersResult(successful=False, reason=reason)
        return SetParametersResult(successful=True)

    def apply(changes: list[Parameter]) -> None:
        for change in changes:
            if change.name in by_name:
                values[change.name] = change.value
                if on_change is not None:
                    on_change(change.name, change.value)

    node.add_on_set_parameters_callback(validate)
    node.add_post_set_parameters_callback(apply)
    return values


def qos_params(prefix: str = "qos") -> list[Param]:
    """Parameters that override the sensor-data QoS of a node's sensor topics."""
    return [
        Param(f"{prefix}_reliability", "best_effort", "QoS reliability of sensor topics "
              "(REP-2003 sensor data: best_effort)", choices=("best_effort", "reliable"), read_only=True),
        Param(f"{prefix}_depth", 5, "QoS history depth of sensor topics", range=(1, 1000), read_only=True),
    ]
