"""The work loop of a signing session, compiled with numba.

:meth:`sim.inbox.SignerPool._work` used to be a few dozen numpy calls per session over the
pending items (a stable sort, segmented cumulative sums, scatter-adds); with about 5,500
sessions in a replication their per-call overhead, not the arithmetic, was the cost. Here the
steps run as compiled loops, each signer's items one after the other from its own clock, so
that a signer stops at the first item it cannot start and the many items carried over are
only sorted, never worked out. Staff minutes are still added in the order of the items.
``cache=True`` keeps the compiled code on disk, so only the first run ever pays the compile.

The kernels take their arrays in the small named groups below (numba compiles a
``NamedTuple`` of arrays as a struct: reading a field costs nothing), so that a call says
what it passes: a pool's items, the session's per-code tables, its signers, the session's
times, the ledger and the overtime books. Each kernel has a plain-numpy twin in
``tests/test_kernels_session.py`` that property tests hold it to.
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np

#: An item's sort key is ``KEYS_PER_WORKER * worker + group``: its worker's items together,
#: by priority group (0-5, see :mod:`sim.model.inbox`) within them. A power of two, so that
#: ``key >> GROUP_BITS`` is the worker.
GROUP_BITS = 3
KEYS_PER_WORKER = 1 << GROUP_BITS


class PoolItems(NamedTuple):
    """A pool's items in its local order (see :class:`sim.model.inbox.SignerPool`)."""

    code: np.ndarray  # signer * classes + class: the index into the per-code tables
    handling: np.ndarray  # minutes before the learning-curve factor
    lookup: np.ndarray  # minutes of a lookup, if needed (0 for chase tasks)
    lookup_u: np.ndarray  # uniform deciding the lookup
    is_chase: np.ndarray  # booked as chase, not signing
    gid: np.ndarray  # index into ``sign_times``
    signed: np.ndarray  # written: signed yet
    sign_times: np.ndarray  # written, by ``gid``: the minute the item was signed


class CodeTables(NamedTuple):
    """Per code (signer and class), for one session: see :func:`session_tables`."""

    key_of: np.ndarray  # sort key; ``nobody`` when nobody works the signer's inbox today
    second_of: np.ndarray  # in its worker's second inbox
    urgent_of: np.ndarray  # urgent enough for overtime
    nobody: int  # the key after every worker's: KEYS_PER_WORKER * signers
    head_group: int  # groups up to this one are worked before the messages


class Signers(NamedTuple):
    """A pool's signers in a session: their units' factors now, and what they carry over."""

    unit_of: np.ndarray  # each signer's unit, an index into the pool's units
    unit_learn: np.ndarray  # learning-curve factor on handling times, per unit
    unit_look: np.ndarray  # share of results needing a legacy lookup, per unit
    switch_cost: float  # minutes to open the second inbox in a session
    paid: np.ndarray  # written: opened the second inbox this session (and paid for it)
    messages: np.ndarray  # written: backlog of message minutes
    worked: np.ndarray  # written: minutes from each session's start to its last work
    busy_until: np.ndarray  # written: end of the last work, which a session cannot start before


class SessionTimes(NamedTuple):
    """Per signer, the session as :func:`open_session` opened it."""

    present: np.ndarray  # at work today
    start: np.ndarray  # the session's start, or later when still busy
    close: np.ndarray  # when the session closes (training shortens it)
    limit: np.ndarray  # until when items may be started (``-inf`` when absent)
    idle: np.ndarray  # minutes waited for items inside the session


class Rows(NamedTuple):
    """Rows of a day's staff-minute cells (activity, unit) that the work loop books into."""

    signing: int
    chase: int
    lookup: int
    dual_system: int
    messages: int


class Ledger(NamedTuple):
    """One day's staff minutes, (activity, unit), and where the work loop books."""

    cells: np.ndarray
    rows: Rows


class Overtime(NamedTuple):
    """The overtime books: a weekly cap per signer, each signer's use this week and the day's
    overtime minutes per unit."""

    cap: float
    used: np.ndarray
    cells: np.ndarray


class ItemColumns(NamedTuple):
    """Per item, what signing needs (the pool's copy of it is :class:`PoolItems`)."""

    signer: np.ndarray
    inbox: np.ndarray
    urgency: np.ndarray
    handling: np.ndarray
    is_chase: np.ndarray
    lookup: np.ndarray
    lookup_u: np.ndarray


class ClassTable(NamedTuple):
    """Per item class (``2 * urgency + inbox``, in a block of ``per_home`` classes for each
    home a worker may have, ``HOME_*`` of :mod:`sim.model.inbox`, and then as many again for
    a worker who checks the second inbox this session): priority group, in the second inbox,
    urgency."""

    group: np.ndarray
    second: np.ndarray
    urgency: np.ndarray
    per_home: int
    homes: int  # blocks per check: block ``homes * checks + home``


@numba.njit(cache=True)
def work(ids, items, tables, signers, ledger, clock, limit, regular):  # pragma: no cover
    """Work ``ids`` (ascending local ids of ``items``) in priority order from each signer's
    ``clock`` until ``limit``; see :meth:`sim.inbox.SignerPool._work`. Groups up to
    ``tables.head_group`` come before the messages (``regular`` work only; overtime has no
    messages and no groups split). Books staff minutes into the ``ledger``, fills in the
    items' ``sign_times`` and ``signed``, marks in ``signers.paid`` who opened the second
    inbox. Returns the new clocks and how many items were signed.

    Most pending items are not reached in a session (about half of all visits were to items
    carried over), so only the order is built for all of them; an item's handling time is
    worked out when its signer gets to it, and a signer stops at its first item past the
    limit: a signer's clock only grows, so nothing after that item starts either (nor, after
    a head item it did not get to, any item after the messages)."""
    code, key_of, second_of, nobody = items.code, tables.key_of, tables.second_of, tables.nobody
    cells, rows = ledger.cells, ledger.rows
    paid, messages, switch_cost = signers.paid, signers.messages, signers.switch_cost
    unit_of = signers.unit_of
    n = len(clock)
    learn = signers.unit_learn[unit_of]
    look_share = signers.unit_look[unit_of]
    has_look = look_share.any()
    # A stable counting sort by key, without the items nobody works today (key ``nobody``).
    # Each key's run is filled from its end, so that ``first`` ends up where each starts.
    first = np.zeros(nobody + 1, dtype=np.int64)
    for i in ids:
        k = key_of[code[i]]
        if k < nobody:
            first[k] += 1
    for k in range(1, nobody + 1):
        first[k] += first[k - 1]
    item = np.empty(first[nobody], dtype=np.int64)
    for j in range(len(ids) - 1, -1, -1):
        i = ids[j]
        k = key_of[code[i]]
        if k < nobody:
            first[k] -= 1
            item[first[k]] = i
    # Signer by signer, so that staff minutes are added in the order of the items: its head
    # groups, then (in regular work, after the messages) the rest.
    split = tables.head_group + 1 if regular else KEYS_PER_WORKER
    clock = clock.copy()
    n_done = 0
    for s in range(n):
        u = unit_of[s]
        t = clock[s]
        opened = False
        own = KEYS_PER_WORKER * s  # the signer's first key
        head_end = first[own + split]
        for phase in range(2 if regular else 1):
            if phase == 1:
                # Messages: a fluid quota between urgent and normal items.
                msg = min(messages[s] * learn[s], max(limit[s] - t, 0.0))
                if learn[s] > 0:
                    messages[s] -= msg / learn[s]
                if msg > 0:
                    cells[rows.messages, u] += msg
                t += msg
            p = first[own] if phase == 0 else head_end
            hi = head_end if phase == 0 else first[own + KEYS_PER_WORKER]
            while p < hi and t < limit[s]:
                i = item[p]
                b = items.handling[i] * learn[s]
                look = np.float32(0)
                if has_look and items.lookup_u[i] < look_share[s]:
                    look = items.lookup[i]
                e = b + look if has_look else b
                if second_of[code[i]] and not opened:
                    # The switching cost rides on the signer's first second-inbox item.
                    opened = True
                    if not paid[s]:
                        e += switch_cost
                        cells[rows.dual_system, u] += switch_cost
                        if switch_cost > 0:
                            paid[s] = True
                t += e
                items.sign_times[items.gid[i]] = t
                items.signed[i] = True
                cells[rows.chase if items.is_chase[i] else rows.signing, u] += b
                if has_look:
                    cells[rows.lookup, u] += np.float64(look)
                n_done += 1
                p += 1
        clock[s] = t
    return clock, n_done


@numba.njit(cache=True)
def unsigned(pending, signed):  # pragma: no cover - compiled
    """``pending`` without the items that have been ``signed``."""
    left = np.empty(len(pending), dtype=np.int64)
    k = 0
    for i in pending:
        if not signed[i]:
            left[k] = i
            k += 1
    return left[:k]


@numba.njit(cache=True)
def overtime_items(pending, items, tables, paid):  # pragma: no cover - compiled
    """Pending items (in order) not yet ``signed`` that are urgent enough for overtime, have a
    worker today, and that the worker knows of: in the home inbox, or in the second if it was
    opened (``paid``)."""
    code, key_of, second_of, nobody = items.code, tables.key_of, tables.second_of, tables.nobody
    urgent_of = tables.urgent_of
    out = np.empty(len(pending), dtype=np.int64)
    m = 0
    for i in pending:
        c = code[i]
        k = key_of[c]
        if items.signed[i]:
            continue
        if k != nobody and urgent_of[c] and (not second_of[c] or paid[k >> GROUP_BITS]):
            out[m] = i
            m += 1
    return out[:m]


@numba.njit(cache=True)
def take_workload(workload, cap, cells, rows, unit_of):  # pragma: no cover - compiled
    """Each signer works scheduled workload (category, signer) in category order, up to
    ``cap`` minutes (reduced in place); booked to the category's row of ``cells``."""
    for c in range(workload.shape[0]):
        left = workload[c]
        if not left.any():
            continue
        for s in range(len(cap)):
            take = min(left[s], cap[s])
            left[s] -= take
            cap[s] -= take
            if take > 0:
                cells[rows[c], unit_of[s]] += take


@numba.njit(cache=True)
def take_items(gid, source, n_classes, out, code):  # pragma: no cover - compiled
    """A pool's copy ``out`` of its items' attributes ``source`` (both :class:`ItemColumns`),
    in its order ``gid``, in one pass: with each item's ``code`` (signer, class) and no
    lookup for chase tasks."""
    for j in range(len(gid)):
        g = gid[j]
        out.signer[j] = source.signer[g]
        out.inbox[j] = source.inbox[g]
        out.urgency[j] = source.urgency[g]
        code[j] = source.signer[g] * n_classes + 2 * source.urgency[g] + source.inbox[g]
        out.handling[j] = source.handling[g]
        out.is_chase[j] = source.is_chase[g]
        out.lookup[j] = 0 if source.is_chase[g] else source.lookup[g]
        out.lookup_u[j] = source.lookup_u[g]


@numba.njit(cache=True)
def open_session(
    t, end, signers, unit_train, present, share, workload, cells, rows
):  # pragma: no cover - compiled
    """Each signer's start (``t`` or later, when still busy), close (training, a factor per
    unit, takes the end of the session), clock after the scheduled workload (up to ``share``
    of the time available, if any is left; see :func:`take_workload`) and limit (``-inf``
    when absent).

    The numpy steps of :meth:`sim.inbox.SignerPool.session` element by element, with the same
    operations, fused so that a session does not pay a dozen small numpy calls."""
    unit_of = signers.unit_of
    n = len(unit_of)
    start = np.empty(n)
    close = np.empty(n)
    avail = np.empty(n)
    limit = np.empty(n)
    span = end - t
    for s in range(n):
        start[s] = max(t, signers.busy_until[s])
        close[s] = t + span * unit_train[unit_of[s]]
        avail[s] = max(close[s] - start[s], 0.0) if present[s] else 0.0
        limit[s] = close[s] if present[s] else -np.inf
    clock = start.copy()
    if (workload > 0).any():
        cap = avail * share
        take_workload(workload, cap, cells, rows, unit_of)
        for s in range(n):
            clock[s] += avail[s] * share - cap[s]
    return start, close, clock, limit


@numba.njit(cache=True)
def overtime_limits(session, clock, overtime):  # pragma: no cover - compiled
    """Until when each present signer may start items in overtime: the session's close plus
    what is left of the week's cap, or the clock if later; ``-inf`` when absent."""
    close = session.close
    out = np.empty(len(close))
    for s in range(len(close)):
        room = max(overtime.cap - overtime.used[s], 0.0)
        out[s] = max(close[s] + room, clock[s]) if session.present[s] else -np.inf
    return out


@numba.njit(cache=True)
def close_session(signers, session, clock, overtime):  # pragma: no cover - compiled
    """Book what the session ended with, in place: overtime past the close (into the week's
    use and, in signer order, the day's cells), minutes worked, and until when each present
    signer is busy."""
    busy_until = signers.busy_until
    for s in range(len(clock)):
        if session.present[s]:
            extra = max(clock[s] - session.close[s], 0.0)
            worked_now = clock[s] - session.start[s] - session.idle[s]
            busy_until[s] = max(busy_until[s], clock[s])
        else:
            extra = 0.0
            worked_now = 0.0
        overtime.used[s] += extra
        if extra > 0:
            overtime.cells[signers.unit_of[s]] += extra
        signers.worked[s] += worked_now


@numba.njit(cache=True)
def finish_session(
    first_round, pending, items, tables, signers, ledger, session, clock, overtime
):  # pragma: no cover - compiled
    """The rest of a session in one call: a round of :func:`work` over everything ``pending``
    if ``first_round`` (sessions that do not refresh have only this one), then urgent leftovers
    in overtime (:func:`overtime_items`, :func:`overtime_limits`) when there is a cap, then
    :func:`close_session`. Returns ``pending`` without what was signed."""
    n_done = 0
    if first_round and len(pending):
        clock, n_done = work(pending, items, tables, signers, ledger, clock, session.limit, True)
    if overtime.cap > 0:
        urgent = overtime_items(pending, items, tables, signers.paid)
        if len(urgent):
            ot_limit = overtime_limits(session, clock, overtime)
            clock, n_ot = work(urgent, items, tables, signers, ledger, clock, ot_limit, False)
            n_done += n_ot
    if n_done:
        pending = unsigned(pending, items.signed)
    close_session(signers, session, clock, overtime)
    return pending


@numba.njit(cache=True)
def session_tables(
    new_workers, worker, unit_home, unit_of, checks, home, classes, urgent_max, tables
):  # pragma: no cover - compiled
    """Fill the per-code ``tables`` (code = signer * classes + class) of a session in place:
    sort key ``KEYS_PER_WORKER * worker + group`` (``nobody`` without a worker), in the
    worker's second inbox, urgent enough for overtime. A class is looked up in the block of
    the worker's home and whether it ``checks`` the second inbox this session (that of
    signer 0 stands in when nobody works the inbox).

    The tables depend only on the workers and on each signer's block (kept in ``home``, from
    the units' ``unit_home`` and the signer's check), so they are left as they are unless
    either has changed."""
    changed = new_workers
    for s in range(len(worker)):
        h = unit_home[unit_of[s]] + classes.homes * checks[s]
        if home[s] != h:
            home[s] = h
            changed = True
    if not changed:
        return
    n_classes = classes.per_home
    for s in range(len(worker)):
        w = max(worker[s], 0)
        offset = n_classes * home[w]
        for k in range(n_classes):
            c = offset + k
            j = s * n_classes + k
            if worker[s] < 0:
                tables.key_of[j] = tables.nobody
            else:
                tables.key_of[j] = KEYS_PER_WORKER * w + classes.group[c]
            tables.second_of[j] = classes.second[c]
            tables.urgent_of[j] = classes.urgency[c] <= urgent_max


@numba.njit(cache=True)
def workers(present, streak, cover, after, seg_start, seg_len, worker):  # pragma: no cover
    """Fill in who works each signer's inbox today (``worker``): the signer if ``present``,
    else, if there is ``cover``, the first present colleague after it in its unit's run
    (``seg_start``, ``seg_len``), wrapping around, once the absence has lasted (``streak``)
    more than ``after`` days; else -1."""
    for s in range(len(present)):
        worker[s] = s if present[s] else -1
        if present[s] or not cover or streak[s] <= after:
            continue
        first, size = seg_start[s], seg_len[s]
        for k in range(1, size):
            cand = first + (s - first + k) % size
            if present[cand]:
                worker[s] = cand
                break


@numba.njit(cache=True)
def admit(pending, ready, start, queue_end, late, t):  # pragma: no cover - compiled
    """``pending`` (ascending local ids) with the queued items from ``start`` on and the
    ``late`` (injected) ones that are in the inbox by ``t``, ascending; also returns where the
    queue now starts and the late items still to come."""
    stop = start + np.searchsorted(ready[start:queue_end], t, side="right")
    n_late = 0
    for i in late:
        if ready[i] <= t:
            n_late += 1
    n = len(pending)
    out = np.empty(n + stop - start + n_late, dtype=np.int64)
    out[:n] = pending
    out[n : n + stop - start] = np.arange(start, stop)
    rest = np.empty(len(late) - n_late, dtype=np.int64)
    a = n + stop - start
    b = 0
    for i in late:
        if ready[i] <= t:
            out[a] = i
            a += 1
        else:
            rest[b] = i
            b += 1
    for j in range(1, len(out)):
        if out[j] < out[j - 1]:  # injected items come from anywhere
            out.sort()
            break
    return out, stop, rest
