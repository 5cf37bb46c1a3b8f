"""Compiled (numba) inner loops of the model, each with a plain-numpy twin in its tests."""
