"""Simulation clock <-> Europe/Stockholm wall clock.

The simulation runs on a float clock: **minutes of elapsed real time since local midnight
(Europe/Stockholm) of the scenario's first day**. Elapsed time, not wall-clock time: a
daylight-saving day is 23 h (1380 min) or 25 h (1500 min) long, so a process that waits
60 minutes always waits one real hour, and every output can still carry a real local
timestamp.

A :class:`Calendar` covers whole days ``start..end`` (inclusive) and answers the questions
the model asks of dates: where does each day begin on the clock, which day is minute ``m``
in, is this a working day, and when do recurring sessions (clinic hours, shifts) happen.

Non-working days are weekends plus the Swedish non-working holidays: the public holidays
reported by the ``holidays`` package (SFS 1989:253) and the three de-facto holidays that
Swedish labour law treats like Sundays: Midsommarafton, Julafton and Nyårsafton. The eves
are derived from the package's Midsommardagen, Juldagen and Nyårsdagen so the set does not
depend on which package version lists them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from functools import cache, cached_property
from numbers import Real
from types import MappingProxyType
from zoneinfo import ZoneInfo

import holidays
import numpy as np
import pandas as pd

__all__ = ["STOCKHOLM", "Calendar"]

STOCKHOLM = ZoneInfo("Europe/Stockholm")
_UTC = dt.UTC
_MINUTE = dt.timedelta(minutes=1)
_DAY = dt.timedelta(days=1)

#: Holiday names are pinned to Swedish; left unset, ``holidays`` picks a language from the
#: process locale, so names would differ between machines.
HOLIDAY_LANGUAGE = "sv"

#: Name the package gives every Sunday when asked to include them (older versions did so
#: by default). A Sunday is a weekend, not a holiday, here.
_SUNDAY_NAMES = frozenset({"Söndag", "Sunday"})

#: De-facto holidays (SFS 1977:480, 7 §): (eve name, public holiday it precedes).
_EVES = (
    ("Midsommarafton", "Midsommardagen"),
    ("Julafton", "Juldagen"),
    ("Nyårsafton", "Nyårsdagen"),  # precedes next year's Nyårsdagen
)

Clock = dt.time | str


def _parse_time(t: Clock) -> tuple[dt.time, int]:
    """Return (wall-clock time, extra days); "24:00" is midnight of the following day."""
    if isinstance(t, dt.time):
        return t, 0
    if t.strip() == "24:00":
        return dt.time(0, 0), 1
    try:
        return dt.time.fromisoformat(t.strip()), 0
    except ValueError:
        raise ValueError(f"expected a time as 'HH:MM', got {t!r}") from None


@cache
def _public_holidays(year: int) -> Mapping[dt.date, str]:
    """Public holidays of one year as {date: name}, Sundays-as-holidays removed."""
    table = holidays.country_holidays(
        "SE",
        years=year,
        language=HOLIDAY_LANGUAGE,
        categories="public",
        include_sundays=False,
    )
    out: dict[dt.date, str] = {}
    for day, names in table.items():
        kept = [n for n in names.split("; ") if n not in _SUNDAY_NAMES]
        if kept:
            out[day] = "; ".join(kept)
    return MappingProxyType(out)


@cache
def _non_working_holidays(year: int) -> Mapping[dt.date, str]:
    """Public holidays plus the three de-facto eves falling in ``year``."""
    days = dict(_public_holidays(year))
    following = {**days, **_public_holidays(year + 1)}
    for eve, holiday in _EVES:
        after = [d for d, n in following.items() if holiday in n.split("; ")]
        eve_days = [d - _DAY for d in after if (d - _DAY).year == year]
        if len(eve_days) != 1:
            raise RuntimeError(
                f"holidays package reported no unique {holiday!r} to place {eve} {year}"
            )
        days.setdefault(eve_days[0], eve)
    return MappingProxyType(days)


class Calendar:
    """Maps the simulation clock to Stockholm dates and times over a horizon of whole days.

    ``Calendar(start, end)`` covers ``start`` 00:00 to ``end + 1 day`` 00:00 local time.
    Arrays (``day_start``, masks) are read-only because models share one calendar.
    """

    tz: ZoneInfo = STOCKHOLM

    def __init__(self, start: dt.date, end: dt.date) -> None:
        for name, d in (("start", start), ("end", end)):
            if isinstance(d, dt.datetime) or not isinstance(d, dt.date):
                raise TypeError(f"{name} must be a datetime.date, got {d!r}")
        if end < start:
            raise ValueError(f"calendar end {end} is before start {start}")
        self.start: dt.date = start
        self.end: dt.date = end
        self.n_days: int = (end - start).days + 1
        self.days: list[dt.date] = [start + i * _DAY for i in range(self.n_days)]
        # Origin in UTC: subtracting two datetimes that share a ZoneInfo ignores DST.
        self._origin = dt.datetime.combine(start, dt.time(), self.tz).astimezone(_UTC)

        midnights = [*self.days, end + _DAY]
        self.day_start: np.ndarray = _readonly(np.array([self.to_minutes(d) for d in midnights]))
        self.horizon_minutes: float = float(self.day_start[-1])

        offsets = [
            (d - start).days
            for year in range(start.year, end.year + 1)
            for d in _non_working_holidays(year)
            if start <= d <= end
        ]
        self.holiday_mask: np.ndarray = _readonly(
            np.isin(np.arange(self.n_days), np.array(offsets, dtype=int))
        )
        self.weekday: np.ndarray = _readonly((np.arange(self.n_days) + start.weekday()) % 7)
        # Minutes by which local noon is early (+) or late (-) against midnight + 720 on the
        # days the clocks change; zero on all other days. Used by local_minutes().
        noons = np.array([self.to_minutes(dt.datetime.combine(d, dt.time(12))) for d in self.days])
        self.dst_shift: np.ndarray = _readonly(self.day_start[:-1] + 720.0 - noons)
        self.working_day_mask: np.ndarray = _readonly((self.weekday < 5) & ~self.holiday_mask)

    def __repr__(self) -> str:
        return f"Calendar({self.start!r}, {self.end!r})"

    # -- clock <-> wall clock ------------------------------------------------------------

    def to_minutes(self, x: dt.date | dt.datetime) -> float:
        """Clock minutes of a date (its local midnight) or datetime.

        Naive datetimes are Stockholm wall clock, resolved by zoneinfo using their ``fold``
        (default 0): a time skipped by the spring change (02:30 on the last Sunday of
        March) is read with the winter offset, i.e. as 03:30 CEST; a time repeated in
        autumn means its first (summer-time) occurrence. Aware datetimes are converted.
        """
        if not isinstance(x, dt.datetime):
            x = dt.datetime.combine(x, dt.time())
        if x.tzinfo is None:
            x = x.replace(tzinfo=self.tz)
        return (x.astimezone(_UTC) - self._origin) / _MINUTE

    def to_datetime(self, minutes: float) -> dt.datetime:
        """Aware Stockholm datetime of a clock reading (microsecond resolution)."""
        return (self._origin + dt.timedelta(minutes=float(minutes))).astimezone(self.tz)

    def to_datetimes(self, minutes: np.ndarray) -> pd.DatetimeIndex:
        """Vectorised :meth:`to_datetime` for a 1-D array; same microsecond rounding."""
        m = np.asarray(minutes, dtype=float)
        if m.ndim != 1:
            raise ValueError(f"expected a 1-D array of minutes, got shape {m.shape}")
        if not np.isfinite(m).all():
            raise ValueError("minutes must be finite")
        # Whole and fractional minutes apart, so microseconds round like timedelta does.
        whole = np.floor(m)
        micros = whole.astype(np.int64) * 60_000_000 + np.rint((m - whole) * 60e6).astype(np.int64)
        utc = pd.Timestamp(self._origin) + pd.to_timedelta(micros, unit="us")
        return pd.DatetimeIndex(utc).tz_convert(self.tz)

    # -- clock -> horizon day ------------------------------------------------------------

    def day_index(self, x: dt.date | float) -> int:
        """Index into ``days`` of a date, datetime or clock reading inside the horizon."""
        if isinstance(x, dt.datetime):
            x = self.to_minutes(x)
        if isinstance(x, dt.date):
            i = (x - self.start).days
            if not 0 <= i < self.n_days:
                raise ValueError(f"{x} is outside the calendar {self.start}..{self.end}")
            return i
        if isinstance(x, Real):
            return int(self.day_indices(np.array([float(x)]))[0])
        raise TypeError(f"expected a date or minutes, got {x!r}")

    def day_indices(self, minutes: np.ndarray) -> np.ndarray:
        """Vectorised :meth:`day_index` for clock readings; each must lie in the horizon."""
        m = np.asarray(minutes, dtype=float)
        outside = ~((m >= 0.0) & (m < self.horizon_minutes))  # also catches NaN
        if outside.any():
            bad = m[outside].flat[0]
            raise ValueError(f"minute {bad} is outside the horizon [0, {self.horizon_minutes})")
        return self._day_of_minute[m.astype(np.intp)]

    @cached_property
    def _day_of_minute(self) -> np.ndarray:
        """Day index of each whole minute of the horizon: a table lookup is many times faster
        than a binary search over ``day_start``. Days start on whole minutes (whole-minute
        zone offsets), so a reading lies in the day of its whole minute."""
        if not np.array_equal(self.day_start, np.floor(self.day_start)):
            raise ValueError("days do not start on whole minutes")
        whole = np.arange(int(self.horizon_minutes))
        return _readonly(np.searchsorted(self.day_start, whole, side="right") - 1)

    def date_of(self, minutes: float) -> dt.date:
        """Local Stockholm date of a clock reading (valid outside the horizon too)."""
        return self.to_datetime(minutes).date()

    # -- day types -----------------------------------------------------------------------

    def _local_date(self, d: dt.date) -> dt.date:
        if isinstance(d, dt.datetime):
            return (d.astimezone(self.tz) if d.tzinfo else d).date()
        return d

    def holiday_name(self, d: dt.date) -> str | None:
        """Swedish name of the public holiday or de-facto eve on ``d``, else None."""
        d = self._local_date(d)
        return _non_working_holidays(d.year).get(d)

    def is_holiday(self, d: dt.date) -> bool:
        """True on public holidays and Midsommarafton, Julafton, Nyårsafton (any weekday)."""
        return self.holiday_name(d) is not None

    def is_public_holiday(self, d: dt.date) -> bool:
        """True only on the legal public holidays (allmänna helgdagar), not the eves."""
        d = self._local_date(d)
        return d in _public_holidays(d.year)

    def is_weekend(self, d: dt.date) -> bool:
        return self._local_date(d).weekday() >= 5

    def is_working_day(self, d: dt.date) -> bool:
        """Monday to Friday and not a holiday or de-facto eve."""
        return not (self.is_weekend(d) or self.is_holiday(d))

    @staticmethod
    def week_start(d: dt.date) -> dt.date:
        """Monday of the ISO week containing ``d``."""
        return d - d.weekday() * _DAY

    # -- wall-clock windows --------------------------------------------------------------

    def window(self, d: dt.date, start: Clock, end: Clock) -> tuple[float, float]:
        """Clock minutes of the local wall-clock window ``start``-``end`` on day ``d``.

        ``end`` may be "24:00"; an ``end`` at or before ``start`` means the next day, so
        "22:00"-"07:00" is a night and "07:00"-"07:00" a full (23/24/25 h) day. The length
        is real elapsed minutes, so a window spanning a DST change is an hour off its
        wall-clock length.
        """
        t0, _ = _parse_time(start)
        t1, extra = _parse_time(end)
        if not extra and t1 <= t0:
            extra = 1
        return (
            self.to_minutes(dt.datetime.combine(d, t0)),
            self.to_minutes(dt.datetime.combine(d + extra * _DAY, t1)),
        )

    def local_minutes(self, day: np.ndarray, minute_of_day: np.ndarray) -> np.ndarray:
        """Simulation minutes of local wall-clock times, vectorized.

        ``day`` holds horizon day indices and ``minute_of_day`` local minutes after midnight.
        On a day the clocks change, times from 03:00 on are shifted by the hour that was
        skipped or repeated (times inside the changed hour itself are approximate).
        """
        day = np.asarray(day)
        minute_of_day = np.asarray(minute_of_day, dtype=float)
        after = minute_of_day >= 180.0
        return self.day_start[day] + minute_of_day - self.dst_shift[day] * after

    def session_windows(self, sessions: list[tuple[str, int]], days: str = "working") -> np.ndarray:
        """All occurrences of daily sessions over the horizon as a sorted (k, 2) array.

        Each session is ``("HH:MM", duration_minutes)``: it starts at that local wall-clock
        time and lasts that many real minutes (it may run past midnight). ``days`` is
        "working" (working days only) or "all".
        """
        if days == "working":
            chosen = np.flatnonzero(self.working_day_mask)
        elif days == "all":
            chosen = np.arange(self.n_days)
        else:
            raise ValueError(f"days must be 'working' or 'all', got {days!r}")
        rows = []
        for clock, duration in sessions:
            if duration <= 0:
                raise ValueError(f"session {clock} has non-positive duration {duration}")
            t, extra = _parse_time(clock)
            starts = np.array(
                [
                    self.to_minutes(dt.datetime.combine(self.days[i] + extra * _DAY, t))
                    for i in chosen
                ],
                dtype=float,
            )
            rows.append(np.column_stack([starts, starts + float(duration)]))
        if not rows:
            return np.empty((0, 2))
        out = np.concatenate(rows)
        return out[np.lexsort((out[:, 1], out[:, 0]))]


def _readonly(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a
