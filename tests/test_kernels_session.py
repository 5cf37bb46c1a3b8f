"""The compiled session kernels (sim/model/kernels/session.py) against plain twins.

Each twin below restates a kernel the plain way, in numpy where the kernel's steps are
independent and as a Python loop where they are sequential (a signer's clock), without the
kernel's devices: no counting sort, no early stop over positions, no fused passes. Hypothesis
draws random pools (signers, units, items of every class with tied handling times, covering
workers, absent signers, infinite limits, empty sets) and the kernel and its twin must leave
the very same state behind: the same floats, not close ones, as the model's results depend
on them bit for bit.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.model.inbox import _CLASS_TABLE, _HEAD_GROUP, _KERNEL_ROWS, _N_CLASSES, URGENT
from sim.model.kernels import session as k
from sim.model.kernels.session import (
    KEYS_PER_WORKER,
    CodeTables,
    ItemColumns,
    Ledger,
    Overtime,
    PoolItems,
    SessionTimes,
    Signers,
)
from sim.model.ledger import ACTIVITIES

FAST = settings(max_examples=80, deadline=None)
N_ACTIVITIES = len(ACTIVITIES)
seeds = st.integers(0, 2**32 - 1)


# ------------------------------------------------------------------------------ the twins
def session_tables_twin(
    new_workers, worker, unit_home, unit_of, checks, home, classes, urgent_max, t
):
    """Per code, in numpy: the worker's sort key, second-inbox flag and overtime urgency."""
    h = unit_home[unit_of] + classes.homes * checks.astype(np.int8)
    changed = new_workers or bool((home != h).any())
    home[:] = h
    if not changed:
        return
    w = np.maximum(worker, 0)
    cls = (home[w].astype(int) * classes.per_home)[:, None] + np.arange(classes.per_home)
    key = np.where(worker[:, None] < 0, t.nobody, KEYS_PER_WORKER * w[:, None] + classes.group[cls])
    t.key_of[:] = key.ravel()
    t.second_of[:] = classes.second[cls].ravel()
    t.urgent_of[:] = (classes.urgency[cls] <= urgent_max).ravel()


def work_twin(ids, items, tables, signers, ledger, clock, limit, regular):
    """Each worker's items in priority order (a stable argsort of the keys), worked one after
    the other from its clock while the clock is before its limit."""
    learn = signers.unit_learn[signers.unit_of]
    look_share = signers.unit_look[signers.unit_of]
    has_look = look_share.any()
    keys = tables.key_of[items.code[ids]].astype(np.int64)
    worked = keys < tables.nobody
    order = np.argsort(keys[worked], kind="stable")
    queue, queue_keys = ids[worked][order], keys[worked][order]
    rows, cells = ledger.rows, ledger.cells
    clock = clock.copy()
    n_done = 0
    for s in range(len(clock)):
        u = signers.unit_of[s]
        mine = queue_keys // KEYS_PER_WORKER == s
        group = queue_keys[mine] % KEYS_PER_WORKER
        head = queue[mine][group <= tables.head_group] if regular else queue[mine]
        phases = [head, queue[mine][group > tables.head_group]] if regular else [head]
        t, opened = clock[s], False
        for phase, todo in enumerate(phases):
            if phase == 1:
                msg = min(signers.messages[s] * learn[s], max(limit[s] - t, 0.0))
                if learn[s] > 0:
                    signers.messages[s] -= msg / learn[s]
                if msg > 0:
                    cells[rows.messages, u] += msg
                t += msg
            for i in todo:
                if not t < limit[s]:
                    break
                b = items.handling[i] * learn[s]
                look = np.float32(0)
                if has_look and items.lookup_u[i] < look_share[s]:
                    look = items.lookup[i]
                e = b + look if has_look else b
                second = tables.second_of[items.code[i]]
                if second and not opened:
                    opened = True
                    if not signers.paid[s]:
                        e += signers.switch_cost
                        cells[rows.dual_system, u] += signers.switch_cost
                        if signers.switch_cost > 0:
                            signers.paid[s] = True
                t += e
                items.sign_times[items.gid[i]] = t
                items.signed[i] = True
                cells[rows.chase if items.is_chase[i] else rows.signing, u] += b
                if has_look:
                    cells[rows.lookup, u] += np.float64(look)
                n_done += 1
        clock[s] = t
    return clock, n_done


def unsigned_twin(pending, signed):
    return pending[~signed[pending]]


def overtime_items_twin(pending, items, tables, paid):
    code = items.code[pending]
    key = tables.key_of[code].astype(np.int64)
    worker = np.minimum(key // KEYS_PER_WORKER, len(paid) - 1)
    knows = ~tables.second_of[code] | paid[worker]
    return pending[~items.signed[pending] & (key != tables.nobody) & tables.urgent_of[code] & knows]


def overtime_limits_twin(session, clock, overtime):
    room = np.maximum(overtime.cap - overtime.used, 0.0)
    with np.errstate(invalid="ignore"):  # -inf + inf for absent signers, not kept
        until = np.maximum(session.close + room, clock)
    return np.where(session.present, until, -np.inf)


def close_session_twin(signers, session, clock, overtime):
    present = session.present
    extra = np.where(present, np.maximum(clock - session.close, 0.0), 0.0)
    worked_now = np.where(present, clock - session.start - session.idle, 0.0)
    signers.busy_until[:] = np.where(
        present, np.maximum(signers.busy_until, clock), signers.busy_until
    )
    overtime.used[:] += extra
    np.add.at(overtime.cells, signers.unit_of[extra > 0], extra[extra > 0])
    signers.worked[:] += worked_now


def finish_session_twin(first_round, pending, items, tables, signers, ledger, session, clock, ot):
    n_done = 0
    if first_round and len(pending):
        clock, n_done = work_twin(
            pending, items, tables, signers, ledger, clock, session.limit, True
        )
    if ot.cap > 0:
        urgent = overtime_items_twin(pending, items, tables, signers.paid)
        if len(urgent):
            limit = overtime_limits_twin(session, clock, ot)
            clock, n_ot = work_twin(urgent, items, tables, signers, ledger, clock, limit, False)
            n_done += n_ot
    if n_done:
        pending = unsigned_twin(pending, items.signed)
    close_session_twin(signers, session, clock, ot)
    return pending


def take_workload_twin(workload, cap, cells, rows, unit_of):
    for c in range(len(workload)):
        take = np.minimum(workload[c], cap)
        workload[c] -= take
        cap -= take
        np.add.at(cells[rows[c]], unit_of[take > 0], take[take > 0])


def open_session_twin(t, end, signers, unit_train, present, share, workload, cells, rows):
    start = np.maximum(t, signers.busy_until)
    close = t + (end - t) * unit_train[signers.unit_of]
    avail = np.where(present, np.maximum(close - start, 0.0), 0.0)
    limit = np.where(present, close, -np.inf)
    clock = start.copy()
    if (workload > 0).any():
        cap = avail * share
        take_workload_twin(workload, cap, cells, rows, signers.unit_of)
        clock += avail * share - cap
    return start, close, clock, limit


def workers_twin(present, streak, cover, after, seg_start, seg_len, worker):
    for s in range(len(present)):
        worker[s] = s if present[s] else -1
        if not present[s] and cover and streak[s] > after:
            size = seg_len[s]
            others = seg_start[s] + (s - seg_start[s] + np.arange(1, size)) % size
            here = others[present[others]]
            if here.size:
                worker[s] = here[0]


def admit_twin(pending, ready, start, queue_end, late, t):
    stop = start + int(np.searchsorted(ready[start:queue_end], t, side="right"))
    due = ready[late] <= t
    out = np.sort(np.concatenate([pending, np.arange(start, stop), late[due]]))
    return out, stop, late[~due]


# -------------------------------------------------------------------------- random pools
class Pool(NamedTuple):
    items: PoolItems
    tables: CodeTables
    signers: Signers
    ledger: Ledger
    clock: np.ndarray
    limit: np.ndarray
    ids: np.ndarray
    worker: np.ndarray
    home: np.ndarray


@st.composite
def pools(draw) -> Pool:
    """A pool as a session finds it: 1-4 signers in 1-3 units, some absent (limit -inf) or
    covered by a colleague, up to 40 items of every class with tied handling times."""
    rng = np.random.default_rng(draw(seeds))
    n = draw(st.integers(1, 4))
    n_units = draw(st.integers(1, n))
    unit_of = np.sort(np.r_[np.arange(n_units), rng.integers(0, n_units, n - n_units)])
    m = draw(st.integers(0, 40))
    f32 = np.float32
    is_chase = rng.random(m) < 0.2
    code = (rng.integers(0, n, m) * _N_CLASSES + rng.integers(0, _N_CLASSES, m)).astype(np.uint8)
    items = PoolItems(
        code=code,
        handling=(rng.integers(0, 4, m) * 2.5).astype(f32),  # ties, and zero
        lookup=np.where(is_chase, 0, rng.integers(0, 3, m) * 1.5).astype(f32),
        lookup_u=rng.random(m).astype(f32),
        is_chase=is_chase,
        gid=rng.permutation(m).astype(np.int32),
        signed=np.zeros(m, dtype=bool),
        sign_times=np.full(m, np.nan),
    )
    present = rng.random(n) < 0.8
    covered = rng.integers(0, n, n)
    worker = np.where(present, np.arange(n), np.where(rng.random(n) < 0.5, covered, -1))
    home = rng.integers(0, 3, n_units).astype(np.int8)  # HOME_LEGACY, HOME_NEW, ..._DUE
    nobody = KEYS_PER_WORKER * n
    tables = CodeTables(
        key_of=np.empty(n * _N_CLASSES, dtype=np.min_scalar_type(nobody)),
        second_of=np.empty(n * _N_CLASSES, dtype=bool),
        urgent_of=np.empty(n * _N_CLASSES, dtype=bool),
        nobody=nobody,
        head_group=_HEAD_GROUP,
    )
    signer_home = np.zeros(n, dtype=np.int8)
    checks = rng.random(n) < 0.3  # checks the second inbox this session
    session_tables_twin(
        True, worker, home, unit_of, checks, signer_home, _CLASS_TABLE, URGENT, tables
    )
    signers = Signers(
        unit_of=unit_of,
        unit_learn=rng.choice([0.0, 0.5, 1.0, 1.5], n_units),
        unit_look=rng.choice([0.0, 0.3, 1.0], n_units),
        switch_cost=float(draw(st.sampled_from([0.0, 5.0]))),
        paid=rng.random(n) < 0.2,
        messages=rng.choice([0.0, 10.0, 30.0], n),
        worked=rng.random(n) * 100,
        busy_until=rng.choice([-np.inf, 0.0, 30.0], n),
    )
    clock = rng.integers(0, 30, n).astype(float)
    limit = np.where(present, clock + rng.choice([0.0, 7.5, 20.0, 60.0, np.inf], n), -np.inf)
    ledger = Ledger(np.zeros((N_ACTIVITIES, n_units)), _KERNEL_ROWS)
    ids = np.flatnonzero(rng.random(m) < draw(st.sampled_from([0.0, 0.5, 1.0])))
    return Pool(items, tables, signers, ledger, clock, limit, ids, worker, home)


def copy(x):
    """A deep copy of arrays in (nested) named tuples, so that twin and kernel each get their
    own state to write into."""
    if isinstance(x, np.ndarray):
        return x.copy()
    if isinstance(x, tuple):
        copied = (copy(v) for v in x)
        return type(x)(*copied) if hasattr(x, "_fields") else tuple(copied)
    return x


def assert_same(a, b) -> None:
    """Equal to the bit (nan where nan), field by field."""
    if isinstance(a, tuple):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert_same(x, y)
    elif isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b, strict=True)
    else:
        assert a == b


# ---------------------------------------------------------------------------- the tests
@FAST
@given(pools(), st.booleans())
def test_work_matches_its_twin(pool, regular):
    args = (pool.ids, pool.items, pool.tables, pool.signers, pool.ledger, pool.clock, pool.limit)
    twin_args = copy(args)
    clock, n_done = k.work(*args, regular)
    twin_clock, twin_done = work_twin(*twin_args, regular)
    assert n_done == twin_done
    assert_same((clock, args), (twin_clock, twin_args))


@FAST
@given(pools(), st.booleans(), st.sampled_from([0.0, 15.0, np.inf]))
def test_finish_session_matches_its_twin(pool, first_round, cap):
    rng = np.random.default_rng(len(pool.clock))
    n = len(pool.clock)
    present = pool.limit > -np.inf
    times = SessionTimes(
        present=present,
        start=pool.clock - rng.integers(0, 10, n),
        close=np.where(present, pool.limit, pool.clock),
        limit=pool.limit,
        idle=rng.integers(0, 3, n).astype(float),
    )
    n_units = pool.ledger.cells.shape[1]
    overtime = Overtime(cap, rng.choice([0.0, 10.0], n), np.zeros(n_units))
    args = (
        pool.ids,
        pool.items,
        pool.tables,
        pool.signers,
        pool.ledger,
        times,
        pool.clock,
        overtime,
    )
    twin_args = copy(args)
    pending = k.finish_session(first_round, *args)
    twin_pending = finish_session_twin(first_round, *twin_args)
    assert_same((pending, args), (twin_pending, twin_args))


@FAST
@given(pools(), st.booleans())
def test_session_tables_match_their_twin(pool, new_workers):
    n = len(pool.clock)
    rng = np.random.default_rng(n)
    unit_home = rng.integers(0, 3, len(pool.home)).astype(np.int8)  # some homes change, or none
    unit_home = unit_home if rng.random() < 0.7 else pool.home
    signer_home = pool.home[pool.signers.unit_of].copy()
    checks = rng.random(n) < rng.choice([0.0, 0.5, 1.0])
    args = (new_workers, pool.worker, unit_home, pool.signers.unit_of, checks)
    kernel_tables, twin_tables = copy(pool.tables), copy(pool.tables)
    kernel_home, twin_home = signer_home.copy(), signer_home.copy()
    k.session_tables(*args, kernel_home, _CLASS_TABLE, URGENT, kernel_tables)
    session_tables_twin(*args, twin_home, _CLASS_TABLE, URGENT, twin_tables)
    assert_same((kernel_home, kernel_tables), (twin_home, twin_tables))


@FAST
@given(pools(), st.sampled_from([0.0, 15.0, np.inf]))
def test_overtime_items_and_limits_match_their_twins(pool, cap):
    pool.items.signed[:] = np.random.default_rng(len(pool.ids)).random(len(pool.items.code)) < 0.3
    paid = pool.signers.paid
    assert_same(
        k.overtime_items(pool.ids, pool.items, pool.tables, paid),
        overtime_items_twin(pool.ids, pool.items, pool.tables, paid),
    )
    assert_same(k.unsigned(pool.ids, pool.items.signed), unsigned_twin(pool.ids, pool.items.signed))
    present = pool.limit > -np.inf
    times = SessionTimes(present, pool.clock, pool.limit, pool.limit, np.zeros(len(present)))
    overtime = Overtime(cap, pool.signers.worked, np.zeros(1))
    assert_same(
        k.overtime_limits(times, pool.clock + 5, overtime),
        overtime_limits_twin(times, pool.clock + 5, overtime),
    )


@FAST
@given(pools(), st.sampled_from([0.0, 0.3, 1.0]), st.sampled_from([0.0, 60.0, 480.0]))
def test_open_session_matches_its_twin(pool, share, span):
    rng = np.random.default_rng(len(pool.clock))
    n, n_units = len(pool.clock), pool.ledger.cells.shape[1]
    workload = rng.choice([0.0, 0.0, 5.0, 40.0], (6, n))
    train = rng.choice([0.5, 1.0], n_units)
    present = pool.limit > -np.inf
    rows = np.arange(5, 11)
    state = (pool.signers, train, present, share, workload, pool.ledger.cells, rows)
    twin_state = copy(state)
    opened = k.open_session(10.0, 10.0 + span, *state)
    twin_opened = open_session_twin(10.0, 10.0 + span, *twin_state)
    assert_same((opened, state), (twin_opened, twin_state))


@FAST
@given(seeds, st.integers(0, 30), st.booleans(), st.integers(0, 3))
def test_workers_match_their_twin(seed, n, cover, after):
    rng = np.random.default_rng(seed)
    unit = np.sort(rng.integers(0, 4, n))
    starts = np.flatnonzero(np.r_[True, unit[1:] != unit[:-1]]) if n else np.empty(0, int)
    seg_start = starts[np.searchsorted(starts, np.arange(n), side="right") - 1]
    seg_len = np.bincount(unit, minlength=4)[unit]
    present = rng.random(n) < 0.6
    streak = np.where(present, 0, rng.integers(1, 6, n)).astype(np.int32)
    worker, twin = np.full(n, 99), np.full(n, 99)
    k.workers(present, streak, cover, after, seg_start, seg_len, worker)
    workers_twin(present, streak, cover, after, seg_start, seg_len, twin)
    assert_same(worker, twin)


@FAST
@given(seeds, st.integers(0, 60), st.sampled_from([-np.inf, 0.0, 100.0, 500.0, np.inf]))
def test_admit_matches_its_twin(seed, m, t):
    """Items queue by ready time (``inf``: never by themselves); some were injected late,
    with new ready times, from anywhere in the queue."""
    rng = np.random.default_rng(seed)
    ready = np.sort(np.where(rng.random(m) < 0.8, rng.integers(0, 600, m), np.inf))
    queue_end = int(np.searchsorted(ready, np.inf))
    start = int(rng.integers(0, queue_end + 1))
    taken = np.flatnonzero(rng.random(m) < 0.3)
    late = taken[(taken < start) | (taken >= queue_end)]
    ready[late] = rng.integers(0, 600, len(late))
    pending = np.setdiff1d(np.flatnonzero(rng.random(start) < 0.5), late)
    assert_same(
        k.admit(pending, ready, start, queue_end, late, t),
        admit_twin(pending, ready, start, queue_end, late, t),
    )


@FAST
@given(seeds, st.integers(0, 50), st.integers(1, 5))
def test_take_items_matches_its_twin(seed, m, n):
    rng = np.random.default_rng(seed)
    source = ItemColumns(
        signer=rng.integers(0, n, m).astype(np.int32),
        inbox=rng.integers(0, 2, m).astype(np.int8),
        urgency=rng.integers(0, 3, m).astype(np.int8),
        handling=rng.random(m).astype(np.float32),
        is_chase=rng.random(m) < 0.3,
        lookup=rng.random(m).astype(np.float32),
        lookup_u=rng.random(m).astype(np.float32),
    )
    gid = rng.permutation(m).astype(np.int32)
    out = ItemColumns(*(np.empty_like(x) for x in source))
    code = np.empty(m, dtype=np.uint8)
    k.take_items(gid, source, _N_CLASSES, out, code)
    twin = ItemColumns(*(x[gid] for x in source))
    twin = twin._replace(lookup=np.where(twin.is_chase, 0, twin.lookup).astype(np.float32))
    twin_code = twin.signer * _N_CLASSES + 2 * twin.urgency + twin.inbox
    assert_same((out, code), (twin, twin_code.astype(np.uint8)))
