"""What the no-cutover twin costs: wall and CPU time of a replication block with and without it.

The acceptance target of the twin is at most 15 % more time per replication for a two-variant
run. Each replication is timed twice in the same process (after a warm-up replication that
compiles the kernels), with and without the twin, alternating which goes first; medians over
the replications. CPU time (``time.process_time``) is given beside wall time because the
machine may be shared: it is less sensitive to other processes, though not to their cache
pressure. The split of one model run into build (drawing), simulate and tables shows how much
of the twin's cost sharing the schedule-independent draws could remove, and what the
breakdown and time-to-sign tables add to every run.

    python -m benchmarks.bench_twin [--replications 3] [--scenario scenarios/fvm-2020.yaml]
"""

from __future__ import annotations

import argparse
import statistics
import time

from sim.experiment.runs import Block, Plan, Variant, load_variants, run_block
from sim.experiment.twin import no_cutover
from sim.metrics.excess import breakdown, time_to_sign, unit_days
from sim.metrics.summary import summarise
from sim.metrics.tables import tabulate
from sim.model.replication import build, simulate
from sim.scenario.loading import load_scenario

SEED = 2020


def _time(fn) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def _split(sc) -> str:
    """Wall (and CPU) seconds of each stage of one model run of ``sc``."""
    out = {}
    out["build"], rep = _stage(lambda: build(sc, 0, SEED))
    out["simulate"], _ = _stage(lambda: simulate(rep))
    out["tables"], tables = _stage(lambda: tabulate(rep))
    out["summary"], _ = _stage(lambda: summarise(tables))
    out["breakdown and time to sign"], _ = _stage(
        lambda: (breakdown(unit_days(rep, tables), None), time_to_sign(rep))
    )
    return ", ".join(f"{k} {w:.1f} s (CPU {c:.1f})" for k, (w, c) in out.items())


def _stage(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    value = fn()
    return (time.perf_counter() - wall, time.process_time() - cpu), value


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default="scenarios/fvm-2020.yaml")
    ap.add_argument("--variants", default="window-2w,window-4w")
    ap.add_argument("--replications", type=int, default=3)
    args = ap.parse_args()
    names = args.variants.split(",")
    plan = Plan(args.scenario, tuple(Variant(n, n) for n in names), 1, SEED)
    variants = load_variants(plan)
    twin = no_cutover(load_scenario(args.scenario))

    def block(r: int, with_twin: bool) -> Block:
        return Block(0, range(r, r + 1), variants, SEED, False, False, twin if with_twin else None)

    run_block(block(1000, True))  # compile and warm the allocator
    times: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    for r in range(args.replications):
        for with_twin in (True, False) if r % 2 == 0 else (False, True):
            times[with_twin].append(_time(lambda r=r, w=with_twin: run_block(block(r, w))))
    for w in (False, True):
        walls, cpus = zip(*times[w], strict=True)
        print(
            f"{'with' if w else 'without'} twin: median wall {statistics.median(walls):.1f} s, "
            f"CPU {statistics.median(cpus):.1f} s per replication "
            f"(walls {', '.join(f'{x:.1f}' for x in walls)})"
        )
    for i, kind in enumerate(("wall", "CPU")):
        a = statistics.median(t[i] for t in times[False])
        b = statistics.median(t[i] for t in times[True])
        print(f"twin overhead ({kind}, medians): {b / a - 1:+.0%}")
    for label, sc in (("variant " + names[0], variants[names[0]]), ("twin", twin)):
        print(f"{label}: {_split(sc)}")


if __name__ == "__main__":
    main()
