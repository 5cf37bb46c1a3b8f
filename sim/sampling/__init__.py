"""Sampling: input distributions, independent named random streams, and the calendar.

The bottom layer: it imports nothing else of :mod:`sim`.
"""
