"""Settings dataclasses whose fields carry their own description, range and choices.

A default and its valid range exist once, here in the core; ROS nodes generate their
parameter tables from these fields (``emotion_ros.params.params_from``), and offline tools
build the same objects from YAML, so a default never has a second copy.
"""
from __future__ import annotations

from dataclasses import MISSING, Field, dataclass, field, fields, replace
from typing import Any, Mapping, Optional, Sequence, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Spec:
    """What a settings field means and which values it takes."""

    description: str
    range: Optional[tuple[float, float]] = None
    choices: Optional[Sequence[str]] = None
    #: Fixed once the component runs (a ROS parameter that cannot be set at run time).
    read_only: bool = False

    def problem(self, name: str, value: Any) -> Optional[str]:
        """Why ``value`` is invalid for field ``name``, or None."""
        if self.choices and value not in self.choices:
            return f"{name}={value!r} is not one of {list(self.choices)}"
        if self.range is not None and not isinstance(value, (bool, str)):
            lo, hi = self.range
            if not lo <= value <= hi:
                return f"{name}={value!r} is outside [{lo}, {hi}]"
        return None


def setting(default: Any, description: str, range: Optional[tuple[float, float]] = None,
            choices: Optional[Sequence[str]] = None, read_only: bool = False) -> Any:
    """A dataclass field with its ``Spec`` in the metadata."""
    return field(default=default, metadata={"spec": Spec(description, range, choices, read_only)})


def specs(cls: type) -> dict[str, tuple[Any, Spec]]:
    """{name: (default, spec)} of a settings dataclass, in declaration order."""
    out = {}
    for f in fields(cls):
        if "spec" in f.metadata:
            out[f.name] = (_default(f), f.metadata["spec"])
    return out


def _default(f: Field) -> Any:
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:  # type: ignore[misc]
        return f.default_factory()  # type: ignore[misc]
    raise TypeError(f"settings field {f.name} has no default")


def problems(settings: Any) -> list[str]:
    """Every invalid field of a settings object, with the reason."""
    out = []
    for name, (_, spec) in specs(type(settings)).items():
        reason = spec.problem(name, getattr(settings, name))
        if reason:
            out.append(reason)
    return out


def from_mapping(cls: type[T], values: Mapping[str, Any], strict: bool = False) -> T:
    """Settings from a mapping (e.g. a node's ``ros__parameters``); keys the class does not
    know are ignored unless ``strict``; invalid values raise ValueError with every reason."""
    known = specs(cls)
    unknown = sorted(set(values) - set(known))
    if strict and unknown:
        raise ValueError(f"unknown settings {unknown}; known: {sorted(known)}")
    obj = cls(**{k: _coerce(known[k][0], v) for k, v in values.items() if k in known})  # type: ignore[call-arg]
    bad = problems(obj)
    if bad:
        raise ValueError("; ".join(bad))
    return obj


def with_values(settings: T, **changes: Any) -> T:
    """A copy with ``changes`` applied and validated."""
    obj = replace(settings, **changes)  # type: ignore[type-var]
    bad = problems(obj)
    if bad:
        raise ValueError("; ".join(bad))
    return obj


def _coerce(default: Any, value: Any) -> Any:
    """YAML gives 10 for 10.0: follow the default's type where that loses nothing."""
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value
