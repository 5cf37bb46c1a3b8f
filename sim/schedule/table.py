"""The systems timeline of a schedule, as a table a planner can read.

One row per site (group): when it goes live in Millennium, when its lab ordering follows, when
its lab switches LIS, how long it signs and watches in two systems, and when its legacy systems
lock. The model reads the same dates; this module only presents them.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from sim.scenario.loading import LoadedScenario

COLUMNS = [
    "site",
    "name",
    "kind",
    "area",
    "count",
    "lab",
    "ehr_go_live",
    "ros_switch",
    "lab_lis_switch",
    "coexistence_days",
    "record_locked",
    "client_locked",
    "drain_until",
    "events",
]


def timeline_frame(sc: LoadedScenario) -> pd.DataFrame:
    """One row per declared site, ordered by go-live date."""
    s = sc.model
    systems = {sy.id: sy for sy in s.systems}
    lock = s.policies.lock
    rows = []
    for site in s.sites:
        d = sc.site_dates[site.id]
        record_lock = _lock_date(systems[site.legacy_record].locks, d.go_live, sc)
        client_lock = _lock_date(systems[site.legacy_client].locks, d.ros_switch, sc)
        drain = (
            client_lock + dt.timedelta(days=round(lock.drain_days))
            if client_lock and lock.mode == "drain"
            else None
        )
        events = [
            f"{ev.type} {ev.date}" + (f"..{ev.until}" if ev.until else "")
            for ev in s.events
            if site.id in ev.sites or site.area in ev.areas
        ]
        rows.append(
            {
                "site": site.id,
                "name": site.name,
                "kind": site.kind,
                "area": site.area,
                "count": site.count,
                "lab": site.lab,
                "ehr_go_live": d.go_live,
                "ros_switch": d.ros_switch,
                "lab_lis_switch": d.lab_switch,
                "coexistence_days": d.coexistence_days,
                "record_locked": record_lock,
                "client_locked": client_lock,
                "drain_until": drain,
                "events": "; ".join(events),
            }
        )
    frame = pd.DataFrame(rows, columns=COLUMNS)
    return frame.sort_values(["ehr_go_live", "ros_switch", "site"], kind="stable").reset_index(
        drop=True
    )


def _lock_date(rule: str, own: dt.date, sc: LoadedScenario) -> dt.date | None:
    if rule == "per_site":
        return own
    if rule == "when_all_live":
        return max(d.go_live for d in sc.site_dates.values())
    return None
