"""Face validity of the coexistence effect, calendar-matched, as a command.

Pools the 2x2 counts of :func:`sim.metrics.validity.matched_counts` (abnormal results late or
on time inside each unit's would-be coexistence window, in a run and in its no-cutover twin
with the same random numbers) over replications of stage 1 of the default scenario and prints
the odds ratio with a 95% Wald interval, to set beside the published hybrid-record effect
(OR 1.9-2.4, Casalino 2009). With ``--placebo`` the run orders labs in Millennium from go-live
(no dual period): its odds ratio should be near 1.

    python -m benchmarks.face_validity [--placebo] [--replications N] [--horizon-end YYYY-MM-DD]
        [--set path=value ...]

Without ``--placebo`` it also runs the placebo and prints the odds ratio of the run against it
(the same go-live with and without the dual period: the dual period's own effect, the figure
to set beside the published one). The last line is ``coexistence OR <x> (95% CI <lo>-<hi>)``
(``placebo OR ...`` with ``--placebo``).
"""

from __future__ import annotations

import argparse

import numpy as np

from sim.experiment.twin import no_cutover
from sim.metrics.validity import matched_counts, odds_ratio, placebo_timeline
from sim.model.replication import run_replication
from sim.sampling.calendar import Calendar
from sim.scenario.loading import LoadedScenario, load_scenario
from sim.schedule.schedule import build_schedule


def pooled_counts(sc: LoadedScenario, replications: int, placebo: bool) -> np.ndarray:
    """[late, on time] in the run, then in the twin, summed over ``replications``; without
    ``placebo``, then also [late, on time] in the placebo run (the go-live without the dual
    period), so that the run against the placebo is the dual period's own effect."""
    twin_sc = no_cutover(sc)
    tl = build_schedule(sc).timeline(Calendar(sc.model.horizon.start, sc.model.horizon.end))
    placebo_tl = placebo_timeline(tl)
    counts = np.zeros(4 if placebo else 6)
    for r in range(replications):
        run = run_replication(sc, r, timeline=placebo_tl if placebo else None)
        x = matched_counts(run, run_replication(twin_sc, r), tl)
        if not placebo:
            x = np.concatenate([x, matched_counts(run_replication(sc, r, timeline=placebo_tl),
                                                  run, tl)[:2]])  # fmt: skip
        print(f"replication {r}: run {x[0]:.0f}/{x[:2].sum():.0f} late, "
              f"twin {x[2]:.0f}/{x[2:4].sum():.0f} late", flush=True)  # fmt: skip
        counts += x
    return counts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--placebo", action="store_true", help="lab ordering at go-live")
    parser.add_argument("--replications", type=int, default=4)
    parser.add_argument("--horizon-end", default="2022-07-31")
    parser.add_argument("--set", action="append", default=[], metavar="PATH=VALUE")
    args = parser.parse_args(argv)
    sc = load_scenario(
        "scenarios/fvm-2020.yaml", overrides=[f"horizon.end={args.horizon_end}", *args.set]
    )
    counts = pooled_counts(sc, args.replications, args.placebo)
    if not args.placebo:
        dual = np.concatenate([counts[:2], counts[4:]])
        ratio, lo, hi = odds_ratio(dual)
        print(
            f"dual period alone (run against the placebo) OR {ratio:.2f} (95% CI {lo:.2f}-{hi:.2f})"
        )
    ratio, lo, hi = odds_ratio(counts[:4])
    a, b, c, d = counts[:4]
    print(f"late {a / (a + b):.1%} in the run against {c / (c + d):.1%} in the no-cutover twin")
    label = "placebo" if args.placebo else "coexistence"
    print(f"{label} OR {ratio:.2f} (95% CI {lo:.2f}-{hi:.2f})")


if __name__ == "__main__":
    main()
