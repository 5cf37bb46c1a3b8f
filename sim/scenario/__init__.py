"""Scenarios: the YAML format, its schema, date rules, loading and located errors.

Imports only :mod:`sim.sampling` (a scenario names input distributions).
"""
