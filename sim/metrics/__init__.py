"""Metrics: the KPI registry, the tables of one replication and what an experiment keeps."""
