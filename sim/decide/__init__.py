"""Decision tools over the experiment layer: how many replications, which inputs matter,
which option is best.

They answer a planner's three questions with the same run folders, common random numbers
and KPIs as every other command, so they work for any scenario and follow model changes by
themselves: :mod:`~sim.decide.precision` (sequential replication count),
:mod:`~sim.decide.sensitivity` (Morris and Sobol with SALib) and
:mod:`~sim.decide.optimise` (ranking and selection under a risk constraint).
"""
