"""Inboxes and signing sessions, worked for all signers of one site kind at once.

Every result is addressed to the clinician who ordered it, in the inbox of the client it was
ordered in (legacy or Millennium). Signers work their inboxes in sessions. In a session a
signer, if present, first spends up to a capped share of the time on scheduled workload
(migration, relabelling, ...), then works the items that were in the inbox when the session
opened, in this order:

====  ============================================================
0     critical results, whichever inbox holds them
1     abnormal results and chase tasks in the home inbox
2     abnormal results and chase tasks in the second inbox, in sessions in which the signer
      checks it (:mod:`sim.model.triage`)
 -    other inbox messages (a per-day quota of minutes, fluid)
3     normal results in the home inbox
4     abnormal results and chase tasks in the *second* inbox, when not checked
5     normal results in the second inbox
====  ============================================================

oldest first within a group. The *home* inbox is that of the system the unit documents in;
the second inbox is the other one. Opening the second inbox costs a switching time. This is
the coexistence mechanism: while a unit documents in Millennium but its lab results still
arrive in the legacy client, those results come last and are what slips when time runs short.
Signers know when the legacy inbox closes, though: in the last ``policies.lock.priority_days``
before its deadline they work it as their home inbox (groups 1 and 3, oldest first across
both inboxes), still paying the switching time to open it.

An item is started only while the session is open and is then finished (it may overrun).
When urgent items remain that the signer knows of (in the home inbox, or in the second inbox
if it was opened in this session), the signer works on them in overtime, starting new ones
until the weekly overtime cap is used. An unopened second inbox gets no overtime: that is
where results slip. Handling times are multiplied by the unit's
learning-curve factor at the session's start; a result may also need a legacy lookup.

All signers of a kind share session times, so one compiled call handles one session for all
of them (:mod:`sim.model.kernels.session`). ``refresh`` kinds look again at the inbox whenever they
run out of work inside a session (round after round), which makes an always-open session a
work-conserving first-come-first-served server within each group.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from sim.model.kernels import session as session_kernel
from sim.model.kernels.session import (
    KEYS_PER_WORKER,
    ClassTable,
    CodeTables,
    ItemColumns,
    Ledger,
    Overtime,
    PoolItems,
    Rows,
    SessionTimes,
    Signers,
)
from sim.model.kernels.sorting import argsort_nearly_sorted
from sim.model.ledger import ACTIVITIES, WORKLOAD

CRITICAL, URGENT, NORMAL = 0, 1, 2
LEGACY, NEW = 0, 1


@dataclass
class Items:
    """Everything that can sit in an inbox: results and chase tasks, as the run sees them.

    What only signing needs (signer, urgency, handling times, ...) is handed to the pools as
    :class:`ItemAttributes` and kept there, in the pool's own order.
    """

    unit: np.ndarray  # int32 global unit index
    inbox: np.ndarray  # int8 LEGACY / NEW
    ready: np.ndarray  # minute the item reaches the inbox (inf: not yet known)
    done: np.ndarray = field(init=False)  # completion minute (nan while open)
    closed: np.ndarray = field(init=False)  # removed unworked (orphaned, rerouted)

    def __post_init__(self) -> None:
        self.done = np.full(len(self.ready), np.nan)
        self.closed = np.zeros(len(self.ready), dtype=bool)


@dataclass
class ItemAttributes:
    """Per item, what a signer needs to work it (aligned with :class:`Items`)."""

    signer: np.ndarray  # int32 signer index within the pool
    urgency: np.ndarray  # int8 CRITICAL / URGENT / NORMAL
    handling: np.ndarray  # minutes before learning-curve factor
    lookup: np.ndarray  # minutes of a lookup, if needed (0 for chase tasks)
    lookup_u: np.ndarray  # uniform deciding the lookup
    is_chase: np.ndarray  # bool


@dataclass
class PoolConfig:
    """What a signer pool needs to know about its units and signers."""

    signer_unit: np.ndarray  # global unit index of each signer
    presence: np.ndarray  # bool (signers, days)
    sessions: np.ndarray  # (k, 2) start and nominal end minutes
    switch_cost: float  # minutes to open the second inbox in a session
    overtime_cap: float  # minutes per signer and ISO week
    workload_share: float  # cap on the share of a session taken by scheduled workload
    refresh: bool = False
    cover_after_days: int | None = None  # a colleague covers an absence longer than this
    # site group of each signer: where nobody of a unit is present, a colleague of another
    # unit of the same site covers (None: no cover beyond the unit)
    signer_site: np.ndarray | None = None
    # per session (rows of ``sessions``) and signer: checks the second inbox for abnormal
    # results before the messages (sim.model.triage); None: nobody ever does
    second_checks: np.ndarray | None = None


class SignerPool:
    """The signers of one site kind and their items; :meth:`session` works one session.

    The pool keeps its own copy of its items' attributes, ordered by the time they reach the
    inbox, so that a session reads a nearly contiguous slice; ``gid`` maps back to
    :class:`Items`, whose ``done`` it fills in as items are signed. Local order doubles as
    "oldest first" when sorting, and ``pending`` is kept in local order.

    Staff minutes are booked as they are worked, into cells of (day, activity, unit) for the
    pool's ``units`` (one day's cells are contiguous), one item or signer at a time in the
    order of work, so that the totals do not depend on how the tables are built.
    """

    def __init__(
        self,
        cfg: PoolConfig,
        items: Items,
        attrs: ItemAttributes,
        item_ids: np.ndarray,
        unit_state,
    ):
        self.cfg = cfg
        # callable(t) -> per unit (home, learn, lookup, train); the model's also has
        # .at(times, units), with which a run takes the state of all its sessions at once
        self.unit_state = unit_state
        self.n = n = len(cfg.signer_unit)
        order, self.ready = _ready_order(items.ready[item_ids])
        self.gid = gid = item_ids[order].astype(np.int32, copy=False)
        self.sign_times = items.done
        m = len(gid)
        self.signer = np.empty(m, dtype=attrs.signer.dtype)
        self.inbox = np.empty(m, dtype=items.inbox.dtype)
        self.urgency = np.empty(m, dtype=attrs.urgency.dtype)
        # Signer and class in one small integer: per-session tables indexed by it give an
        # item's sort key, second-inbox flag and overtime eligibility in one gather each.
        self._code = np.empty(m, dtype=np.min_scalar_type(_N_CLASSES * n))
        self.handling = np.empty(m, dtype=attrs.handling.dtype)
        self.is_chase = np.empty(m, dtype=bool)
        self.lookup = np.empty(m, dtype=attrs.lookup.dtype)  # 0 for chase tasks
        self.lookup_u = np.empty(m, dtype=attrs.lookup_u.dtype)
        source = ItemColumns(
            attrs.signer,
            items.inbox,
            attrs.urgency,
            attrs.handling,
            attrs.is_chase,
            attrs.lookup,
            attrs.lookup_u,
        )
        own = ItemColumns(
            self.signer,
            self.inbox,
            self.urgency,
            self.handling,
            self.is_chase,
            self.lookup,
            self.lookup_u,
        )
        session_kernel.take_items(gid, source, _N_CLASSES, own, self._code)
        self.signed = np.zeros(len(gid), dtype=bool)
        self._items = PoolItems(
            self._code,
            self.handling,
            self.lookup,
            self.lookup_u,
            self.is_chase,
            self.gid,
            self.signed,
            self.sign_times,
        )
        # Items from here on never arrive by themselves (ready = inf) but may be injected.
        self._queue_end = int(np.searchsorted(self.ready, np.inf))
        self._next = 0
        self._late: list[np.ndarray] = []
        self.pending = np.empty(0, dtype=np.int64)
        self.busy_until = np.full(n, -np.inf)
        self.messages = np.zeros(n)  # backlog of message minutes
        self.workload = np.zeros((len(WORKLOAD), n))
        self.overtime_used = np.zeros(n)
        self.worked = np.zeros(n)  # minutes from each session's start to its last work
        # By day, so that one day's row is contiguous.
        self._present = np.ascontiguousarray(cfg.presence.T)
        self._streak = _absence_streaks(self._present)
        self._worker_day = -1
        self.worker = np.arange(n)
        nobody = KEYS_PER_WORKER * n  # sort key of items nobody works today: after everyone's
        size = n * _N_CLASSES  # tables by code, for this session
        self._tables = CodeTables(
            key_of=np.empty(size, dtype=np.min_scalar_type(nobody)),
            second_of=np.empty(size, dtype=bool),
            urgent_of=np.empty(size, dtype=bool),
            nobody=nobody,
            head_group=_HEAD_GROUP,
        )
        self._home = np.zeros(n, dtype=np.int8)  # each signer's block (home, check) in those
        self._no_checks = np.zeros(n, dtype=bool)
        self._week = -1
        su = cfg.signer_unit  # a unit's signers are consecutive: where its run starts, how long
        self._seg_start = np.maximum.accumulate(
            np.where(np.concatenate(([True], su[1:] != su[:-1])), np.arange(n), 0)
        )
        self._seg_len = np.bincount(su, minlength=su.max() + 1)[su]
        self.units, self._unit_of = np.unique(su, return_inverse=True)
        n_days = cfg.presence.shape[1]
        self.staff_minutes = np.zeros((n_days, len(ACTIVITIES), len(self.units)))
        self.overtime_minutes = np.zeros((n_days, len(self.units)))

    # ------------------------------------------------------------------ admission
    def admit(self, t: float) -> None:
        """Move items that are in the inbox by ``t`` into the pending set."""
        late = np.concatenate(self._late) if self._late else _NO_ITEMS
        self.pending, self._next, late = session_kernel.admit(
            self.pending, self.ready, self._next, self._queue_end, late, t
        )
        self._late = [late] if late.size else []

    def inject(self, local: np.ndarray, ready: np.ndarray, inbox: int) -> None:
        """Put items back with a new ready time and inbox (e.g. rerouted results).

        Only for items that have left the queue: taken, or never due by themselves (inf).
        """
        if local.size:
            self.ready[local] = ready
            self.inbox[local] = inbox
            cls = _item_class(self.urgency[local], self.inbox[local])
            self._code[local] = self.signer[local] * _N_CLASSES + cls
            self._late.append(local)

    def take(self, t: float, predicate) -> np.ndarray:
        """Remove and return (local ids of) pending items as of ``t`` matching ``predicate``."""
        self.admit(t)
        hit = predicate(self, self.pending)
        taken = self.pending[hit]
        self.pending = self.pending[~hit]
        return taken

    # ------------------------------------------------------------------ quotas
    def add_daily(self, messages: np.ndarray, workload: np.ndarray) -> None:
        """Add a day's message minutes (per signer) and workload minutes (category, signer)."""
        self.messages += messages
        self.workload += workload

    # ------------------------------------------------------------------ the session
    def session(
        self,
        t: float,
        end: float,
        day: int,
        week: int,
        state: Sequence[np.ndarray] | None = None,
        checks: np.ndarray | None = None,
    ) -> None:
        """Work the session that opens at ``t`` and nominally ends at ``end``.

        ``state`` is that of the pool's ``units`` at ``t`` (home in Millennium, learning
        factor, lookup share, training factor), when the caller has it for all sessions at
        once; else it comes from ``unit_state``. ``checks``: per signer, whether it checks the
        second inbox for abnormal results before the messages this session
        (:mod:`sim.model.triage`; ``None``: nobody does).
        """
        cfg = self.cfg
        if week != self._week:
            self.overtime_used[:] = 0.0
            self._week = week
        if state is None:
            state = [x[self.units] for x in self.unit_state(t)]
        home, learn, look_share, train = state
        present = self._present[day]
        new_workers = day != self._worker_day
        if new_workers:
            self._workers(day)
            self._worker_day = day
        session_kernel.session_tables(
            new_workers,
            self.worker,
            home,
            self._unit_of,
            self._no_checks if checks is None else checks,
            self._home,
            _CLASS_TABLE,
            URGENT,
            self._tables,
        )
        signers = Signers(
            unit_of=self._unit_of,
            unit_learn=learn,
            unit_look=look_share,
            switch_cost=float(cfg.switch_cost),
            paid=np.zeros(self.n, dtype=bool),
            messages=self.messages,
            worked=self.worked,
            busy_until=self.busy_until,
        )
        ledger = Ledger(self.staff_minutes[day], _KERNEL_ROWS)
        # Scheduled workload first, up to its share of the session.
        start, close, clock, limit = session_kernel.open_session(
            t,
            end,
            signers,
            train,
            present,
            cfg.workload_share,
            self.workload,
            ledger.cells,
            _WORKLOAD_ROWS,
        )
        times = SessionTimes(present, start, close, limit, idle=np.zeros(self.n))
        self.admit(t)
        if cfg.refresh:
            clock = self._refresh_rounds(t, times, clock, signers, ledger)
        # Then urgent leftovers in overtime, up to the weekly cap. Overtime only for urgent
        # items the signer knows about: those in the home inbox, or in the second inbox if it
        # was opened this session. One compiled call, as most sessions are only this.
        overtime = Overtime(float(cfg.overtime_cap), self.overtime_used, self.overtime_minutes[day])
        self.pending = session_kernel.finish_session(
            not cfg.refresh,
            self.pending,
            self._items,
            self._tables,
            signers,
            ledger,
            times,
            clock,
            overtime,
        )

    def _refresh_rounds(
        self, t: float, times: SessionTimes, clock: np.ndarray, signers: Signers, ledger: Ledger
    ) -> np.ndarray:
        """Regular work of a ``refresh`` session: round after round, each over what arrived
        while the signer worked; idle signers jump to their next arrival (``times.idle`` is
        added to in place). Returns the clocks."""
        present, close, limit, idle = times.present, times.close, times.limit, times.idle
        first_round = True
        while True:
            ids = self.pending
            if not first_round:  # refresh: only what arrived while the signer worked
                ids = ids[self.ready[ids] <= clock[self.worker[self.signer[ids]]]]
            if ids.size:
                clock = self._work(ids, clock, limit, signers, ledger)
            first_round = False
            self.admit(float(np.max(np.where(present, close, t))))
            waiting = self.pending
            if not waiting.size:
                return clock
            w_sg = self.worker[self.signer[waiting]]
            waiting, w_sg = waiting[w_sg >= 0], w_sg[w_sg >= 0]
            startable = (self.ready[waiting] <= clock[w_sg]) & (clock[w_sg] < limit[w_sg])
            if startable.any():
                continue
            # Nobody can start anything: idle signers jump to their next arrival.
            nxt = np.full(self.n, np.inf)
            np.minimum.at(nxt, w_sg, self.ready[waiting])
            jump = present & (nxt > clock) & (nxt < limit)
            if not jump.any():
                return clock
            idle += np.where(jump, nxt - clock, 0.0)
            clock = np.where(jump, nxt, clock)

    def _work(
        self,
        ids: np.ndarray,
        clock: np.ndarray,
        limit: np.ndarray,
        signers: Signers,
        ledger: Ledger,
    ) -> np.ndarray:
        """Regular work of ``ids`` (ascending) in priority order from each signer's ``clock``
        until ``limit``: the owner's, or a colleague's covering an absence. Marks in
        ``signers.paid`` who opened the second inbox; returns the new clocks."""
        clock, n_done = session_kernel.work(
            ids, self._items, self._tables, signers, ledger, clock, limit, True
        )
        if n_done:
            self.pending = session_kernel.unsigned(self.pending, self.signed)
        return clock

    def _workers(self, day: int) -> None:
        """Set who works each signer's inbox today (``worker``): the signer, a covering
        colleague, or -1.

        A colleague covers once an absence has lasted more than ``cover_after_days``: the
        first present signer after the absent one in the unit's order, wrapping around; where
        nobody of the unit is present (a one-signer unit, or all away), a present signer of
        another unit of the same site (:meth:`_site_cover`).
        """
        after = self.cfg.cover_after_days
        session_kernel.workers(
            self._present[day],
            self._streak[day],
            after is not None,
            after or 0,
            self._seg_start,
            self._seg_len,
            self.worker,
        )
        if after is not None and self.cfg.signer_site is not None:
            self._site_cover(day, after)

    def _site_cover(self, day: int, after: int) -> None:
        """Signers still uncovered after an absence longer than ``after`` days get a present
        signer of another unit of their site, spread over them by signer index."""
        present, site = self._present[day], self.cfg.signer_site
        lost = np.flatnonzero((self.worker < 0) & (self._streak[day] > after))
        for s in lost:
            colleagues = np.flatnonzero(present & (site == site[s]))
            if colleagues.size:
                self.worker[s] = colleagues[s % colleagues.size]


def _item_class(urgency: np.ndarray, inbox: np.ndarray) -> np.ndarray:
    """Class of an item for sorting: see ``_GROUP``."""
    return (2 * urgency + inbox).astype(np.int8)


# The home of a signer's unit, as :class:`sim.model.staff.UnitState` gives it: the legacy
# record, Millennium, or Millennium with the legacy inbox's deadline near (worked alike).
HOME_LEGACY, HOME_NEW, HOME_NEW_LEGACY_DUE = 0, 1, 2
_N_HOMES = 3
# Priority group (table above) and "in the second inbox" of each item class (2 * urgency +
# inbox), once for each home and whether the worker checks the second inbox this session
# (sim.model.triage): a block of _N_CLASSES per (check, home), block check * _N_HOMES + home.
_N_CLASSES = 6
_CLASSES = np.arange(2 * _N_HOMES * _N_CLASSES)
_HOME = _CLASSES // _N_CLASSES % _N_HOMES
_CHECKS = _CLASSES // (_N_CLASSES * _N_HOMES) == 1
_SECOND = np.minimum(_HOME, HOME_NEW) != _CLASSES % 2
_URGENCY = _CLASSES % _N_CLASSES // 2
_LAST = _SECOND & (_HOME != HOME_NEW_LEGACY_DUE)  # the second inbox comes last ...
_CHECKED = _LAST & _CHECKS & (_URGENCY == URGENT)  # ... but its abnormal results when checked
_GROUP = np.where(
    _URGENCY == CRITICAL, 0, np.where(_CHECKED, 2, np.where(_URGENCY == URGENT, 1, 3) + 3 * _LAST)
)
_HEAD_GROUP = 2  # groups up to this one are worked before the messages
_NO_ITEMS = np.empty(0, dtype=np.int64)
_CLASS_TABLE = ClassTable(_GROUP, _SECOND, _URGENCY, _N_CLASSES, _N_HOMES)
# Rows of a day's staff-minute cells that the session kernels book into.
_WORKLOAD_ROWS = np.array([ACTIVITIES.index(a) for a in WORKLOAD])
_KERNEL_ROWS = Rows(*(ACTIVITIES.index(a) for a in Rows._fields))


def _ready_order(ready: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Local order of a pool's items: by ready time, "oldest first"; items ready at the same
    time keep their stored order (unit, then order time: results put aside in a legacy inbox
    all come back when it is swept, oldest order first; results rerouted later wait at
    ``inf`` in that order too). The same order under every lock policy, so that policies
    which agree up to a deadline give the same run up to it. Returns the order and the sorted
    ready times."""
    order = argsort_nearly_sorted(ready)
    return order, ready[order]


def _absence_streaks(present: np.ndarray) -> np.ndarray:
    """Consecutive absent days up to and including each day (rows), per signer (columns)."""
    streak = np.zeros(present.shape, dtype=np.int32)
    run = np.zeros(present.shape[1], dtype=np.int32)
    for d, row in enumerate(present):
        run = np.where(row, 0, run + 1)
        streak[d] = run
    return streak
