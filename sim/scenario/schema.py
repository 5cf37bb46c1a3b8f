"""The scenario format: what a planner may write, checked field by field.

Pydantic v2 models with unknown keys rejected, so a typo is an error and never a silently
ignored setting. Cross-references (a site's lab, kind and area; distribution names) are
checked later in :mod:`sim.scenario.loading`, where the source marks are at hand.
``cutover schema`` prints the JSON Schema of :class:`Scenario` for editors.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from sim.scenario.dates import parse_rule


class Strict(BaseModel):
    """Base for every scenario model: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


Id = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=64)]
Share = Annotated[float, Field(ge=0.0, le=1.0)]
NonNeg = Annotated[float, Field(ge=0.0)]
Positive = Annotated[float, Field(gt=0.0)]
DistRef = Annotated[str, Field(description="name of a distribution in the library")]


@dataclass(frozen=True)
class SourcedIn:
    """Marks a number that may instead name a distribution of the library, in this unit:
    the scenario then cites where the number comes from, and runs on the distribution's
    mean (:func:`sim.scenario.loading.resolve_sourced`)."""

    unit: str


def sourced(number: Any, unit: str, optional: bool = False) -> Any:
    """A number field that also accepts the name of a library distribution in ``unit``."""
    kind = number | str | None if optional else number | str
    return Annotated[
        kind,
        SourcedIn(unit),
        Field(description=f"a number, or the name of a distribution in {unit}"),
    ]


def _check_rule(value: Any) -> Any:
    parse_rule(value)
    return value


DateOrRule = Annotated[
    dt.date | str,
    AfterValidator(_check_rule),
    Field(description="a date YYYY-MM-DD or a rule such as 'lab_switch - window'"),
]

_CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def _check_clock(value: str) -> str:
    if not _CLOCK.match(value):
        raise ValueError(f"expected a wall-clock time HH:MM, got {value!r}")
    return value


Clock = Annotated[str, AfterValidator(_check_clock), Field(description="HH:MM, Europe/Stockholm")]


class Horizon(Strict):
    """Simulated period, whole days, Europe/Stockholm wall clock."""

    start: dt.date
    end: dt.date

    @model_validator(mode="after")
    def _ordered(self) -> Horizon:
        if self.end <= self.start:
            raise ValueError(f"end ({self.end}) must be after start ({self.start})")
        return self


class Area(Strict):
    id: Id
    name: str
    support_per_day: sourced(NonNeg, "supporters", optional=True) = Field(
        None,
        description="go-live supporters (super users, floor walkers, service desk) the area "
        "can field per day, shared by its units in their go-live and lab-switch weeks "
        "(null: every unit gets its planned ratio)",
    )


class TestCategory(Strict):
    """A family of analyses with its own turnaround and abnormal/critical shares."""

    id: Id
    share: Share = Field(description="share of orders in this category")
    turnaround: DistRef = Field(description="lab turnaround time distribution (hours)")
    abnormal_share: Share
    critical_share: Share = Field(description="share of results that are critical")
    due_hours: Positive = Field(description="a result not back by then becomes a chase task")


class Lab(Strict):
    """A laboratory with its LIS switch and analytic capacity."""

    id: Id
    name: str
    area: str
    lis_switch: DateOrRule
    legacy_lis: str = "legacy LIS"
    capacity_per_hour: Positive = Field(description="analyses the lab can complete per hour")
    switch_downtime_hours: sourced(NonNeg, "h") = 8.0
    productivity_dip: Share = Field(0.3, description="capacity lost right after the switch")
    dip_recovery_days: Positive = 14.0
    lid_continuity: bool = Field(True, description="lab ID numbers continue across the switch")
    manual_matching_share: Share = Field(
        0.05, description="share of in-flight samples needing manual matching without LID"
    )


class LegacySystem(Strict):
    """A system Millennium replaces; locked read-only per site, or kept until all are live."""

    id: Id
    name: str
    roles: list[Literal["record", "order_result", "care_planning", "other"]]
    locks: Literal["per_site", "when_all_live", "never"] = "per_site"
    note: str = ""


class Session(Strict):
    """A recurring inbox session: wall-clock start and length."""

    at: Clock
    minutes: Annotated[int, Field(gt=0, le=24 * 60)]


class OnCall(Strict):
    """A duty arrangement over long closures (:mod:`sim.model.oncall`): on every day of a
    closure that contains a public holiday and lasts at least ``min_closed_days``, a duty
    doctor takes the lab's calls for critical results and reviews the unsigned abnormal
    results in the unit's inboxes at ``review_at``."""

    min_closed_days: Annotated[int, Field(ge=1)] = Field(
        3, description="shortest closure with a public holiday that has on-call cover"
    )
    review_at: list[Clock] = Field(
        default_factory=lambda: ["10:00"], min_length=1, description="review rounds per day"
    )
    review_minutes: sourced(Positive, "min") = Field(
        3.0, description="duty doctor's minutes per abnormal result reviewed"
    )
    phone_after_hours: bool = Field(
        False,
        description="an out-of-hours doctor also takes the lab's calls whenever the unit is "
        "closed (evenings, ordinary weekends)",
    )


class CriticalCalls(Strict):
    """The lab phones critical results to the unit (:mod:`sim.model.phone`)."""

    delay_minutes: sourced(NonNeg, "min") = Field(
        4.0, description="from the result to the lab's call"
    )
    talk_minutes: sourced(NonNeg, "min") = Field(
        3.0, description="the receiving clinician's minutes per call reached"
    )


class SiteKind(Strict):
    """Defaults shared by all sites of one kind (health centre, hospital unit, ...)."""

    setting: Literal["primary", "inpatient", "rehab", "habilitation"]
    sessions: list[Session]
    session_days: Literal["working", "all"] = "working"
    late_threshold_hours: Positive = Field(description="an abnormal result later than this is late")
    critical_threshold_hours: Positive = 2.0
    late_clock: Literal["calendar", "working_days"] = Field(
        "calendar",
        description="how late_threshold_hours is counted: elapsed time, or only the days the "
        "kind holds sessions (critical_threshold_hours always runs on the calendar)",
    )
    on_call: OnCall | None = Field(None, description="duty arrangement over long closures")
    cover_after_days: Annotated[int, Field(ge=0)] | None = Field(
        None, description="overrides staffing.cover_after_days for this kind"
    )
    weekday_profile: list[NonNeg] = Field(
        default_factory=lambda: [1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0],
        min_length=7,
        max_length=7,
        description="relative order volume Monday..Sunday",
    )
    holiday_factor: NonNeg = Field(0.0, description="volume on a public holiday, relative")
    order_hours: tuple[int, int] = Field((8, 17), description="orders are placed in [from, to)")
    message_minutes_per_day: sourced(NonNeg, "min") = Field(
        0.0, description="other inbox work per signer and session day (messages, referrals)"
    )
    refresh: bool = Field(
        False, description="signers look again at the inbox when they run out of work"
    )
    inputs: dict[str, DistRef] = Field(
        default_factory=dict, description="per-kind overrides of the scenario's input roles"
    )
    learning_time_constant_days: sourced(Positive, "days", optional=True) = Field(
        None, description="overrides staffing.learning_curve.time_constant_days for this kind"
    )


class Site(Strict):
    """A unit, or a group of similar units declared once with ``count``."""

    id: Id
    name: str
    kind: str
    area: str
    lab: str
    stage: int | None = None
    count: Annotated[int, Field(ge=1)] = 1
    provider: Literal["public", "private_vgr_it", "private_own_system"] = "public"
    legacy_record: str
    legacy_client: str
    go_live: DateOrRule
    ros_switch: DateOrRule = "lab_switch"
    orders_per_day: Positive | str = Field(
        description="mean lab orders per site on a full day, or the name of a distribution "
        "whose mean is used (so the scenario cites what the volume rests on)"
    )
    signers: Annotated[int, Field(ge=1)] = Field(
        description="clinicians per site who sign lab results, each with their own inbox"
    )
    records: Annotated[int, Field(ge=0)] = Field(0, description="patient records listed (PAL)")
    note: str = ""


class Event(Strict):
    """A schedule event beyond the sites' own dates: a lock, a pause or a rollback."""

    type: Literal["legacy_lock", "pause", "rollback"]
    date: dt.date
    until: dt.date | None = None
    sites: list[str] = Field(default_factory=list)
    areas: list[str] = Field(default_factory=list)
    system: str | None = Field(None, description="legacy system (legacy_lock only)")
    note: str = ""

    @model_validator(mode="after")
    def _shape(self) -> Event:
        if self.until is not None and self.until < self.date:
            raise ValueError(f"until ({self.until}) is before date ({self.date})")
        if self.type == "legacy_lock" and not self.system:
            raise ValueError("a legacy_lock event names the system it locks")
        if self.type != "legacy_lock" and self.system:
            raise ValueError(f"'system' applies to legacy_lock events, not {self.type}")
        if not self.sites and not self.areas and self.type != "legacy_lock":
            raise ValueError(f"a {self.type} event names the sites or areas it affects")
        return self


class LockPolicy(Strict):
    """What happens to results of legacy orders still outstanding when the client locks."""

    mode: str = Field(
        "drain",
        description="drain, reroute, lost, or a lock policy registered in sim.extensions",
    )
    params: dict[str, Any] = Field(
        default_factory=dict, description="parameters of a registered (extension) policy"
    )
    drain_days: NonNeg = Field(28.0, description="legacy inbox stays readable this long")
    reroute_capacity_per_day: NonNeg = Field(200.0, description="central queue, results/day")
    reroute_minutes_per_result: Positive = 5.0
    priority_days: NonNeg = Field(
        7.0,
        description="signers know the legacy inbox's deadline: this many days before it, "
        "they work the legacy inbox as their home inbox (0: never)",
    )


class VolumeReduction(Strict):
    """Planned reduction of elective volume around a site's go-live."""

    share: Share = 0.2
    days_before: NonNeg = 2
    days_after: NonNeg = 14


class Policies(Strict):
    coexistence_window_days: NonNeg = Field(
        28, description="the 'window' in date rules: weeks of dual signing before a lab switch"
    )
    lock: LockPolicy = Field(default_factory=LockPolicy)
    overtime_cap_hours_per_week: NonNeg = Field(4.0, description="per signer")
    allow_ros_before_go_live: bool = False
    volume_reduction: VolumeReduction = Field(default_factory=VolumeReduction)
    cutover_downtime_hours: sourced(NonNeg, "h") = 4.0
    cutover_downtime_start: Clock = "07:00"
    max_workload_share: Share = Field(
        0.5, description="share of a session that scheduled workload (migration, ...) may take"
    )
    paper_matching_error_share: Share = 0.01
    lookup_share_at_go_live: Share = Field(0.3, description="tasks needing a legacy jump-out")
    lookup_half_life_days: Positive = 45.0
    critical_calls: CriticalCalls | None = Field(
        None, description="the lab phones critical results (null: it does not)"
    )


class LearningCurve(Strict):
    initial_multiplier: sourced(Annotated[float, Field(ge=1.0)], "ratio") = 2.0
    time_constant_days: sourced(Positive, "days") = 21.0
    ros_initial_multiplier: sourced(Annotated[float, Field(ge=1.0)], "ratio") = Field(
        2.0,
        description="second learning step: multiplier of the order-entry time at the unit's "
        "lab-ordering (ROS) switch, decaying with the same time constant",
    )


class Staffing(Strict):
    training_hours: NonNeg = Field(16.0, description="per staff member, before go-live")
    training_weeks: Positive = 4.0
    learning_curve: LearningCurve = Field(default_factory=LearningCurve)
    super_users_per_10_staff: sourced(NonNeg, "per_10_staff") = Field(
        1.0, description="go-live support each unit asks for, per 10 signers"
    )
    super_user_speedup: Share = Field(
        0.3, description="share of the learning time constant removed at 1 super user per 10"
    )
    support_days: sourced(Positive, "days") = Field(
        21.0, description="days of at-the-elbow support after a go-live and after a ROS switch"
    )
    absence_share: sourced(Share, "share") = 0.08
    overlooked_share: sourced(Share, "share") = Field(
        0.0,
        description="share of results read and put aside at first, taken up again only after "
        "the overlooked_delay input (sim.model.overlooked); 0: every result is acted on when read",
    )
    second_inbox_check_share: sourced(Share, "share") = Field(
        0.0,
        description="share of sessions in which a signer opens the second inbox right after "
        "the home inbox's abnormal results, before the messages, and works its abnormal results "
        "(sim.model.triage); 0: the second inbox only when time is left",
    )
    absence_spell_days: Positive = Field(5.0, description="mean length of an absence spell")
    cover_after_days: Annotated[int, Field(ge=0)] | None = Field(
        2,
        description="a colleague covers an absent signer's inbox after this many days "
        "(null: never)",
    )
    extra_signers: dict[str, int] = Field(
        default_factory=dict, description="extra signers per site, by site kind"
    )


class InfoSet(Strict):
    name: str
    rows_per_site: NonNeg
    machine_migrated: bool = True


class Migration(Strict):
    breakpoint_rows: Annotated[int, Field(ge=0)] = 3000
    info_sets: list[InfoSet] = Field(default_factory=list)
    manual_days_before_go_live: Positive = 21.0
    validation_hours_per_site: sourced(NonNeg, "h") = 6.0
    pal_migrated: bool = False
    relabel_days_after_go_live: Positive = 30.0
    reserve_numbers_per_site: NonNeg = 5.0
    reserve_number_days_after_go_live: Positive = 7.0


class StopRule(Strict):
    """A command centre's daily stop rule, per area, after each planned go-live
    (:mod:`sim.metrics.signals`): it trips when any signal exceeds its level; levels are per
    100 signers of the area, and an empty level is not watched."""

    watch_days: Annotated[int, Field(ge=1)] = Field(
        28, description="days from each planned go-live (the go-live day is day 1) it watches"
    )
    overdue_critical: NonNeg | None = Field(
        None,
        description="rise, over the eve of the area's latest go-live, of critical results "
        "unsigned past the critical threshold at day's end",
    )
    overdue_abnormal: NonNeg | None = Field(
        None,
        description="rise, over the eve of the area's latest go-live, of abnormal results "
        "unsigned and older than abnormal_age_hours",
    )
    abnormal_age_hours: Positive = Field(72.0, description="age at which overdue_abnormal counts")
    backlog_growth_3d: NonNeg | None = Field(
        None, description="growth of the end-of-day backlog over the last three days"
    )
    on_trip: Literal["none", "pause", "rollback"] = Field(
        "none",
        description="what the region does from the day after the rule trips, in the area "
        "where it tripped: nothing, pause its go-lives not yet made, or roll it back",
    )


class Sweep(Strict):
    """Variants generated from parameter lists: a full grid and/or zipped lists."""

    grid: dict[str, list[Any]] = Field(default_factory=dict)
    zip: dict[str, list[Any]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _lengths(self) -> Sweep:
        lengths = {len(v) for v in self.zip.values()}
        if len(lengths) > 1:
            raise ValueError(f"zipped lists must have equal lengths, got {sorted(lengths)}")
        for name, values in {**self.grid, **self.zip}.items():
            if not values:
                raise ValueError(f"{name}: empty list of values")
        return self


UNCERTAINTY = "uncertainty"
"""The key of ``inputs`` that switches parameter uncertainty on (not an input role)."""

INPUT_ROLES: dict[str, str] = {
    "review_time": "signing a normal result (seconds)",
    "abnormal_action_time": "acting on an abnormal result (minutes)",
    "chase_time": "chasing an overdue result (minutes)",
    "switch_cost": "switching to the other system's inbox, per session (minutes)",
    "legacy_order_time": "ordering a lab test in the legacy client while documenting in "
    "Millennium, per order (seconds)",
    "cross_documentation_time": "noting an abnormal result from the legacy client in "
    "Millennium, per result (minutes)",
    "order_entry_time": "entering one lab order in the record, per order (seconds); the "
    "second learning step adds to it from the unit's lab-ordering switch",
    "overlooked_delay": "how long a result put aside at first read waits before its signer "
    "takes it up again (days)",
    "lookup_time": "a jump-out lookup in a locked legacy system (minutes)",
    "back_entry_time": "entering a paper order after downtime (seconds)",
    "manual_matching_delay": "delay of a sample matched by hand at a LIS switch (hours)",
    "relabel_time": "relabelling one record's responsible doctor (seconds)",
    "manual_migration_time": "migrating one row by hand (seconds)",
    "reserve_number_time": "issuing a new national reserve number (minutes)",
}


class WorkloadStreamRef(Strict):
    """A workload stream registered in :mod:`sim.extensions`, with its parameters."""

    stream: str = Field(description="registered name, e.g. medication_reconciliation")
    params: dict[str, Any] = Field(default_factory=dict)


class Scenario(Strict):
    """A whole cutover: organisation, schedule, staffing, policies, inputs and variants."""

    name: Id
    title: str = ""
    description: str = ""
    extends: str | list[str] | None = Field(None, description="base file(s), merged first")
    seed: Annotated[int, Field(ge=0)] = 20201104
    distribution_library: str = Field(
        "../distributions", description="folder of distribution YAML files, relative to this file"
    )
    horizon: Horizon
    areas: list[Area]
    labs: list[Lab]
    test_categories: list[TestCategory]
    systems: list[LegacySystem]
    site_kinds: dict[str, SiteKind]
    sites: list[Site]
    events: list[Event] = Field(default_factory=list)
    policies: Policies = Field(default_factory=Policies)
    staffing: Staffing = Field(default_factory=Staffing)
    migration: Migration = Field(default_factory=Migration)
    inputs: dict[str, DistRef | bool] = Field(
        description="input role -> distribution name; and 'uncertainty: true' to draw every "
        "distribution's parameters per replication from its range (sim.sampling.uncertainty)"
    )
    kpi_thresholds: dict[str, float] = Field(default_factory=dict)
    stop_rule: StopRule = Field(default_factory=StopRule)
    workload_streams: list[WorkloadStreamRef] = Field(
        default_factory=list, description="extension workload streams (sim.extensions)"
    )
    variants: dict[str, dict[str, Any]] = Field(default_factory=dict)
    sweep: Sweep | None = None

    @field_validator("inputs")
    @classmethod
    def _uncertainty_switch(cls, inputs: dict[str, str | bool]) -> dict[str, str | bool]:
        """Only the key 'uncertainty' is a switch; every other key binds a distribution."""
        for key, value in inputs.items():
            if (key == UNCERTAINTY) != isinstance(value, bool):
                what = "true or false" if key == UNCERTAINTY else "a distribution name"
                raise ValueError(f"inputs.{key} must be {what}, got {value!r}")
        return inputs

    @property
    def input_uncertainty(self) -> bool:
        """Whether each replication draws the distributions' parameters from their ranges."""
        return bool(self.inputs.get(UNCERTAINTY, False))

    @property
    def input_roles(self) -> dict[str, str]:
        """Input role -> distribution name (``inputs`` without the uncertainty switch)."""
        return {k: v for k, v in self.inputs.items() if k != UNCERTAINTY}

    @field_validator("test_categories")
    @classmethod
    def _shares(cls, cats: list[TestCategory]) -> list[TestCategory]:
        total = sum(c.share for c in cats)
        if cats and abs(total - 1.0) > 1e-6:
            raise ValueError(f"category shares must add up to 1, got {total:g}")
        return cats
