"""Standard 5-field cron, validated field by field, and its Kubeflow (6-field) form.

Why not hand the string to croniter or Kubeflow directly: both report a bad expression without
saying which field is wrong, and Kubeflow's scheduler (robfig/cron) wants 6 fields with seconds
first. One parser here names the broken field for people, then both the local scheduler and the
recurring run on Kubeflow get the same, already-checked schedule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
MONTH_NAMES = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
DAY_NAMES = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    name_offset: int = 0


FIELDS = (
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day of month", 1, 31),
    _Field("month", 1, 12, tuple(MONTH_NAMES), 1),
    _Field("day of week", 0, 7, tuple(DAY_NAMES), 0),
)
_STEP = re.compile(r"^(?P<base>[^/]+)(?:/(?P<step>[^/]+))?$")


class CronError(ValueError):
    """A cron expression that cannot be used; the message names the field that is wrong."""


def _value(text: str, field: _Field, expression: str, position: int) -> int:
    upper = text.upper()
    if upper in field.names:
        return field.names.index(upper) + field.name_offset
    if not text.isdigit():
        allowed = f"{field.low}-{field.high}"
        if field.names:
            allowed += f" or {field.names[0]}-{field.names[-1]}"
        raise CronError(f"cron '{expression}': field {position} ({field.name}) has '{text}', "
                        f"which is not a number; allowed: {allowed}")
    value = int(text)
    if not field.low <= value <= field.high:
        raise CronError(f"cron '{expression}': field {position} ({field.name}) value {value} is "
                        f"out of range {field.low}-{field.high}")
    return value


def _check_field(text: str, field: _Field, expression: str, position: int) -> None:
    for part in text.split(","):
        match = _STEP.match(part)
        if not part or match is None:
            raise CronError(f"cron '{expression}': field {position} ({field.name}) has an empty "
                            f"or malformed list item in '{text}'")
        base, step = match.group("base"), match.group("step")
        if step is not None and (not step.isdigit() or int(step) == 0):
            raise CronError(f"cron '{expression}': field {position} ({field.name}) step "
                            f"'/{step}' must be a positive whole number")
        if base in ("*", "?"):
            if base == "?" and field.name not in ("day of month", "day of week"):
                raise CronError(f"cron '{expression}': field {position} ({field.name}) cannot "
                                "be '?' (only day of month / day of week)")
            continue
        low_text, dash, high_text = base.partition("-")
        low = _value(low_text, field, expression, position)
        if dash:
            high = _value(high_text, field, expression, position)
            if high < low:
                raise CronError(f"cron '{expression}': field {position} ({field.name}) range "
                                f"'{base}' runs backwards")


def normalize(expression: str) -> str:
    """The validated 5-field form (macros expanded, whitespace collapsed) or CronError."""
    text = " ".join(expression.split())
    if text.startswith("@"):
        if text.lower() not in MACROS:
            raise CronError(f"cron '{expression}': unknown macro; use one of "
                            f"{', '.join(MACROS)} or 5 fields")
        return MACROS[text.lower()]
    fields = text.split(" ") if text else []
    if len(fields) != len(FIELDS):
        raise CronError(
            f"cron '{expression}': expected 5 fields (minute hour day-of-month month "
            f"day-of-week), got {len(fields)}"
            + ("; Kubeflow's 6-field form with seconds is produced for you" if len(fields) == 6
               else "")
        )
    for position, (value, field) in enumerate(zip(fields, FIELDS, strict=True), start=1):
        _check_field(value, field, expression, position)
    return text


def to_kubeflow(expression: str) -> str:
    """5-field cron -> Kubeflow's 6-field form (seconds first), e.g. '0 3 * * *' ->
    '0 0 3 * * *'. Day-of-week 7 (Sunday in standard cron) becomes 0, which robfig/cron
    (Kubeflow's scheduler) requires."""
    fields = normalize(expression).split(" ")
    fields[4] = ",".join(_sunday_as_zero(item) for item in fields[4].split(","))
    return " ".join(["0", *fields])


def _day(text: str) -> int:
    return DAY_NAMES.index(text.upper()) if text.upper() in DAY_NAMES else int(text)


def _sunday_as_zero(item: str) -> str:
    """'7' -> '0', '5-7' -> '5-6,0', '7/2' stays valid; other items unchanged."""
    base, slash, step = item.partition("/")
    low, dash, high = base.partition("-")
    if not dash:
        return ("0" if base == "7" else base) + slash + step
    if high != "7":
        return item
    if slash:  # spell the days out: 5-7/2 is 5,7 = 5,0
        days = range(_day(low), 8, int(step))
        return ",".join(str(day % 7) for day in days)
    return "0" if low == "7" else f"{low}-6,0"
