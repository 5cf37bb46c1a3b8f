"""The work loop of a signing session, compiled with numba.

:meth:`sim.inbox.SignerPool._work` used to be a few dozen numpy calls per session over the
pending items (a stable sort, segmented cumulative sums, scatter-adds); with about 5,500
sessions in a replication their per-call overhead, not the arithmetic, was the cost. Here the
steps run as compiled loops, each signer's items one after the other from its own clock, so
that a signer stops at the first item it cannot start and the many items carried over are
only sorted, never worked out. Staff minutes are still added in the order of the items.
``cache=True`` keeps the compiled code on disk, so only the first run ever pays the compile.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def _any_second(item, code, second_of, lo, hi):  # pragma: no cover - compiled
    """Whether any of the items at positions ``lo:hi`` of ``item`` is in a second inbox."""
    p = lo
    while p < hi and not second_of[code[item[p]]]:
        p += 1
    return p < hi


@numba.njit(cache=True)
def work(
    ids, code, key_of, second_of, nobody, handling, lookup, lookup_u, is_chase, unit_learn,
    unit_look, switch_cost, paid, clock, limit, regular, head_group, messages, cells, rows,
    unit_of, gid, sign_times, signed,
):  # pragma: no cover - compiled  # fmt: skip
    """Work ``ids`` (ascending local ids) in priority order from each signer's ``clock`` until
    ``limit``; see :meth:`sim.inbox.SignerPool._work`. An item's sort key is ``8 * worker +
    group``; groups up to ``head_group`` come before the messages. Books staff minutes into
    ``cells`` (today's, activity by unit) at ``rows`` (signing, chase, lookup, dual system,
    messages), fills in ``sign_times`` and ``signed``, marks in ``paid`` who opened the second
    inbox. ``unit_learn`` and ``unit_look`` are the learning factor and lookup share of the
    units (``unit_of`` each signer). Returns the new clocks and how many items were signed.

    Most pending items are not reached in a session (about half of all visits were to items
    carried over), so only the order is built for all of them; an item's handling time is
    worked out when its signer gets to it, and a signer stops at its first item past the
    limit: a signer's clock only grows, so nothing after that item starts either."""
    signing, chase, lookup_row, dual_system, messages_row = rows
    n = len(clock)
    learn = unit_learn[unit_of]
    look_share = unit_look[unit_of]
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
    split = head_group + 1 if regular else 8
    clock = clock.copy()
    n_done = 0
    for s in range(n):
        u = unit_of[s]
        t = clock[s]
        opened = False
        head_end = stop = first[8 * s + split]
        for phase in range(2 if regular else 1):
            if phase == 1:
                # Messages: a fluid quota between urgent and normal items.
                msg = min(messages[s] * learn[s], max(limit[s] - t, 0.0))
                if learn[s] > 0:
                    messages[s] -= msg / learn[s]
                if msg > 0:
                    cells[messages_row, u] += msg
                t += msg
            p = first[8 * s] if phase == 0 else head_end
            hi = head_end if phase == 0 else first[8 * s + 8]
            while p < hi and t < limit[s]:
                i = item[p]
                b = handling[i] * learn[s]
                look = np.float32(0)
                if has_look and lookup_u[i] < look_share[s]:
                    look = lookup[i]
                e = b + look if has_look else b
                if second_of[code[i]] and not opened:
                    # The switching cost rides on the signer's first second-inbox item,
                    # which may be among the head items it did not get to.
                    opened = True
                    skipped = phase == 1 and _any_second(item, code, second_of, stop, head_end)
                    if not paid[s] and not skipped:
                        e += switch_cost
                        cells[dual_system, u] += switch_cost
                        if switch_cost > 0:
                            paid[s] = True
                t += e
                sign_times[gid[i]] = t
                signed[i] = True
                cells[chase if is_chase[i] else signing, u] += b
                if has_look:
                    cells[lookup_row, u] += np.float64(look)
                n_done += 1
                p += 1
            stop = p
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
def overtime_items(
    pending, signed, code, key_of, second_of, urgent_of, nobody, paid
):  # pragma: no cover - compiled
    """Pending items (in order) not yet ``signed`` that are urgent enough for overtime, have a
    worker today, and that the worker knows of: in the home inbox, or in the second if it was
    opened."""
    out = np.empty(len(pending), dtype=np.int64)
    m = 0
    for i in pending:
        c = code[i]
        k = key_of[c]
        if signed[i]:
            continue
        if k != nobody and urgent_of[c] and (not second_of[c] or paid[k >> 3]):
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
def take_items(
    gid, signer, inbox, urgency, handling, is_chase, lookup, lookup_u, n_classes, out_signer,
    out_inbox, out_urgency, out_code, out_handling, out_is_chase, out_lookup, out_lookup_u,
):  # pragma: no cover - compiled  # fmt: skip
    """A pool's copy of its items' attributes, in its order ``gid``, in one pass: with each
    item's code (signer, class) and no lookup for chase tasks."""
    for j in range(len(gid)):
        g = gid[j]
        out_signer[j] = signer[g]
        out_inbox[j] = inbox[g]
        out_urgency[j] = urgency[g]
        out_code[j] = signer[g] * n_classes + 2 * urgency[g] + inbox[g]
        out_handling[j] = handling[g]
        out_is_chase[j] = is_chase[g]
        out_lookup[j] = 0 if is_chase[g] else lookup[g]
        out_lookup_u[j] = lookup_u[g]


@numba.njit(cache=True)
def open_session(
    t, end, busy_until, unit_train, unit_of, present, share, workload, cells, rows
):  # pragma: no cover - compiled
    """Each signer's start (``t`` or later, when still busy), close (training, a factor per
    unit, takes the end of the session), clock after the scheduled workload (up to ``share``
    of the time available, if any is left; see :func:`take_workload`) and limit (``-inf``
    when absent).

    The numpy steps of :meth:`sim.inbox.SignerPool.session` element by element, with the same
    operations, fused so that a session does not pay a dozen small numpy calls."""
    n = len(unit_of)
    start = np.empty(n)
    close = np.empty(n)
    avail = np.empty(n)
    limit = np.empty(n)
    span = end - t
    for s in range(n):
        start[s] = max(t, busy_until[s])
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
def overtime_limits(present, close, clock, overtime_cap, overtime_used):  # pragma: no cover
    """Until when each present signer may start items in overtime: the session's close plus
    what is left of the week's cap, or the clock if later; ``-inf`` when absent."""
    out = np.empty(len(close))
    for s in range(len(close)):
        room = max(overtime_cap - overtime_used[s], 0.0)
        out[s] = max(close[s] + room, clock[s]) if present[s] else -np.inf
    return out


@numba.njit(cache=True)
def close_session(
    present, start, close, clock, idle, overtime_used, overtime_cells, unit_of, worked, busy_until
):  # pragma: no cover - compiled
    """Book what the session ended with, in place: overtime past the close (into the week's
    use and, in signer order, the day's cells), minutes worked, and until when each present
    signer is busy."""
    for s in range(len(close)):
        if present[s]:
            overtime = max(clock[s] - close[s], 0.0)
            worked_now = clock[s] - start[s] - idle[s]
            busy_until[s] = max(busy_until[s], clock[s])
        else:
            overtime = 0.0
            worked_now = 0.0
        overtime_used[s] += overtime
        if overtime > 0:
            overtime_cells[unit_of[s]] += overtime
        worked[s] += worked_now


@numba.njit(cache=True)
def finish_session(
    first_round, pending, code, key_of, second_of, urgent_of, nobody, handling, lookup, lookup_u,
    is_chase, unit_learn, unit_look, switch_cost, paid, clock, limit, head_group, messages,
    cells, rows, unit_of, gid, sign_times, signed, present, start, close, idle, overtime_cap,
    overtime_used, overtime_cells, worked, busy_until,
):  # pragma: no cover - compiled  # fmt: skip
    """The rest of a session in one call: a round of :func:`work` over everything ``pending``
    if ``first_round`` (sessions that do not refresh have only this one), then urgent leftovers
    in overtime (:func:`overtime_items`, :func:`overtime_limits`) when there is a cap, then
    :func:`close_session`. Returns ``pending`` without what was signed."""
    n_done = 0
    if first_round and len(pending):
        clock, n_done = work(
            pending, code, key_of, second_of, nobody, handling, lookup, lookup_u, is_chase,
            unit_learn, unit_look, switch_cost, paid, clock, limit, True, head_group,
            messages, cells, rows, unit_of, gid, sign_times, signed,
        )  # fmt: skip
    if overtime_cap > 0:
        urgent = overtime_items(pending, signed, code, key_of, second_of, urgent_of, nobody, paid)
        if len(urgent):
            ot_limit = overtime_limits(present, close, clock, overtime_cap, overtime_used)
            clock, n_ot = work(
                urgent, code, key_of, second_of, nobody, handling, lookup, lookup_u, is_chase,
                unit_learn, unit_look, switch_cost, paid, clock, ot_limit, False,
                head_group, messages, cells, rows, unit_of, gid, sign_times, signed,
            )  # fmt: skip
            n_done += n_ot
    if n_done:
        pending = unsigned(pending, signed)
    close_session(
        present, start, close, clock, idle, overtime_used, overtime_cells, unit_of, worked,
        busy_until,
    )  # fmt: skip
    return pending


@numba.njit(cache=True)
def session_tables(
    new_workers, worker, unit_home, unit_of, home, group, second, urgency, urgent_max, home_new,
    nobody, key_of, second_of, urgent_of,
):  # pragma: no cover - compiled  # fmt: skip
    """Fill the per-code tables (code = signer * classes + class) of a session in place: sort
    key ``8 * worker + group`` (``nobody`` without a worker), in the worker's second inbox,
    urgent enough for overtime. A class is looked up offset by ``home_new`` where the
    worker's home is Millennium (that of signer 0 stands in when nobody works the inbox).

    The tables depend only on the workers and on each signer's ``home`` (kept here, from the
    units' ``unit_home``), so they are left as they are unless either has changed."""
    changed = new_workers
    for s in range(len(worker)):
        h = unit_home[unit_of[s]]
        if home[s] != h:
            home[s] = h
            changed = True
    if not changed:
        return
    n_classes = home_new
    for s in range(len(worker)):
        w = max(worker[s], 0)
        offset = home_new if home[w] else 0
        for k in range(n_classes):
            c = offset + k
            j = s * n_classes + k
            key_of[j] = nobody if worker[s] < 0 else 8 * w + group[c]
            second_of[j] = second[c]
            urgent_of[j] = urgency[c] <= urgent_max


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
