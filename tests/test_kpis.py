"""The KPI registry: each KPI's formula on hand-made inputs, and the docs generated from it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.metrics.kpis import BEGIN, END, KPIS, KpiInputs, markdown_table
from sim.model.ledger import ACTIVITIES, EXTRA

ROOT = Path(__file__).resolve().parent.parent


def test_docs_kpi_table_is_the_registry():
    page = (ROOT / "docs/kpis.md").read_text()
    generated = page.split(BEGIN)[1].split(END)[0].strip()
    assert generated == markdown_table().strip(), "run: python -m sim.metrics.kpis"


def _inputs() -> KpiInputs:
    # Two units over two days; every activity books 1 hour per unit-day, overtime 0.5 h.
    days = pd.DataFrame({f"{a}_hours": [1.0] * 4 for a in ACTIVITIES})
    days["overtime_hours"] = 0.5
    days["support_unmet"] = [0.0, 0.25, 0.5, 0.0]  # supporter-days not given
    return KpiInputs(
        site_days=days,
        late=np.array([True, False, True]),
        orphan=np.array([False, True, True]),
        abnormal=np.array([True, False, True]),  # one abnormal and one normal orphan
        late_unit_weeks=np.array([[0, 2], [1, 0]]),
        backlog_days=np.array([3, 7]),
        reroute_hours=2.5,
        workload_left_hours=1.25,
        failed_calls=3.0,
        spillover_hours=0.75,
    )


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("late_abnormal", 2.0),
        ("orphans", 1.0),
        ("orphans_normal", 1.0),
        ("late_abnormal_peak_site_week", 2.0),
        ("backlog_peak", 7.0),
        ("overtime_hours", 2.0),  # 4 unit-days x 0.5 h
        ("dual_system_hours", 4.0),
        ("extra_staff_hours", 4.0 * len(EXTRA) + 2.5),
        ("unfinished_workload_hours", 1.25),
        ("failed_critical_calls", 3.0),
        ("migration_spillover_hours", 0.75),
        ("support_unmet_days", 0.75),
    ],
)
def test_each_kpi_by_hand(name, expected):
    assert KPIS[name].compute(_inputs()) == expected


def test_every_kpi_is_checked_by_hand():
    tested = {p[0] for p in test_each_kpi_by_hand.pytestmark[0].args[1]}
    assert tested == set(KPIS)


def test_extra_staff_hours_leaves_out_ordinary_work():
    # Ordinary work exists without a cutover: signing, messages, the lab's critical-result
    # calls and on-call reviews over closures.
    ordinary = {"signing", "messages", "critical_calls", "on_call"}
    assert not ordinary & set(EXTRA)
    assert set(EXTRA) | ordinary == set(ACTIVITIES)
