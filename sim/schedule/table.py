"""The systems timeline of a schedule, as a table a planner can read.

One row per site (group): when it goes live in Millennium, when its lab ordering follows, when
its lab switches LIS, how long it signs and watches in two systems, and when its legacy systems
lock, all with the scenario's events applied. The dates are :mod:`sim.schedule.schedule`'s,
the very ones the model runs on; this module only presents them (an empty cell: never, or
moved beyond the horizon by a pause).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim.scenario.loading import LoadedScenario
from sim.schedule.schedule import build_schedule

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
    """One row per declared site, ordered by go-live date, from :func:`build_schedule`."""
    s = sc.model
    schedule = build_schedule(sc)
    rows = []
    for site in s.sites:
        d = schedule.sites[site.id]
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
                "coexistence_days": d.coexistence_days(s.horizon.end),
                "record_locked": d.record_lock,
                "client_locked": d.client_lock,
                "drain_until": d.client_closed if d.client_closed != d.client_lock else None,
                "events": "; ".join(d.events),
            }
        )
    frame = pd.DataFrame(rows, columns=COLUMNS)
    never = pd.Timestamp.max.date()
    key = frame[["ehr_go_live", "ros_switch"]].map(lambda d: never if d is None else d)
    order = np.lexsort((frame["site"], key["ros_switch"], key["ehr_go_live"]))
    return frame.iloc[order].reset_index(drop=True)
