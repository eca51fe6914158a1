"""The one place user input is checked: every numeric CLI option and every `--set` config field.

A config field declares what it accepts where it is defined, in its algorithm's Config dataclass:

    n_layer: Annotated[int, "[1, 64]"] = 3                              # an integer from 1 to 64
    lr: Annotated[float, "(0, 1]"] = 1e-4                               # a finite number above 0, at most 1
    termination_penalty: Annotated[float | None, "[-1e6, 1e6]"] = -100  # a number or none
    lr_schedule: Annotated[str, ("constant", "cosine")] = "constant"    # one of these names

and a CLI option names its range next to its definition in cli.py (`callback=in_range("[0, 4_294_967_295]")`).
A range is an interval: `[` / `]` include the end, `(` / `)` exclude it. Whatever is given, the answer is the value
converted to the declared type, or BadValue with one line that names the option and says what it accepts: the
wrong type (`2.5` for an integer), out of range, NaN or infinite (never accepted), or an unknown name.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass


class BadValue(ValueError):
    """A value the option or field does not accept; the message is one line that names it."""


@dataclass(frozen=True)
class Range:
    """An interval of numbers, parsed from its written form ("[1, 64]", "(0, 1]", "[0, inf)")."""

    low: float
    high: float
    low_open: bool
    high_open: bool
    text: str

    @classmethod
    def parse(cls, text: str) -> Range:
        low, high = (_number(part.strip()) for part in text.strip()[1:-1].split(","))
        return cls(low, high, text.strip()[0] == "(", text.strip()[-1] == ")", text)

    def __contains__(self, value: float) -> bool:
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below


def _number(text: str) -> float:
    try:
        return int(text)
    except ValueError:
        return float(text)


def convert(raw, kind: type, accepts: str | tuple | None, name: str, optional: bool = False):
    """`raw` (a string as typed, or an already typed value) as a `kind` (int, float, str, bool) that `accepts`
    allows (a range for numbers, a tuple of names for strings); `optional` also takes none/null. Raises BadValue."""
    if optional and (
        raw is None or (isinstance(raw, str) and raw.strip().lower() in ("none", "null"))
    ):
        return None
    what = {int: "an integer", float: "a number", str: "a name", bool: "true or false"}[kind]
    if accepts is not None and not isinstance(accepts, tuple):
        what += f" in {accepts}"
    elif isinstance(accepts, tuple):
        what = "one of " + ", ".join(accepts)
    if optional:
        what += " (or none)"
    value = _as(raw, kind)
    if value is None:
        raise BadValue(f"{name} must be {what}, got {raw!r}")
    if kind in (int, float) and (
        not math.isfinite(value) or (accepts and value not in Range.parse(accepts))
    ):
        raise BadValue(f"{name} must be {what}, got {raw}")
    if kind is str and isinstance(accepts, tuple) and value not in accepts:
        raise BadValue(f"{name} must be {what}, got {raw!r}")
    return value


def _as(raw, kind: type):
    """raw as `kind`, or None when it is not one (2.5 is not an integer; 3.0 and 1e5 are; True is not a number)."""
    if kind is bool:
        if isinstance(raw, bool):
            return raw
        return {"true": True, "false": False}.get(str(raw).strip().lower())
    if kind is str:
        return raw if isinstance(raw, str) else None
    if isinstance(raw, bool):
        return None
    if isinstance(raw, str):
        try:
            raw = _number(raw.strip().replace("_", ""))
        except ValueError:
            return None
    if not isinstance(raw, (int, float)):
        return None
    if kind is int:
        if isinstance(raw, float):
            return int(raw) if raw.is_integer() else None
        return raw
    return float(raw)


def number_list(
    values: list[str] | None, name: str, accepts: str | None = None
) -> list[float] | None:
    """`--x 1 --x 2` or `--x 1,2` -> [1.0, 2.0]; None when the option is not given; BadValue for an empty list."""
    if not values:
        return None
    numbers = [
        convert(v.strip(), float, accepts, name)
        for item in values
        for v in item.split(",")
        if v.strip()
    ]
    if not numbers:
        raise BadValue(f"{name} must list numbers, got {','.join(values)!r}")
    return numbers


# ---------------------------------------------------------------------------------------------- config fields


def field_rules(config_class) -> dict[str, tuple[type, str | tuple | None, bool]]:
    """name -> (type, what it accepts, optional) for every field of a Config dataclass, from its annotations."""
    hints = typing.get_type_hints(config_class, include_extras=True)
    rules = {}
    for f in dataclasses.fields(config_class):
        hint, accepts = hints[f.name], None
        if typing.get_origin(hint) is typing.Annotated:
            hint, accepts = typing.get_args(hint)[0], typing.get_args(hint)[1]
        kinds = [k for k in typing.get_args(hint) if k is not type(None)] or [hint]
        rules[f.name] = (kinds[0], accepts, type(None) in typing.get_args(hint))
    return rules


def config_values(config_class, values: dict, algo: str, label: str = "--set ") -> dict:
    """User-given config fields ({"lr": "3e-4"} or {"lr": 3e-4}) converted and checked against `config_class`'s
    declared types and ranges; unknown names and bad values raise BadValue naming `{label}key=value`."""
    rules = field_rules(config_class)
    out = {}
    for key, raw in values.items():
        if key not in rules:
            raise BadValue(
                f"{label}{key}: {algo} has no config field '{key}'; valid: {', '.join(rules)}"
            )
        kind, accepts, optional = rules[key]
        try:
            out[key] = convert(raw, kind, accepts, key, optional)
        except BadValue as e:
            raise BadValue(f"{label}{key}={raw}: {algo}'s {e}") from None
    return out
