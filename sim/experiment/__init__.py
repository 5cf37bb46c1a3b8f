"""Experiments: plans of replications and variants, executors, and the run folder."""
