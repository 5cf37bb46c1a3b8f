"""The staff-time ledger: the activities staff minutes are booked to, named once.

Every minute a signer spends is booked to one activity, per unit and day. Signing, other
inbox messages, critical-result calls and on-call reviews are ordinary work; everything else
exists because of the cutover (or, for chase tasks, because a result was late) and is what the
KPI ``extra_staff_hours`` adds up.
Overtime is not an activity: it is the part of these minutes worked past a session's end.
"""

from __future__ import annotations

ACTIVITIES = (
    "signing",
    "chase",
    "lookup",
    "dual_system",
    "order_entry",
    "messages",
    "migration",
    "validation",
    "relabelling",
    "reserve_numbers",
    "back_entry",
    "extension",
    "critical_calls",
    "on_call",
)
# Scheduled work, in the order a session serves it: the day's dual work per item
# (sim.model.dualwork) and order-entry learning (sim.model.orderentry), which cannot wait,
# then work that registered streams (sim.extensions) bring with the go-live itself, then the
# cutover's own tasks.
WORKLOAD = (
    "dual_system",
    "order_entry",
    "extension",
    "migration",
    "validation",
    "relabelling",
    "reserve_numbers",
    "back_entry",
)
# Ordinary work that exists without any cutover: signing, messages, the lab's calls for
# critical results and duty doctors' reviews over long closures.
ORDINARY = ("signing", "messages", "critical_calls", "on_call")
# What ``extra_staff_hours`` sums: every activity but ordinary work.
EXTRA = tuple(a for a in ACTIVITIES if a not in ORDINARY)
