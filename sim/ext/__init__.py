"""Shipped extensions: real mechanisms added through :mod:`sim.extensions`, and examples of
how to write one."""
