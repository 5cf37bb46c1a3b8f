"""Budget of a Morris screening: r trajectories over k inputs on the first stage of FVM 2020.

The acceptance target (issue 16) is at least 10 inputs, r = 10 trajectories, the first stage
of ``scenarios/fvm-2020.yaml`` (horizon to 2022-07-31, as in ``benchmarks.face_validity``),
within 30 minutes on 2 cores. The screening runs ``r (k + 1)`` design points of one
replication each, with common random numbers, through the same code as
``cutover sensitivity``::

    python -m benchmarks.bench_morris [--inputs 12] [-r 10] [--workers 2] [--json PATH]

The inputs are the first ``--inputs`` ranged distribution parameters the scenario uses, plus
the dummy. Prints the wall time, the design size, the load average before and after (the
machine may be shared) and the top of the ranking; exit code 1 when the budget is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from sim.decide import sensitivity as sens
from sim.experiment.runs import executor_for
from sim.scenario.loading import load_scenario

BUDGET_MINUTES = 30.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inputs", type=int, default=12, help="real inputs (the dummy is added)")
    ap.add_argument("-r", "--trajectories", type=int, default=10)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--horizon-end", default="2022-07-31")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", type=Path, help="also write the measurement here")
    args = ap.parse_args(argv)

    sc = load_scenario("scenarios/fvm-2020.yaml", overrides=[f"horizon.end={args.horizon_end}"])
    inputs = [*sens.default_inputs(sc)[: args.inputs], sens.Input(sens.DUMMY, 0, 1, "dummy")]
    points = args.trajectories * (len(inputs) + 1)
    load_before = os.getloadavg()
    print(
        f"Morris: {len(inputs) - 1} inputs + dummy, r = {args.trajectories}, {points} points, "
        f"{args.workers} workers, load average {load_before[0]:.1f}",
        file=sys.stderr,
    )
    done = [0]

    def progress(n: int, total: int) -> None:
        if n - done[0] >= 10 or n == total:
            done[0] = n
            print(f"  {n}/{total} points, {time.perf_counter() - start:.0f} s", file=sys.stderr)

    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as out, executor_for("process", args.workers) as pool:
        folder, result = sens.run_sensitivity(
            sc, inputs, "morris", args.trajectories, None, 1, args.seed, Path(out), pool, progress
        )
        compute = sum(info["seconds"] for info in folder.block_infos())
    wall = time.perf_counter() - start
    load_after = os.getloadavg()
    row = {
        "inputs": len(inputs) - 1,
        "trajectories": args.trajectories,
        "points": points,
        "workers": args.workers,
        "cpus": os.cpu_count(),
        "wall_minutes": round(wall / 60, 2),
        "compute_seconds_per_point": round(compute / points, 2),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
        "kpi": result.kpi,
        "dummy_mu_star": next(r["mu_star"] for r in result.indices if r["input"] == "dummy"),
        "top": [(r["input"], round(r["mu_star"], 2)) for r in result.indices[:5]],
        "budget_minutes": BUDGET_MINUTES,
    }
    print(json.dumps(row, indent=2))
    if args.json:
        args.json.write_text(json.dumps(row, indent=2) + "\n")
    return 0 if wall / 60 <= BUDGET_MINUTES else 1


if __name__ == "__main__":
    raise SystemExit(main())
