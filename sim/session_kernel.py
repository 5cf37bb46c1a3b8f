"""The work loop of a signing session, compiled with numba.

:meth:`sim.inbox.SignerPool._work` used to be a few dozen numpy calls per session over the
pending items (a stable sort, segmented cumulative sums, scatter-adds); with about 5,500
sessions in a replication their per-call overhead, not the arithmetic, was the cost. Here the
same steps run as one compiled loop, in the same order and with the same floating-point
operations (a sequential running sum is what ``np.cumsum`` does, and ``np.add.at`` adds in
index order), so every sign time and staff minute is bit-identical to the numpy version.
``cache=True`` keeps the compiled code on disk, so only the first run ever pays the compile.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def _pass(pos, sg, e, clock, limit, finish, done):  # pragma: no cover - compiled
    """Items at positions ``pos`` start in order while their signer's clock < limit.

    The arithmetic of the former segmented cumulative sum, element by element: a running sum
    over all of ``pos``, less its value at the start of each signer's run, plus the clock.
    """
    new_clock = clock.copy()
    total = 0.0
    seg_base = -np.inf
    prev = -1
    for j in range(len(pos)):
        p = pos[j]
        s = sg[p]
        ep = e[p]
        total += ep
        begin = total - ep
        if s != prev:
            if begin > seg_base:
                seg_base = begin
            prev = s
        begin -= seg_base
        begin += clock[s]
        if begin < limit[s]:
            fin = begin + ep
            finish[p] = fin
            done[p] = True
            c = new_clock[s]
            if c == c and not c >= fin:
                new_clock[s] = fin
    return new_clock


@numba.njit(cache=True)
def work(
    ids, code, key_of, second_of, nobody, handling, lookup, lookup_u, is_chase, unit_learn,
    unit_look, switch_cost, paid, clock, limit, regular, head_group, messages, cells, rows,
    unit_of, gid, sign_times, signed, pending,
):  # pragma: no cover - compiled  # fmt: skip
    """Work ``ids`` (ascending local ids) in priority order from each signer's ``clock`` until
    ``limit``; see :meth:`sim.inbox.SignerPool._work`. An item's sort key is ``8 * worker +
    group``; groups up to ``head_group`` come before the messages. Books staff minutes into
    ``cells`` (today's, activity by unit) at ``rows`` (signing, chase, lookup, dual system,
    messages), fills in ``sign_times`` and ``signed``, marks in ``paid`` who opened the second
    inbox. ``unit_learn`` and ``unit_look`` are the learning factor and lookup share of the
    units (``unit_of`` each signer). Returns the new clocks and ``pending`` without the items
    signed now."""
    signing, chase, lookup_row, dual_system, messages_row = rows
    learn = unit_learn[unit_of]
    look_share = unit_look[unit_of]
    has_look = look_share.any()
    # A stable counting sort by key, without the items nobody works today (key ``nobody``).
    # Each item's attributes are read once, in ascending (memory) order, and what the later
    # steps need of it is placed with it: reading them in sorted order jumps all over memory.
    counts = np.zeros(nobody + 2, dtype=np.int64)
    for i in ids:
        counts[key_of[code[i]] + 1] += 1
    for k in range(1, nobody + 2):
        counts[k] += counts[k - 1]
    m = counts[nobody]
    item = np.empty(m, dtype=np.int64)
    keys = np.empty(m, dtype=np.int64)
    e = np.empty(m)
    base = np.empty(m)
    look = np.zeros(m, dtype=np.float32)
    second = np.empty(m, dtype=np.bool_)
    chase_at = np.empty(m, dtype=np.bool_)
    gid_at = np.empty(m, dtype=np.int64)
    for i in ids:
        c = code[i]
        k = key_of[c]
        if k < nobody:
            p = counts[k]
            counts[k] = p + 1
            item[p] = i
            keys[p] = k
            s = k >> 3
            b = handling[i] * learn[s]
            base[p] = b
            if has_look:
                if lookup_u[i] < look_share[s]:
                    look[p] = lookup[i]
                e[p] = b + look[p]
            else:
                e[p] = b
            second[p] = second_of[c]
            chase_at[p] = is_chase[i]
            gid_at[p] = gid[i]
    sg = keys >> 3
    switch = np.zeros(m, dtype=np.bool_)
    prev = -1
    opened = False
    for p in range(m):
        s = sg[p]
        if s != prev:
            prev = s
            opened = False
        if second[p] and not opened:
            opened = True  # the switching cost rides on the signer's first second-inbox item
            if not paid[s]:
                switch[p] = True
                e[p] += switch_cost
    finish = np.empty(m)
    done = np.zeros(m, dtype=np.bool_)
    if regular:
        n_head = 0
        for p in range(m):
            if (keys[p] & 7) <= head_group:
                n_head += 1
        head = np.empty(n_head, dtype=np.int64)
        tail = np.empty(m - n_head, dtype=np.int64)
        a = 0
        for p in range(m):
            if (keys[p] & 7) <= head_group:
                head[a] = p
                a += 1
            else:
                tail[p - a] = p
        clock = _pass(head, sg, e, clock, limit, finish, done) if n_head else clock
        # Messages: a fluid quota between urgent and normal items.
        msg = np.minimum(messages * learn, np.maximum(limit - clock, 0.0))
        for s in range(len(msg)):
            if learn[s] > 0:
                messages[s] -= msg[s] / learn[s]
            if msg[s] > 0:
                cells[messages_row, unit_of[s]] += msg[s]
        clock = clock + msg
        if m > n_head:
            clock = _pass(tail, sg, e, clock, limit, finish, done)
    else:
        clock = _pass(np.arange(m), sg, e, clock, limit, finish, done)
    n_done = 0
    for p in range(m):
        if done[p]:
            n_done += 1
            sign_times[gid_at[p]] = finish[p]
            signed[item[p]] = True
            row = chase if chase_at[p] else signing
            cells[row, unit_of[sg[p]]] += base[p]
            if has_look:
                cells[lookup_row, unit_of[sg[p]]] += np.float64(look[p])
    for p in range(m):
        if switch[p] and done[p]:
            cells[dual_system, unit_of[sg[p]]] += switch_cost
            if switch_cost > 0:
                paid[sg[p]] = True
    if n_done == 0:
        return clock, pending
    n_left = 0
    for i in pending:
        n_left += not signed[i]
    left = np.empty(n_left, dtype=np.int64)
    k = 0
    for i in pending:
        if not signed[i]:
            left[k] = i
            k += 1
    return clock, left


@numba.njit(cache=True)
def overtime_items(pending, code, key_of, second_of, urgent_of, nobody, paid):  # pragma: no cover
    """Pending items (in order) that are urgent enough for overtime, have a worker today,
    and that the worker knows of: in the home inbox, or in the second if it was opened."""
    out = np.empty(len(pending), dtype=np.int64)
    m = 0
    for i in pending:
        c = code[i]
        k = key_of[c]
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
    if first_round and len(pending):
        clock, pending = work(
            pending, code, key_of, second_of, nobody, handling, lookup, lookup_u, is_chase,
            unit_learn, unit_look, switch_cost, paid, clock, limit, True, head_group,
            messages, cells, rows, unit_of, gid, sign_times, signed, pending,
        )  # fmt: skip
    if overtime_cap > 0:
        urgent = overtime_items(pending, code, key_of, second_of, urgent_of, nobody, paid)
        if len(urgent):
            ot_limit = overtime_limits(present, close, clock, overtime_cap, overtime_used)
            clock, pending = work(
                urgent, code, key_of, second_of, nobody, handling, lookup, lookup_u, is_chase,
                unit_learn, unit_look, switch_cost, paid, clock, ot_limit, False,
                head_group, messages, cells, rows, unit_of, gid, sign_times, signed, pending,
            )  # fmt: skip
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
