"""Schedule checks and the transition integrations a schedule implies.

The deck's rules become checks that run before any simulation: a lab never runs two LIS at
once, so no unit may order in Millennium before its lab switches; a unit's order/result switch
is not before its own go-live; pause and rollback events do not overlap. Where a schedule is
legal but needs short-lived integrations (a lab on its new LIS still taking orders from a legacy
client; units not yet live reading results from Millennium), :func:`integrations` lists them
with their length, since the deck wants them avoided.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sim import extensions
from sim.scenario.errors import Diagnostic, format_path
from sim.scenario.loading import LoadedScenario
from sim.schedule.schedule import build_schedule


@dataclass(frozen=True)
class Integration:
    """A transition integration: who talks to whom, from when to when."""

    kind: str
    lab: str
    sites: tuple[str, ...]
    start: dt.date
    end: dt.date

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    def describe(self) -> str:
        what = {
            "legacy_orders_to_new_lis": "lab {lab} on its new LIS takes legacy-client orders",
            "new_results_to_legacy_record": "units not yet live read lab {lab}'s results "
            "from Millennium",
        }[self.kind].format(lab=self.lab)
        return (
            f"{what}: {self.start} to {self.end} ({self.days} days), sites {', '.join(self.sites)}"
        )


@extensions.scenario_check
def check_schedule(sc: LoadedScenario) -> list[Diagnostic]:
    """Errors and warnings about the schedule (events applied), located at the fields
    concerned."""
    s, doc = sc.model, sc.doc
    schedule = build_schedule(sc)
    out: list[Diagnostic] = []

    def add(msg: str, path: tuple, severity: str = "error") -> None:
        out.append(Diagnostic(msg, doc.mark(path), format_path(path), severity))

    start, end = s.horizon.start, s.horizon.end
    for i, site in enumerate(s.sites):
        d = schedule.sites[site.id]
        if d.ros_switch is None:
            continue  # paused for good: it never orders in Millennium
        if d.lab_switch is None or d.ros_switch < d.lab_switch:
            add(
                f"order/result switch {d.ros_switch} is before lab {site.lab!r} switches LIS on "
                f"{d.lab_switch}: the lab would run two LIS at once",
                ("sites", i, "ros_switch"),
            )
        go_live_first = d.go_live is not None and d.go_live <= d.ros_switch
        if not go_live_first and not s.policies.allow_ros_before_go_live:
            add(
                f"order/result switch {d.ros_switch} is before the site's go-live {d.go_live} "
                "(set policies.allow_ros_before_go_live to permit)",
                ("sites", i, "ros_switch"),
            )
        for fld, value in (("go_live", d.go_live), ("ros_switch", d.ros_switch)):
            if value is not None and not start <= value <= end:
                add(f"{value} is outside the horizon {start}..{end}", ("sites", i, fld), "warning")
    for i, lab in enumerate(s.labs):
        when = schedule.labs[lab.id]
        if when is not None and not start <= when <= end:
            add(
                f"{when} is outside the horizon {start}..{end}",
                ("labs", i, "lis_switch"),
                "warning",
            )
        if not any(site.lab == lab.id for site in s.sites):
            add(f"lab {lab.id!r} has no sites sending to it", ("labs", i, "id"), "warning")
    out += _event_checks(sc)
    return out


def _event_sites(sc: LoadedScenario, ev) -> set[str]:
    return set(ev.sites) | {site.id for site in sc.model.sites if site.area in ev.areas}


def _event_checks(sc: LoadedScenario) -> list[Diagnostic]:
    s, doc = sc.model, sc.doc
    schedule = build_schedule(sc)
    out: list[Diagnostic] = []
    end = s.horizon.end
    spans = [
        (i, ev, _event_sites(sc, ev), ev.date, ev.until or end)
        for i, ev in enumerate(s.events)
        if ev.type in ("pause", "rollback")
    ]
    for a, b in ((a, b) for n, a in enumerate(spans) for b in spans[n + 1 :]):
        shared = a[2] & b[2]
        if shared and a[3] <= b[4] and b[3] <= a[4]:
            out.append(
                Diagnostic(
                    f"{b[1].type} overlaps events[{a[0]}] ({a[1].type} {a[3]}..{a[4]}) "
                    f"for {', '.join(sorted(shared)[:5])}",
                    doc.mark(("events", b[0], "date")),
                    f"events[{b[0]}].date",
                )
            )
    site_by_id = {site.id: site for site in s.sites}
    for i, ev, sites, first, _last in spans:
        if ev.type != "rollback":
            continue
        for site_id in sorted(sites):
            site = site_by_id[site_id]
            lab_switch = schedule.labs[site.lab]
            covered = _event_sites(sc, ev) >= {x.id for x in s.sites if x.lab == site.lab}
            if lab_switch is not None and lab_switch <= first and not covered:
                out.append(
                    Diagnostic(
                        f"rollback returns {site_id!r} to legacy ordering while lab {site.lab!r} "
                        "stays on its new LIS for other sites: the lab would run two LIS at once",
                        doc.mark(("events", i, "date")),
                        f"events[{i}]",
                    )
                )
                break
    for i, ev in enumerate(s.events):
        if ev.type != "legacy_lock":
            continue
        targets = _event_sites(sc, ev) or {site.id for site in s.sites}
        for site in s.sites:
            if site.id in targets and site.legacy_client == ev.system:
                ros = schedule.sites[site.id].ros_switch
                if ros is None or ros > ev.date:
                    out.append(
                        Diagnostic(
                            f"locks {ev.system!r} on {ev.date} while {site.id!r} still orders labs "
                            f"in it until {ros or 'the end of the horizon'}",
                            doc.mark(("events", i, "date")),
                            f"events[{i}].date",
                        )
                    )
    return out


def integrations(sc: LoadedScenario) -> list[Integration]:
    """Transition integrations implied by the schedule (events applied), per lab and kind."""
    schedule = build_schedule(sc)
    out: list[Integration] = []
    never = dt.date.max
    for lab in sc.model.labs:
        switch = schedule.labs[lab.id]
        if switch is None:
            continue
        sites = [schedule.sites[x.id] for x in sc.model.sites if x.lab == lab.id]
        for kind, field in (
            ("legacy_orders_to_new_lis", "ros_switch"),
            ("new_results_to_legacy_record", "go_live"),
        ):
            later = [x for x in sites if (getattr(x, field) or never) > switch]
            if later:
                last = max(getattr(x, field) or sc.model.horizon.end for x in later)
                ids = tuple(x.site for x in later)
                out.append(Integration(kind, lab.id, ids, switch, last))
    return out
