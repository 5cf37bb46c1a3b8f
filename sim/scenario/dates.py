"""Date rules: schedule dates that follow other dates.

The 2-4-week coexistence window is a property of the schedule: a primary care group goes live
some weeks *before* its lab switches LIS, and orders labs in its legacy client until then. So
that a variant such as ``window-2w`` changes one number and every dependent date follows, a
date field holds either a date or a rule::

    2022-03-08                 an explicit date
    lab_switch                 the LIS switch of this site's lab
    lab_switch - window        ... minus the scenario's coexistence window
    lab_switch - 0.5 window    ... minus half of it
    go_live + 14d              this site's own go-live plus 14 days (also ``2w``)
    lab_switch[su-lab]         another lab's switch; ``go_live[ks]`` another site's go-live

:func:`parse_rule` checks the syntax; :class:`DateResolver` evaluates rules with cycle
detection.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass

ANCHORS = ("lab_switch", "go_live")
_HEAD = re.compile(
    r"^\s*(?:(?P<date>\d{4}-\d{2}-\d{2})|(?P<anchor>[a-z_]+)(?:\[(?P<ref>[^\]]+)\])?)\s*"
)
_TERM = re.compile(r"\s*(?P<sign>[+-])\s*(?P<num>\d+(?:\.\d+)?)?\s*(?P<unit>d|w|window)\b\s*")


@dataclass(frozen=True)
class DateRule:
    """A parsed rule: an anchor, an optional reference, and an offset."""

    text: str
    date: dt.date | None  # explicit date anchor
    anchor: str | None  # "lab_switch" or "go_live"
    ref: str | None  # explicit lab or site id, else the owner's own
    days: float  # fixed offset in days
    windows: float  # offset in multiples of the coexistence window

    def offset_days(self, window_days: float) -> int:
        return round(self.days + self.windows * window_days)


def parse_rule(value: dt.date | str) -> DateRule:
    """Parse a date or rule; raises ``ValueError`` with a message a planner understands."""
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        return DateRule(value.isoformat(), value, None, None, 0.0, 0.0)
    if not isinstance(value, str):
        raise ValueError(f"expected a date (YYYY-MM-DD) or a date rule, got {value!r}")
    m = _HEAD.match(value)
    if not m:
        raise ValueError(f"cannot read date rule {value!r}; {_HELP}")
    date = anchor = None
    if m.group("date"):
        try:
            date = dt.date.fromisoformat(m.group("date"))
        except ValueError as exc:
            raise ValueError(f"invalid date {m.group('date')!r}: {exc}") from None
    else:
        anchor = m.group("anchor")
        if anchor not in ANCHORS:
            raise ValueError(f"unknown date anchor {anchor!r}; {_HELP}")
    days = windows = 0.0
    rest = value[m.end() :]
    while rest:
        t = _TERM.match(rest)
        if not t:
            raise ValueError(f"cannot read {rest.strip()!r} in date rule {value!r}; {_HELP}")
        sign = -1.0 if t.group("sign") == "-" else 1.0
        num = float(t.group("num")) if t.group("num") else 1.0
        unit = t.group("unit")
        if unit == "window":
            windows += sign * num
        else:
            days += sign * num * (7 if unit == "w" else 1)
        rest = rest[t.end() :]
    return DateRule(value, date, anchor, m.group("ref"), days, windows)


_HELP = (
    "write a date (2022-03-08) or a rule such as 'lab_switch', 'lab_switch - window', "
    "'lab_switch - 0.5 window', 'go_live + 14d', 'go_live[site-id] + 2w'"
)


class DateCycleError(ValueError):
    """Date rules that depend on each other in a circle."""


class DateResolver:
    """Evaluates rules for keyed date fields, memoising results and detecting cycles.

    ``lookup(key)`` must return the rule for a key such as ``("site", "ks", "go_live")``;
    ``anchor_key(owner_key, rule)`` maps a rule's anchor to the key it depends on.
    """

    def __init__(
        self,
        lookup: Callable[[tuple[str, str, str]], DateRule],
        anchor_key: Callable[[tuple[str, str, str], DateRule], tuple[str, str, str]],
        window_days: float,
    ):
        self._lookup = lookup
        self._anchor_key = anchor_key
        self._window = window_days
        self._done: dict[tuple[str, str, str], dt.date] = {}

    def resolve(self, key: tuple[str, str, str], _stack: tuple = ()) -> dt.date:
        if key in self._done:
            return self._done[key]
        if key in _stack:
            chain = " -> ".join(f"{k[1]}.{k[2]}" for k in (*_stack[_stack.index(key) :], key))
            raise DateCycleError(f"date rules form a cycle: {chain}")
        rule = self._lookup(key)
        if rule.date is not None:
            base = rule.date
        else:
            base = self.resolve(self._anchor_key(key, rule), (*_stack, key))
        result = base + dt.timedelta(days=rule.offset_days(self._window))
        self._done[key] = result
        return result
