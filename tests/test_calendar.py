"""Tests for sim.sampling.calendar: Swedish day types, DST-correct clock, session windows.

Expected dates are Swedish facts (checked against an almanac), not outputs of the code.
"""

import datetime as dt
from zoneinfo import ZoneInfo

import holidays
import numpy as np
import pandas as pd
import pytest

from sim.sampling.calendar import Calendar

D = dt.date
STHLM = ZoneInfo("Europe/Stockholm")
UTC = dt.UTC


@pytest.fixture(scope="module")
def cal2y() -> Calendar:
    return Calendar(D(2022, 1, 1), D(2023, 12, 31))


# -- construction ----------------------------------------------------------------------


def test_end_before_start_raises():
    with pytest.raises(ValueError, match="before start"):
        Calendar(D(2022, 5, 2), D(2022, 5, 1))


def test_single_day_horizon():
    cal = Calendar(D(2022, 5, 2), D(2022, 5, 2))
    assert cal.n_days == 1
    assert cal.days == [D(2022, 5, 2)]
    assert cal.day_start.tolist() == [0.0, 1440.0]
    assert cal.horizon_minutes == 1440.0


def test_days_and_lengths(cal2y):
    assert cal2y.n_days == 365 + 365
    assert cal2y.days[0] == D(2022, 1, 1) and cal2y.days[-1] == D(2023, 12, 31)
    assert len(cal2y.day_start) == cal2y.n_days + 1
    assert cal2y.day_start[0] == 0.0
    assert cal2y.tz.key == "Europe/Stockholm"


def test_arrays_are_read_only(cal2y):
    for arr in (cal2y.day_start, cal2y.working_day_mask, cal2y.holiday_mask, cal2y.weekday):
        with pytest.raises(ValueError):
            arr[0] = arr[1]


# -- DST -------------------------------------------------------------------------------


def test_dst_day_lengths(cal2y):
    lengths = dict(zip(cal2y.days, np.diff(cal2y.day_start), strict=True))
    # EU rule: clocks change on the last Sunday of March and of October.
    assert lengths[D(2022, 3, 27)] == 23 * 60
    assert lengths[D(2022, 10, 30)] == 25 * 60
    assert lengths[D(2023, 3, 26)] == 23 * 60
    assert lengths[D(2023, 10, 29)] == 25 * 60
    others = {v for d, v in lengths.items() if d.month not in (3, 10) or d.day < 26}
    assert others == {24 * 60}


def test_horizon_is_sum_of_real_day_lengths(cal2y):
    def real_minutes(d: dt.date) -> float:
        a = dt.datetime.combine(d, dt.time(), STHLM).astimezone(UTC)
        b = dt.datetime.combine(d + dt.timedelta(days=1), dt.time(), STHLM).astimezone(UTC)
        return (b - a).total_seconds() / 60

    assert cal2y.horizon_minutes == sum(real_minutes(d) for d in cal2y.days)
    # Two short and two long days cancel out over whole years.
    assert cal2y.horizon_minutes == 730 * 24 * 60


def test_spring_forward_clock():
    cal = Calendar(D(2022, 3, 27), D(2022, 3, 28))
    # 02:00 CET jumps to 03:00 CEST: 180 elapsed minutes after midnight reads 04:00.
    assert cal.to_datetime(120) == dt.datetime(2022, 3, 27, 3, 0, tzinfo=STHLM)
    assert cal.to_datetime(180).isoformat() == "2022-03-27T04:00:00+02:00"
    assert cal.to_minutes(dt.datetime(2022, 3, 27, 4, 0)) == 180
    # Nonexistent 02:30 is read with the pre-change offset (fold=0), i.e. as 03:30 CEST.
    assert cal.to_minutes(dt.datetime(2022, 3, 27, 2, 30)) == 150
    assert cal.to_minutes(dt.datetime(2022, 3, 27, 3, 30)) == 150


def test_fall_back_clock():
    cal = Calendar(D(2022, 10, 30), D(2022, 10, 31))
    # 03:00 CEST goes back to 02:00 CET: 02:30 happens twice.
    assert cal.to_minutes(dt.datetime(2022, 10, 30, 2, 30)) == 150  # fold=0: first
    assert cal.to_minutes(dt.datetime(2022, 10, 30, 2, 30, fold=1)) == 210
    assert cal.to_datetime(150).isoformat() == "2022-10-30T02:30:00+02:00"
    assert cal.to_datetime(210).isoformat() == "2022-10-30T02:30:00+01:00"
    assert cal.to_minutes(D(2022, 10, 31)) == 25 * 60


def test_aware_datetimes_are_converted():
    cal = Calendar(D(2022, 6, 1), D(2022, 6, 30))
    noon_utc = dt.datetime(2022, 6, 1, 10, 0, tzinfo=UTC)  # 12:00 CEST
    assert cal.to_minutes(noon_utc) == 12 * 60
    assert cal.to_minutes(dt.datetime(2022, 6, 1, 12, 0, tzinfo=STHLM)) == 12 * 60


def test_round_trip_across_dst(cal2y):
    grid = np.arange(-3000.0, cal2y.horizon_minutes + 3000.0, 7.5)
    for m in grid:
        back = cal2y.to_minutes(cal2y.to_datetime(m))
        assert back == m, m
    rng = np.random.default_rng(1)
    for m in rng.uniform(0, cal2y.horizon_minutes, 500):
        # datetime has microsecond resolution: 1 us = 1/60e6 min.
        assert cal2y.to_minutes(cal2y.to_datetime(m)) == pytest.approx(m, abs=1e-8)


def test_to_datetimes_matches_scalar(cal2y):
    rng = np.random.default_rng(2)
    m = np.concatenate(
        [
            cal2y.day_start,
            np.arange(120_000.0, 124_000.0, 30.0),  # around 2022-03-27
            rng.uniform(0, cal2y.horizon_minutes, 300),
        ]
    )
    idx = cal2y.to_datetimes(m)
    assert isinstance(idx, pd.DatetimeIndex)
    assert str(idx.tz) == "Europe/Stockholm"
    assert len(idx) == len(m)
    for ts, mi in zip(idx, m, strict=True):
        expected = cal2y.to_datetime(mi)
        assert ts == expected
        assert ts.utcoffset() == expected.utcoffset()


def test_to_datetimes_local_midnights(cal2y):
    idx = cal2y.to_datetimes(cal2y.day_start)
    assert (idx.hour == 0).all() and (idx.minute == 0).all()
    assert list(idx.date[:-1]) == cal2y.days


# -- clock -> day ----------------------------------------------------------------------


def test_day_index_boundaries(cal2y):
    starts = cal2y.day_start
    assert cal2y.day_indices(starts[:-1]).tolist() == list(range(cal2y.n_days))
    assert cal2y.day_indices(starts[1:] - 1e-6).tolist() == list(range(cal2y.n_days))
    i = cal2y.days.index(D(2022, 10, 30))
    assert cal2y.day_index(float(starts[i]) + 24 * 60 + 30) == i  # 25-hour day
    assert cal2y.day_index(D(2022, 10, 30)) == i
    assert cal2y.day_index(dt.datetime(2022, 10, 30, 23, 59)) == i
    assert cal2y.date_of(float(starts[i]) + 24 * 60 + 30) == D(2022, 10, 30)
    assert cal2y.date_of(float(starts[i + 1])) == D(2022, 10, 31)


def test_day_index_outside_horizon_raises(cal2y):
    with pytest.raises(ValueError):
        cal2y.day_index(-0.5)
    with pytest.raises(ValueError):
        cal2y.day_index(cal2y.horizon_minutes)
    with pytest.raises(ValueError):
        cal2y.day_index(D(2024, 1, 1))
    with pytest.raises(ValueError):
        cal2y.day_indices(np.array([10.0, np.nan]))


# -- day types -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (D(2022, 4, 14), True),  # Skärtorsdagen (Maundy Thursday) is a working day
        (D(2022, 4, 15), False),  # Långfredagen
        (D(2022, 4, 18), False),  # Annandag påsk
        (D(2022, 4, 19), True),
        (D(2023, 4, 6), True),
        (D(2023, 4, 7), False),
        (D(2023, 4, 10), False),
        (D(2022, 6, 23), True),
        (D(2022, 6, 24), False),  # Midsommarafton, Friday
        (D(2023, 6, 22), True),
        (D(2023, 6, 23), False),  # Midsommarafton, Friday
        (D(2022, 5, 26), False),  # Kristi himmelsfärdsdag
        (D(2022, 6, 6), False),  # Nationaldagen, Monday
        (D(2021, 12, 23), True),
        (D(2021, 12, 24), False),  # Julafton, Friday
        (D(2021, 12, 31), False),  # Nyårsafton, Friday
        (D(2022, 1, 5), True),
        (D(2022, 1, 6), False),  # Trettondedag jul
    ],
)
def test_working_days(day, working):
    cal = Calendar(D(2021, 12, 1), D(2023, 12, 31))
    assert cal.is_working_day(day) is working
    assert bool(cal.working_day_mask[cal.day_index(day)]) is working
    assert not cal.is_weekend(day)  # every case above is a weekday


def test_holiday_names_and_kinds():
    cal = Calendar(D(2022, 1, 1), D(2023, 12, 31))
    assert cal.holiday_name(D(2022, 4, 15)) == "Långfredagen"
    assert cal.holiday_name(D(2022, 4, 17)) == "Påskdagen"  # a Sunday, named once
    assert cal.holiday_name(D(2022, 6, 24)) == "Midsommarafton"
    assert cal.holiday_name(D(2022, 6, 25)) == "Midsommardagen"
    assert cal.holiday_name(D(2023, 6, 24)) == "Midsommardagen"
    assert cal.holiday_name(D(2022, 4, 14)) is None
    # Eves are non-working holidays but not legal public holidays.
    assert cal.is_holiday(D(2022, 6, 24)) and not cal.is_public_holiday(D(2022, 6, 24))
    assert cal.is_holiday(D(2022, 6, 25)) and cal.is_public_holiday(D(2022, 6, 25))
    assert cal.is_holiday(D(2023, 12, 24)) and cal.is_holiday(D(2023, 12, 31))
    # Ordinary Sundays are weekends, not holidays.
    assert not cal.is_holiday(D(2022, 4, 10))
    assert cal.holiday_name(D(2022, 4, 10)) is None
    assert cal.is_weekend(D(2022, 4, 10)) and not cal.is_working_day(D(2022, 4, 10))
    # Påskafton (Saturday) is neither public nor one of the three eves.
    assert not cal.is_holiday(D(2022, 4, 16)) and cal.is_weekend(D(2022, 4, 16))


def test_datetime_arguments_use_local_date():
    cal = Calendar(D(2022, 6, 1), D(2022, 6, 30))
    late_utc = dt.datetime(2022, 6, 23, 22, 30, tzinfo=UTC)  # 00:30 on 24 June in Sweden
    assert cal.is_holiday(late_utc)
    assert cal.is_working_day(dt.datetime(2022, 6, 23, 23, 59))


def test_weekday_array(cal2y):
    assert cal2y.weekday[0] == 5  # 2022-01-01 was a Saturday
    assert cal2y.weekday[cal2y.day_index(D(2022, 1, 3))] == 0
    assert cal2y.weekday.tolist() == [d.weekday() for d in cal2y.days]
    weekend = cal2y.weekday >= 5
    assert weekend.tolist() == [cal2y.is_weekend(d) for d in cal2y.days]
    assert cal2y.holiday_mask.tolist() == [cal2y.is_holiday(d) for d in cal2y.days]


def test_working_day_counts(cal2y):
    # 260 weekdays in each year, minus weekday holidays/eves counted by hand:
    # 2022: Jan 6, Apr 15, Apr 18, May 26, Jun 6, Jun 24, Dec 26            -> 7
    # 2023: Jan 6, Apr 7, Apr 10, May 1, May 18, Jun 6, Jun 23, Dec 25, 26 -> 9
    years = np.array([d.year for d in cal2y.days])
    assert cal2y.working_day_mask[years == 2022].sum() == 253
    assert cal2y.working_day_mask[years == 2023].sum() == 251


def test_holiday_count_matches_package(cal2y):
    table = holidays.country_holidays("SE", years=[2022, 2023], include_sundays=False)
    public = {
        d
        for d, names in table.items()
        if any(n not in ("Söndag", "Sunday") for n in names.split("; "))
    }
    assert len(public) == 2 * 13  # Sweden has 13 public holidays a year since 2005
    on_weekdays = {d for d in public if d.weekday() < 5}
    # Midsommarafton, Julafton, Nyårsafton from the almanac.
    eves = {D(2022, 6, 24), D(2022, 12, 24), D(2022, 12, 31)}
    eves |= {D(2023, 6, 23), D(2023, 12, 24), D(2023, 12, 31)}
    assert {d for d in cal2y.days if cal2y.is_holiday(d) and not cal2y.is_public_holiday(d)} == eves
    weekday_mask = cal2y.weekday < 5
    assert (cal2y.holiday_mask & weekday_mask).sum() == len(on_weekdays) + sum(
        d.weekday() < 5 for d in eves
    )
    assert {d for d in cal2y.days if cal2y.is_public_holiday(d)} == public


def test_eves_agree_with_package_de_facto_category():
    if "de_facto" not in getattr(holidays.SE, "supported_categories", ()):
        pytest.skip("this holidays version has no DE_FACTO category")
    years = range(2019, 2027)
    de_facto = holidays.country_holidays("SE", years=years, categories="de_facto")
    cal = Calendar(D(2019, 1, 1), D(2026, 12, 31))
    ours = {d for d in cal.days if cal.is_holiday(d) and not cal.is_public_holiday(d)}
    assert ours == set(de_facto)


def test_week_start():
    assert Calendar.week_start(D(2022, 4, 17)) == D(2022, 4, 11)
    assert Calendar.week_start(D(2022, 4, 11)) == D(2022, 4, 11)


# -- windows ---------------------------------------------------------------------------


def test_window_same_day():
    cal = Calendar(D(2022, 5, 2), D(2022, 5, 8))
    assert cal.window(D(2022, 5, 3), "08:00", "16:30") == (1440 + 480, 1440 + 990)
    assert cal.window(D(2022, 5, 3), dt.time(8), dt.time(16, 30)) == (1920, 2430)
    assert cal.window(D(2022, 5, 3), "00:00", "24:00") == (1440, 2880)


def test_window_crossing_midnight():
    cal = Calendar(D(2022, 10, 28), D(2022, 11, 1))
    a, b = cal.window(D(2022, 10, 28), "22:00", "07:00")
    assert (a, b) == (22 * 60, 31 * 60)
    a, b = cal.window(D(2022, 10, 29), "22:00", "07:00")
    assert b - a == 10 * 60  # the night clocks go back lasts an hour longer
    assert cal.to_datetime(b).isoformat() == "2022-10-30T07:00:00+01:00"
    a, b = cal.window(D(2022, 10, 29), "07:00", "07:00")
    assert b - a == 25 * 60


def test_window_spring_dst():
    cal = Calendar(D(2022, 3, 26), D(2022, 3, 28))
    a, b = cal.window(D(2022, 3, 27), "01:00", "04:00")
    assert b - a == 2 * 60
    assert cal.window(D(2022, 3, 27), "00:00", "24:00") == (1440, 1440 + 23 * 60)


def test_window_rejects_bad_time():
    cal = Calendar(D(2022, 5, 2), D(2022, 5, 8))
    with pytest.raises(ValueError, match="HH:MM"):
        cal.window(D(2022, 5, 3), "8 am", "16:00")


def test_session_windows_skip_holiday():
    # Week of Kristi himmelsfärdsdag (Thursday 2022-05-26).
    cal = Calendar(D(2022, 5, 23), D(2022, 5, 29))
    w = cal.session_windows([("13:00", 240), ("08:00", 210)])
    assert w.shape == (8, 2)
    starts = cal.to_datetimes(w[:, 0])
    expected_days = [D(2022, 5, 23), D(2022, 5, 24), D(2022, 5, 25), D(2022, 5, 27)]
    assert sorted(set(starts.date)) == expected_days
    assert set(zip(starts.hour, starts.minute, strict=True)) == {(8, 0), (13, 0)}
    assert np.all(np.diff(w[:, 0]) > 0)  # sorted
    assert sorted(np.unique(w[:, 1] - w[:, 0]).tolist()) == [210.0, 240.0]
    assert cal.session_windows([("08:00", 60)], days="all").shape == (7, 2)


def test_session_windows_over_midnight_and_dst():
    cal = Calendar(D(2022, 10, 29), D(2022, 10, 31))
    w = cal.session_windows([("22:00", 600)], days="all")
    assert w.shape == (3, 2)
    ends = cal.to_datetimes(w[:, 1])
    # 600 real minutes from 22:00 is 08:00 next day, 07:00 on the night clocks go back.
    assert ends.hour.tolist() == [7, 8, 8]
    assert ends.date.tolist() == [D(2022, 10, 30), D(2022, 10, 31), D(2022, 11, 1)]


def test_session_windows_validation():
    cal = Calendar(D(2022, 5, 2), D(2022, 5, 8))
    assert cal.session_windows([]).shape == (0, 2)
    with pytest.raises(ValueError):
        cal.session_windows([("08:00", 60)], days="weekdays")
    with pytest.raises(ValueError):
        cal.session_windows([("08:00", 0)])


def test_local_minutes_match_wall_clock_conversion_across_dst():
    cal = Calendar(dt.date(2022, 3, 20), dt.date(2022, 11, 5))
    for d in (
        dt.date(2022, 3, 26),
        dt.date(2022, 3, 27),
        dt.date(2022, 3, 28),
        dt.date(2022, 10, 30),
    ):
        i = (d - cal.start).days
        for m in (60, 200, 600, 1400):
            exact = cal.to_minutes(dt.datetime.combine(d, dt.time(m // 60, m % 60)))
            assert cal.local_minutes(np.array([i]), np.array([m]))[0] == pytest.approx(exact)
